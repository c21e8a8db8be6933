package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/config"
	_ "github.com/siembridge/siembridge/filter" // sets config.SetFilterCheck
)

func volumeRoute(keys string) string {
	return "kafka: {brokers: [\"k:9092\"]}\nroutes:\n  - name: r\n    topics: [t]\n    sink: {type: \"null\"}\n" +
		"    " + strings.ReplaceAll(strings.TrimRight(keys, "\n"), "\n", "\n    ") + "\n"
}

func TestVolumeConfig(t *testing.T) {
	off := false
	labels, fieldsT := "labels", config.DefaultAddFieldsTarget
	on := config.DefaultRenameFailOnError
	cases := []struct {
		name string
		yaml string
		want config.Route // only the volume fields are compared
	}{
		{"rename as a list, defaults", "rename_fields: [{from: a, to: b.c}]",
			config.Route{RenameFields: &config.RenameFields{Fields: []config.Rename{{From: "a", To: "b.c"}}, FailOnError: &on}}},
		{"rename as a mapping", "rename_fields: {fields: [{from: a, to: b}], ignore_missing: true, fail_on_error: false}",
			config.Route{RenameFields: &config.RenameFields{Fields: []config.Rename{{From: "a", To: "b"}}, IgnoreMissing: true, FailOnError: &off}}},
		{"add, default target", "add_fields: {fields: {env: prod, n: 3, o: {k: [1, x]}}}",
			config.Route{AddFields: &config.AddFields{Target: &fieldsT, Fields: config.AnyFields{"env": "prod", "n": 3, "o": map[string]any{"k": []any{1, "x"}}}}}},
		{"add, own target", "add_fields: {target: labels, fields: {env: prod}}",
			config.Route{AddFields: &config.AddFields{Target: &labels, Fields: config.AnyFields{"env": "prod"}}}},
		{"drop, keep, sample", "drop_fields: [agent, host.os]\nkeep_fields: [\"@timestamp\", event]\nsample: {rate: 0.1, key: source.ip, when: 'event.dataset == \"dns\"'}",
			config.Route{DropFields: []string{"agent", "host.os"}, KeepFields: []string{"@timestamp", "event"}, Sample: &config.Sample{Rate: 0.1, Key: "source.ip", When: `event.dataset == "dns"`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(volumeRoute(c.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.Routes[0]
			got := config.Route{DropFields: r.DropFields, KeepFields: r.KeepFields, RenameFields: r.RenameFields, AddFields: r.AddFields, Sample: r.Sample}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestVolumeConfigInvalid(t *testing.T) {
	cases := []struct {
		name, yaml, path, msg string
	}{
		{"sample rate 0", "sample: {rate: 0}", "routes[0].sample.rate", "must be > 0"},
		{"sample rate above 1", "sample: {rate: 1.5}", "routes[0].sample.rate", "≤ 1"},
		{"sample when", "sample: {rate: 0.5, when: 'event.x =='}", "routes[0].sample.when", "line 1"},
		{"sample key", "sample: {rate: 0.5, key: a..b}", "routes[0].sample.key", "empty step"},
		{"sample unknown key", "sample: {rate: 0.5, keys: a}", "routes[0].sample.keys", "unknown key"},
		{"drop empty name", "drop_fields: [a, \"\"]", "routes[0].drop_fields[1]", "required"},
		{"keep trailing dot", "keep_fields: [a.]", "routes[0].keep_fields[0]", "empty step"},
		{"rename from missing", "rename_fields: [{to: b}]", "routes[0].rename_fields.fields[0].from", "required"},
		{"rename onto itself", "rename_fields: [{from: a, to: a}]", "routes[0].rename_fields.fields[0].to", "own name"},
		{"rename a scalar", "rename_fields: a", "routes[0].rename_fields", "expected a list"},
		{"add without fields", "add_fields: {target: x}", "routes[0].add_fields.fields", "required"},
		{"add fields not a mapping", "add_fields: {fields: [a]}", "routes[0].add_fields.fields", "expected a mapping"},
		{"add target", "add_fields: {target: .x, fields: {a: 1}}", "routes[0].add_fields.target", "empty step"},
		{"add non-string keys", "add_fields: {fields: {a: {1: x}}}", "routes[0].add_fields.fields.a", "not a JSON value"},
		{"add value and mapping", "add_fields: {fields: {a: 1, a.b: 2}}", "routes[0].add_fields.fields", "a is a value and a mapping"},
		{"add twice", "add_fields: {fields: {a.b: 1, a: {b: 2}}}", "routes[0].add_fields.fields", "a.b is given twice"},
		{"add empty step", "add_fields: {fields: {a..b: 1}}", "routes[0].add_fields.fields", "empty step"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse([]byte(volumeRoute(c.yaml)))
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *config.FieldError", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, c.path+": ") || !strings.Contains(msg, c.msg) {
				t.Errorf("error %q, want %s: ...%s...", msg, c.path, c.msg)
			}
		})
	}
}

func TestAnyFieldsExpand(t *testing.T) {
	got, err := config.AnyFields{"cloud.region": "eu", "cloud": map[string]any{"provider": "aws", "account.id": 7}, "n": 1}.Expand()
	want := map[string]any{"cloud": map[string]any{"region": "eu", "provider": "aws", "account": map[string]any{"id": 7}}, "n": 1}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v %v, want %v", got, err, want)
	}
}

package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// hec returns a config with one splunk_hec route: url and token set, plus
// extra (flow-style keys, e.g. "index: main").
func hec(extra ...string) string {
	return sink("type: splunk_hec\nurl: https://s:8088\ntoken: x\n" + strings.Join(extra, "\n") + "\n")
}

func TestSplunkHECInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"url and urls", hec(`urls: ["https://a:8088"]`), "routes[0].sink.urls", "not both"},
		{"neither url nor urls", sink("type: splunk_hec\ntoken: x\n"), "routes[0].sink.url", "required (or urls)"},
		{"urls entry not http", sink("type: splunk_hec\ntoken: x\nurls: [\"https://a:8088\", \"a:8088\"]\n"), "routes[0].sink.urls[1]", "http(s)"},
		{"urls entry is the endpoint", sink("type: splunk_hec\ntoken: x\nurls: [\"https://a:8088/services/collector\"]\n"), "routes[0].sink.urls[0]", "base URL"},
		{"urls twice", sink("type: splunk_hec\ntoken: x\nurls: [\"https://a:8088\", \"https://b:8088\", \"https://a:8088/\"]\n"), "routes[0].sink.urls[2]", "urls[0] again"},
		{"url_cooldown", hec("url_cooldown: -1s"), "routes[0].sink.url_cooldown", "> 0"},
		{"endpoint", hec("endpoint: json"), "routes[0].sink.endpoint", `"json" is not one of event, raw`},
		{"index unclosed", hec("index: \"sec-%{[event][module]\""), "routes[0].sink.index", "unclosed"},
		{"index empty field", hec("index: \"sec-%{}\""), "routes[0].sink.index", "empty field name"},
		{"index uppercase", hec("index: Security"), "routes[0].sink.index", "lowercase"},
		{"index space", hec("index: \"sec %{a}\""), "routes[0].sink.index", "' '"},
		{"index default uppercase", hec("index: \"%{[a]:Main}\""), "routes[0].sink.index", "lowercase"},
		{"index date with dots", hec("index: \"sec-%{+yyyy.MM.dd}\""), "routes[0].sink.index", "'.'"},
		{"sourcetype date pattern", hec("sourcetype: \"st-%{+yyyy.QQ}\""), "routes[0].sink.sourcetype", "date pattern"},
		{"source bad reference", hec("source: \"%{[a]b}\""), "routes[0].sink.source", "invalid field reference"},
		{"host unclosed", hec("host: \"%{host.name\""), "routes[0].sink.host", "unclosed"},
		{"raw with a field template", hec("endpoint: raw", "index: \"%{[idx]:main}\""), "routes[0].sink.index", "endpoint raw"},
		{"raw with a date template", hec("endpoint: raw", "sourcetype: \"fw-%{+yyyy}\""), "routes[0].sink.sourcetype", "endpoint raw"},
		{"raw with host_field", hec("endpoint: raw", "host_field: host.name"), "routes[0].sink.host_field", "endpoint raw"},
		{"raw with fields", hec("endpoint: raw", "fields: {user: user.name}"), "routes[0].sink.fields", "raw"},
		{"field name digit", hec("fields: {1user: user.name}"), "routes[0].sink.fields.1user", "starts with a letter"},
		{"field name space", hec(`fields: {"user name": user.name}`), "routes[0].sink.fields.user name", "starts with a letter"},
		{"field name reserved", hec("fields: {sourcetype: a.b}"), "routes[0].sink.fields.sourcetype", "default field"},
		{"field name kafka", hec("fields: {kafka_offset: a.b}"), "routes[0].sink.fields.kafka_offset", "kafka_fields"},
		{"field path empty", hec(`fields: {user: ""}`), "routes[0].sink.fields.user", "path"},
		{"field path segment", hec("fields: {user: user..name}"), "routes[0].sink.fields.user", "empty path segment"},
		{"fields not a map", hec("fields: [user]"), "routes[0].sink.fields", "mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FieldError at %s", err, tt.path)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.path+": ") || !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q, want %s: ...%s...", msg, tt.path, tt.msg)
			}
		})
	}
}

func TestSplunkHECValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(*SplunkHEC) bool
	}{
		{"defaults", hec(), func(h *SplunkHEC) bool {
			return h.Endpoint == "event" && h.Sourcetype == "_json" && h.URLCooldown == 10*time.Second &&
				h.KafkaFields != nil && *h.KafkaFields && h.WithKafkaFields() && !h.RawEndpoint() &&
				reflect.DeepEqual(h.BaseURLs(), []string{"https://s:8088"})
		}},
		{"templates", hec(`index: "sec-%{[event][module]:main}-%{+yyyy_MM}"`, `sourcetype: "%{event.dataset:_json}"`,
			`source: "kafka:%{[kafka][topic]}"`, `host: "%{[host][name]:Bridge 1}"`), func(h *SplunkHEC) bool {
			return h.Index == "sec-%{[event][module]:main}-%{+yyyy_MM}"
		}},
		{"index from a field, any value", hec(`index: "%{[observer][vendor]}"`), func(h *SplunkHEC) bool { return true }},
		{"urls", sink("type: splunk_hec\ntoken: x\nurls: [\"https://a:8088\", \"https://b:8088/\"]\nurl_cooldown: 30s\n"), func(h *SplunkHEC) bool {
			return reflect.DeepEqual(h.BaseURLs(), []string{"https://a:8088", "https://b:8088/"}) && h.URLCooldown == 30*time.Second
		}},
		{"raw", hec("endpoint: raw", "sourcetype: \"cisco:asa\"", "index: net", "host: fw-1"), func(h *SplunkHEC) bool {
			return h.RawEndpoint() && h.Sourcetype == "cisco:asa"
		}},
		{"raw without sourcetype", hec("endpoint: raw"), func(h *SplunkHEC) bool { return h.Sourcetype == "" }},
		{"fields", hec("fields: {user: user.name, src.ip: source.ip, Action-1: event.action}", "kafka_fields: false"), func(h *SplunkHEC) bool {
			return len(h.Fields) == 3 && h.Fields["src.ip"] == "source.ip" && !h.WithKafkaFields()
		}},
		{"kafka names free without kafka_fields", hec("fields: {kafka_topic: t}", "kafka_fields: false"), func(h *SplunkHEC) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if h := c.Routes[0].Sink.SplunkHEC; !tt.check(h) {
				t.Errorf("got %+v", h)
			}
		})
	}
}

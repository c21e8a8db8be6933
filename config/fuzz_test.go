package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: any input yields a config or a one-line *FieldError, never a
// panic, and a config that Parse returns passes Validate, also after a second
// ApplyDefaults.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(full),
		"",
		"---\n",
		route(fileSink),
		sink("type: elasticsearch\nurls: [\"http://e:9200\"]\napi_key: ${X:-a$$b}\n"),
		sink("type: webhook\nurl: https://w\nheaders: {A: b}\nfilter: {field: a, equals: [b]}\n"),
		sink("type: syslog\naddress: q:514\nfacility: 0\n"),
		route(fileSink + "rate: {events_per_second: 1e9, catchup_events_per_second: 1e308}\nbatch: {max_events: 9223372036854775807}\n"),
		"a: &a [*a]\n",
		"routes: &r [*r]\n",
		"routes: [&s {name: a, sink: *s}]\n",
		"kafka: {brokers: [\"k:9092\"]}\nroutes: [&r {name: a, topics: [t], sink: {type: \"null\"}}, *r]\n",
		"? [a]\n: b\n",
		"!!binary aGVsbG8=\n",
		"kafka: !!map {brokers: !!seq [\"k:1\"]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("error %T is not a *FieldError: %v", err, err)
			}
			if msg := fe.Error(); strings.ContainsAny(msg, "\r\n") || msg == "" {
				t.Fatalf("bad error text %q", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse returned a config that fails Validate: %v", err)
		}
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			t.Fatalf("second ApplyDefaults broke the config: %v", err)
		}
		_ = fmt.Sprintf("%+v %#v", c, c)
		if _, err := yaml.Marshal(c); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}

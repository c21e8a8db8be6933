package config_test

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/siembridge/siembridge/config"
	_ "github.com/siembridge/siembridge/filter" // sets config.SetFilterCheck
)

// routes[].filter is an expression (a string) or the mapping {field,
// equals}; a bad expression is one error naming the field and position.
func TestFilterExpression(t *testing.T) {
	const head = "kafka: {brokers: [\"k:9092\"]}\nroutes:\n  - name: r\n    topics: [t]\n    sink: {type: file, path: /tmp/out.ndjson}\n"
	tests := []struct {
		name, filter string
		want         *config.Filter
		wantErr      string
	}{
		{"expression", `filter: 'event.action == "deny"'`, &config.Filter{Expr: `event.action == "deny"`}, ""},
		{"block scalar", "filter: >-\n      event.action == \"deny\" &&\n      cidr(source.ip, \"10.0.0.0/8\")", &config.Filter{Expr: `event.action == "deny" && cidr(source.ip, "10.0.0.0/8")`}, ""},
		{"mapping", `filter: {field: event.kind, equals: [alert]}`, &config.Filter{Field: "event.kind", Equals: []string{"alert"}}, ""},
		{"none", `filter: ""`, nil, ""},
		{"unknown function", `filter: 'event.action == "deny" && cidr_match(source.ip, "10.0.0.0/8")'`, nil,
			`routes[0].filter: line 1, column 27: undeclared reference to 'cidr_match'`},
		{"syntax", `filter: 'event.action = "deny"'`, nil, `routes[0].filter: line 1, column 14: `},
		{"bad cidr", `filter: 'cidr(source.ip, "10.0.0.0/33")'`, nil, `routes[0].filter: line 1, column 17: netip.ParsePrefix("10.0.0.0/33"): `},
		{"not a condition", `filter: '"deny"'`, nil, `routes[0].filter: line 1, column 1: the expression is a string, not a condition (true or false)`},
		{"list", `filter: [a, b]`, nil, `routes[0].filter: expected an expression (a string) or a mapping {field, equals}, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(head + "    " + tt.filter + "\n"))
			if tt.wantErr != "" {
				var fe *config.FieldError
				if !errors.As(err, &fe) || len(err.Error()) < len(tt.wantErr) || err.Error()[:len(tt.wantErr)] != tt.wantErr {
					t.Fatalf("Parse error = %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.Routes[0].Filter
			if (got == nil) != (tt.want == nil) || got != nil && (got.Expr != tt.want.Expr || got.Field != tt.want.Field || len(got.Equals) != len(tt.want.Equals)) {
				t.Errorf("filter = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A configuration written out (siembridge check prints it) reads back
// with the same filter.
func TestFilterRoundTrip(t *testing.T) {
	for _, f := range []config.Filter{{Expr: `a == "b" && c > 1`}, {Field: "event.kind", Equals: []string{"alert"}}, {Field: "x"}} {
		out, err := yaml.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back config.Filter
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if back.Expr != f.Expr || back.Field != f.Field || len(back.Equals) != len(f.Equals) {
			t.Errorf("%+v came back as %+v (%s)", f, back, out)
		}
	}
}

package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

func TestNew(t *testing.T) {
	f, err := New(nil)
	if err != nil || f != nil {
		t.Errorf("New(nil) = %v, %v; want nil, nil", f, err)
	}
	if _, err := New(&config.Filter{Equals: []string{"a"}}); err == nil {
		t.Error("New without a field succeeded")
	}
	// The filter keeps its own copy of the values.
	c := &config.Filter{Field: "k", Equals: []string{"a"}}
	f, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Equals[0] = "b"
	if !f.Accepts(event.New("t", 0, 0, time.Time{}, nil, []byte(`{"k":"a"}`))) {
		t.Error("changing the config changed the filter")
	}
}

func TestAccepts(t *testing.T) {
	ts := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		filter *config.Filter
		value  string // the Kafka record value
		want   bool
	}{
		{"no filter", nil, `{"a":1}`, true},
		{"no filter, not JSON", nil, `plain text`, true},

		{"exists, nested", &config.Filter{Field: "event.kind"}, `{"event":{"kind":"alert"}}`, true},
		{"exists, dotted key", &config.Filter{Field: "event.kind"}, `{"event.kind":"alert"}`, true},
		{"exists, mixed", &config.Filter{Field: "a.b.c"}, `{"a":{"b.c":1}}`, true},
		{"exists, mixed the other way", &config.Filter{Field: "a.b.c"}, `{"a.b":{"c":1}}`, true},
		{"exists, second candidate", &config.Filter{Field: "a.b"}, `{"a":{"x":1},"a.b":2}`, true},
		{"exists, deep", &config.Filter{Field: "a.b.c.d"}, `{"a":{"b":{"c":{"d":false}}}}`, true},
		{"exists, empty string", &config.Filter{Field: "k"}, `{"k":""}`, true},
		{"exists, object", &config.Filter{Field: "k"}, `{"k":{}}`, true},
		{"missing", &config.Filter{Field: "event.kind"}, `{"event":{}}`, false},
		{"missing, parent is a string", &config.Filter{Field: "event.kind"}, `{"event":"kind"}`, false},
		{"missing, only a prefix", &config.Filter{Field: "event.kind"}, `{"event.kin":"x"}`, false},
		{"null counts as absent", &config.Filter{Field: "event.kind"}, `{"event":{"kind":null}}`, false},
		{"arrays are not addressed", &config.Filter{Field: "a.0"}, `{"a":["x"]}`, false},

		{"equals one", &config.Filter{Field: "event.kind", Equals: []string{"alert"}}, `{"event":{"kind":"alert"}}`, true},
		{"equals any", &config.Filter{Field: "event.kind", Equals: []string{"alert", "signal"}}, `{"event":{"kind":"signal"}}`, true},
		{"equals is case-sensitive", &config.Filter{Field: "event.kind", Equals: []string{"alert"}}, `{"event":{"kind":"Alert"}}`, false},
		{"equals, no match", &config.Filter{Field: "event.kind", Equals: []string{"alert"}}, `{"event":{"kind":"event"}}`, false},
		{"equals, missing", &config.Filter{Field: "event.kind", Equals: []string{"alert"}}, `{}`, false},
		{"equals, number as written", &config.Filter{Field: "sev", Equals: []string{"7"}}, `{"sev":7}`, true},
		{"equals, number not normalized", &config.Filter{Field: "sev", Equals: []string{"7"}}, `{"sev":7.0}`, false},
		{"equals, string number", &config.Filter{Field: "sev", Equals: []string{"7"}}, `{"sev":"7"}`, true},
		{"equals, boolean", &config.Filter{Field: "ok", Equals: []string{"true"}}, `{"ok":true}`, true},
		{"equals, escaped string", &config.Filter{Field: "k", Equals: []string{"a\"b"}}, `{"k":"a\"b"}`, true},
		{"equals, unicode escape", &config.Filter{Field: "k", Equals: []string{"é"}}, `{"k":"\u00e9"}`, true},
		{"equals, empty value", &config.Filter{Field: "k", Equals: []string{""}}, `{"k":""}`, true},

		// A value that is not a JSON object is wrapped (event.Wrap) and
		// filtered by its wrapping.
		{"not JSON: wrapped message", &config.Filter{Field: "message", Equals: []string{"plain text"}}, `plain text`, true},
		{"not JSON: kafka topic", &config.Filter{Field: "kafka.topic", Equals: []string{"alerts"}}, `plain text`, true},
		{"not JSON: field of the text", &config.Filter{Field: "event.kind"}, `event.kind=alert`, false},
		{"JSON array: wrapped", &config.Filter{Field: "event.kind"}, `[{"event":{"kind":"alert"}}]`, false},
		{"invalid JSON: wrapped", &config.Filter{Field: "event.kind"}, `{"event":{"kind":"alert"}`, false},
		{"empty value", &config.Filter{Field: "message"}, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			e := event.New("alerts", 0, 42, ts, nil, []byte(tt.value))
			if got := f.Accepts(e); got != tt.want {
				t.Errorf("Accepts(%s) = %v, want %v (doc %s)", tt.value, got, tt.want, e.Doc)
			}
		})
	}
}

// FuzzAccepts: whatever the record and the field, Accepts never panics.
func FuzzAccepts(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1}}`), "a.b", "1")
	f.Add([]byte(`{"a.b":"x"`), "a.b", "")
	f.Add([]byte("\xff"), "message", "")
	f.Fuzz(func(t *testing.T, value []byte, field, equals string) {
		if field == "" {
			return
		}
		c := &config.Filter{Field: field}
		if equals != "" {
			c.Equals = []string{equals}
		}
		flt, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		e := event.New("t", 0, 0, time.Time{}, nil, value)
		flt.Accepts(e)
		e.Doc = value // unchecked bytes too
		flt.Accepts(e)
	})
}

func TestExpr(t *testing.T) {
	const fw = `{"event":{"action":"deny","category":["network"],"code":"4625","severity":7},` +
		`"source":{"ip":"10.1.2.3","port":50263},"destination":{"ip":"2001:db8::1","port":443},` +
		`"host.name":"web-01.corp.example.com","risk":{"score":73.5},"ok":true,"@timestamp":"2026-11-29T12:00:00Z",` +
		`"user":{"name":"a\"b\u00e9"},"tags":["a","b"],"obj":{"k":{"n":1}}}`
	tests := []struct {
		expr  string
		value string // the Kafka record value; fw when empty
		want  bool
	}{
		// Equality, nested and dotted keys.
		{`event.action == "deny"`, "", true},
		{`event.action != "deny"`, "", false},
		{`host.name == "web-01.corp.example.com"`, "", true},
		{`event.action == "Deny"`, "", false},
		{`a.b.c == 1`, `{"a":{"b.c":1}}`, true},
		{`a.b.c == 1`, `{"a.b":{"c":1}}`, true},
		// Strings: escapes, keyword codes stay strings.
		{`user.name == "a\"bé"`, "", true},
		{`event.code == "4625"`, "", true},
		{`event.code == 4625`, "", false},
		// In-list, prefix, suffix, contains, regex.
		{`event.action in ["allow", "deny"]`, "", true},
		{`event.action in ["allow"]`, "", false},
		{`"network" in event.category`, "", true},
		{`"b" in tags && !("c" in tags)`, "", true},
		{`host.name.startsWith("web-")`, "", true},
		{`host.name.endsWith(".example.com")`, "", true},
		{`host.name.contains("corp")`, "", true},
		{`host.name.matches("^web-[0-9]+\\.")`, "", true},
		{`matches(host.name, "^db-")`, "", false},
		// Numbers: ints and doubles compare across types.
		{`source.port > 1024`, "", true},
		{`destination.port == 443`, "", true},
		{`destination.port in [22, 443]`, "", true},
		{`risk.score >= 70`, "", true},
		{`risk.score < 70.0`, "", false},
		{`event.severity == 7.0`, "", true},
		{`n > 1`, `{"n":1e400}`, true},
		// CIDR, v4 and v6, lists of prefixes, malformed addresses.
		{`cidr(source.ip, "10.0.0.0/8")`, "", true},
		{`cidr(source.ip, "192.168.0.0/16")`, "", false},
		{`cidr(source.ip, ["192.168.0.0/16", "10.1.0.0/16"])`, "", true},
		{`cidr(destination.ip, "2001:db8::/32")`, "", true},
		{`cidr(destination.ip, "10.0.0.0/8")`, "", false},
		{`cidr(ip, "10.0.0.0/8")`, `{"ip":"::ffff:10.0.0.1"}`, true},
		{`cidr(ip, "10.0.0.0/8")`, `{"ip":"10.0.0.1/8"}`, false},
		{`cidr(ip, "10.0.0.0/8")`, `{"ip":"not an ip"}`, false},
		// exists, field(), booleans, objects.
		{`exists("source.ip")`, "", true},
		{`exists("source.mac")`, "", false},
		{`!exists("source.mac")`, "", true},
		{`exists("a")`, `{"a":null}`, false},
		{`field("@timestamp").startsWith("2026-")`, "", true},
		{`field("host.name") == host.name`, "", true},
		{`ok`, "", true},
		{`ok == true && !(event.action == "allow")`, "", true},
		{`obj.k.n == 1`, "", true},
		{`obj.k == {"n": 1}`, "", true},
		// Missing fields and type mismatches: the event is not accepted,
		// unless the other side of || decides.
		{`missing == "x"`, "", false},
		{`!(missing == "x")`, "", false},
		{`missing == "x" || event.action == "deny"`, "", true},
		{`event.action > 3`, "", false},
		{`event.action + 1 == 2`, "", false},
		// Not JSON: the wrapping document.
		{`message == "plain text"`, `plain text`, true},
		{`kafka.topic == "alerts"`, `plain text`, true},
		{`event.action == "deny"`, `{"event":{"action":"deny"}`, false},
		{`exists("message")`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			value := tt.value
			if value == "" && !strings.HasPrefix(tt.expr, "exists(\"message") {
				value = fw
			}
			e := event.New("alerts", 0, 42, time.Time{}, nil, []byte(value))
			if got := f.Accepts(e); got != tt.want {
				t.Errorf("Accepts = %v, want %v (doc %s)", got, tt.want, e.Doc)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`event.action == "deny" && cidr_match(source.ip, "10.0.0.0/8")`, `line 1, column 27: undeclared reference to 'cidr_match'`},
		{`event.action ==`, `line 1, column 16: `},
		{`event.action = "deny"`, `line 1, column 14: `},
		{"event.action == \"deny\" &&\n  cidr(source.ip, \"10.0.0/33\")", `line 2, column 19: netip.ParsePrefix("10.0.0/33")`},
		{`host.name.matches("[a-")`, `line 1, column 19: error parsing regexp`},
		{`cidr(source.ip, 8)`, `found no matching overload for 'cidr'`},
		{`event.action`, ``}, // dyn: accepted, true only for a boolean field
		{`"deny"`, `not a condition`},
		{`1 + 2`, `not a condition`},
		{`size(event.action)`, `not a condition`},
		{`exists(1)`, `found no matching overload`},
		{strings.Repeat("a", MaxExprBytes+1), `bytes long`},
		{strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), `recursion limit`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			err := Check(tt.expr)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestNewExpr(t *testing.T) {
	f, err := New(&config.Filter{Expr: `k == "a"`, Field: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Accepts(event.New("t", 0, 0, time.Time{}, nil, []byte(`{"k":"a"}`))) {
		t.Error("expression filter did not accept")
	}
	if _, err := New(&config.Filter{Expr: `k ==`}); err == nil {
		t.Error("New with a bad expression succeeded")
	}
}

// FuzzExpr: whatever the expression and the record, Compile returns a
// filter or an error and Accepts never panics.
func FuzzExpr(f *testing.F) {
	f.Add(`event.action == "deny" && cidr(source.ip, "10.0.0.0/8")`, []byte(`{"event":{"action":"deny"},"source":{"ip":"10.0.0.1"}}`))
	f.Add(`host.name.matches("^a+$") || exists("x.y")`, []byte(`{"host":{"name":"aaa"}}`))
	f.Add(`field("@timestamp") > "2026" && n in [1, 2.5]`, []byte(`{"n":2.5}`))
	f.Add(`tags.exists(t, t == "x")`, []byte(`{"tags":["x"]}`))
	f.Add(`a.b.c`, []byte("\xff"))
	f.Fuzz(func(t *testing.T, expr string, value []byte) {
		flt, err := Compile(expr)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		e := event.New("t", 0, 0, time.Time{}, nil, value)
		flt.Accepts(e)
		e.Doc = value // unchecked bytes too
		flt.Accepts(e)
	})
}

// The README's examples compile and select what they say.
func TestREADMEExamples(t *testing.T) {
	fw := event.New("t", 0, 0, time.Time{}, nil, []byte(`{"event":{"category":["network"],"action":"deny"},"network":{"direction":"inbound"},`+
		`"host":{"name":"dc01.corp.example.com"},"source":{"ip":"203.0.113.9"},"destination":{"ip":"10.20.4.5"}}`))
	for _, expr := range []string{
		`"network" in event.category && event.action == "deny" && network.direction == "inbound"`,
		`host.name == "dc01.corp.example.com"`,
		`cidr(source.ip, "10.20.0.0/16") || cidr(destination.ip, "10.20.0.0/16")`,
	} {
		f, err := Compile(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if !f.Accepts(fw) {
			t.Errorf("%s does not accept %s", expr, fw.Doc)
		}
	}
}

// A comprehension over a list of the event is bounded by the cost limit.
func TestCostLimit(t *testing.T) {
	f, err := Compile(`xs.all(a, xs.all(b, xs.all(c, a + b + c >= 0)))`)
	if err != nil {
		t.Fatal(err)
	}
	doc := "[" + strings.Repeat("1,", 999) + "1]"
	e := event.New("t", 0, 0, time.Time{}, nil, []byte(`{"xs":`+doc+`}`))
	start := time.Now()
	if f.Accepts(e) {
		t.Error("an evaluation past the cost limit accepted the event")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("evaluation took %s", d)
	}
}

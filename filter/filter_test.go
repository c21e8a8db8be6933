package filter

import (
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

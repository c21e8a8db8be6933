package export

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/siembridge/siembridge/event"
)

// TestECSValuesAgreeWithField: the one-pass reader finds what event.Field
// finds for every ECS column, on nested keys, dotted keys, mixes, nulls,
// escapes, arrays, numbers and duplicates.
func TestECSValuesAgreeWithField(t *testing.T) {
	docs := []string{
		`{}`,
		`{"host":{"name":"web-1","ip":["10.0.0.1","::1"]},"source":{"ip":"10.1.1.1","port":443}}`,
		`{"host.name":"dotted","host":{"name":"nested"}}`,
		`{"host":{"name":null},"host.name":"after null"}`,
		`{"event":{"action":"log\"in\u00e9","category":["authentication"],"severity":3.5e2,"kind":true}}`,
		`{"file":{"hash.sha256":"abc"},"file.hash":{"sha256":"def"}}`,
		`{"dns":{"question":{"name":"x.example"}},"user":{"name":"a","name":"b"}}`,
		`{"message":"plain","tags":["a","b"],"@timestamp":"2024-05-01T12:00:00Z","log":{"level":{"x":1}}}`,
		` { "user" : { "name" : "spaced" } , "process" : { "pid" : 42 , "name" : "sshd" } } `,
		`{"host":"not an object","event":{"outcome":{"nested":[1,{"a":"}"}]}}}`,
		`{"host":"x","host.name":"after a string"}`,
		`{"user":{"name":null},"user":{"name":"second"}}`,
		`{"a":{"b":{"c":"deep"}},"cloud":{"account":{"id":"123"}},"cloud.account":{"id":"456"}}`,
	}
	for _, d := range docs {
		var got [len(ecsColumns)]*string
		ecsValues([]byte(d), &got)
		for i, c := range ecsColumns {
			want, ok := event.Field([]byte(d), c)
			switch {
			case ok != (got[i] != nil):
				t.Errorf("%s: %s: found %v, event.Field %v (%q)", d, c, got[i] != nil, ok, want)
			case ok && *got[i] != want:
				t.Errorf("%s: %s: %q, event.Field %q", d, c, *got[i], want)
			}
		}
	}
}

func BenchmarkECSValues(b *testing.B) {
	doc := []byte(`{"@timestamp":"2024-05-01T12:00:00.000Z","host":{"name":"web-1"},"event":{"action":"login","category":["authentication"],"outcome":"success"},"source":{"ip":"10.0.0.1","port":1024},"user":{"name":"user1"},"message":"Accepted publickey for user1 from 10.0.0.1 port 1024 ssh2"}`)
	b.Run("one pass", func(b *testing.B) {
		for b.Loop() {
			var out [len(ecsColumns)]*string
			ecsValues(doc, &out)
		}
	})
	b.Run("event.Field", func(b *testing.B) {
		for b.Loop() {
			for _, c := range ecsColumns {
				event.Field(doc, c)
			}
		}
	})
}

// FuzzECSValues: on any input ecsValues does not panic, and on a valid
// JSON object (all an export passes it) it agrees with event.Field.
func FuzzECSValues(f *testing.F) {
	f.Add([]byte(`{"host":{"name":"web-1"},"host.name":"x","source":{"ip":null}}`))
	f.Add([]byte(`{"event":{"category":["a",{"b":"}"}],"action":"\"q\""}}`))
	f.Add([]byte(`{"user":{"name":1e3},"user.name":true}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var got [len(ecsColumns)]*string
		ecsValues(doc, &got)
		if len(doc) == 0 || doc[0] != '{' || !json.Valid(doc) || !utf8.Valid(doc) {
			return
		}
		for i, c := range ecsColumns {
			want, ok := event.Field(doc, c)
			if ok != (got[i] != nil) || (ok && *got[i] != want) {
				t.Fatalf("%s: %s: %v %v, event.Field %q %v", doc, c, got[i] != nil, got[i], want, ok)
			}
		}
	})
}

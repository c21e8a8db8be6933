package shape

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

// FuzzShape: whatever the document, Shape does not panic and leaves its
// input alone; a valid JSON object comes out a valid JSON object, without
// the dropped field, and unchanged documents are returned as they were.
func FuzzShape(f *testing.F) {
	for _, seed := range []string{
		`{"a":{"b":1,"c":[1,{"b":2}]},"a.b":3,"x":"y"}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","host":{"name":"h"},"event":{"original":"o"}}`,
		`{"a\u002eb":1,"\"":{"\\":null}}`,
		`{ "a" : { } , "r" : 1 }`,
		`{"a":1`, `[{"a":1}]`, `"a"`, ``, `{"a":"\`,
	} {
		f.Add([]byte(seed))
	}
	shapers := []*Shaper{}
	for _, c := range []Config{
		{Drop: []string{"a.b", "event.original"}},
		{Keep: []string{"a.b", "host"}},
		{Rename: []config.Rename{{From: "a.b", To: "r.s"}, {From: "x", To: "a.c"}}, FailOnError: true},
		{Rename: []config.Rename{{From: "a", To: "z"}, {From: "r", To: "a.b"}}},
		{AddTarget: "a", Add: map[string]any{"b": map[string]any{"c": 1}, "x": "v"}},
	} {
		s, err := New(c)
		if err != nil {
			f.Fatal(err)
		}
		shapers = append(shapers, s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		orig := bytes.Clone(doc)
		valid := json.Valid(doc) && bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{"))
		for i, s := range shapers {
			out, res := s.Shape(doc)
			if !bytes.Equal(doc, orig) {
				t.Fatalf("shaper %d modified its input", i)
			}
			if !res.Changed && !bytes.Equal(out, doc) {
				t.Fatalf("shaper %d: unchanged but different: %q", i, out)
			}
			if !valid {
				continue
			}
			if res.NotObject {
				t.Fatalf("shaper %d: a valid object %q taken for no object", i, doc)
			}
			if !json.Valid(out) {
				t.Fatalf("shaper %d: %q gave invalid JSON %q", i, doc, out)
			}
			if i == 0 {
				if _, ok := event.FieldJSON(out, "a.b"); ok {
					t.Fatalf("a.b still in %q", out)
				}
			}
		}
	})
}

package event

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSkim(t *testing.T) {
	evTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		value     string
		unchecked bool
		wrapped   bool
		time      time.Time
	}{
		{"ecs", `{"@timestamp":"2024-01-02T03:04:05Z","event":{"kind":"event"},"message":"x"}`, true, false, evTime},
		{"blanks", `{ "@timestamp" : "2024-01-02T03:04:05Z", "a": 1}`, true, false, evTime},
		{"epoch millis", `{"@timestamp":1704164645000,"a":1}`, true, false, evTime},
		{"epoch millis alone", `{"@timestamp":1704164645000}`, true, false, evTime},
		{"non-ASCII", `{"@timestamp":"2024-01-02T03:04:05Z","user":"Zoë"}`, true, false, evTime},
		// Its grammar is the server's to check.
		{"braced but invalid", `{"@timestamp":"2024-01-02T03:04:05Z",bad}`, true, false, evTime},
		// Everything else is Decode's.
		{"timestamp not first", `{"a":1,"@timestamp":"2024-01-02T03:04:05Z"}`, false, false, evTime},
		{"no timestamp", `{"a":1}`, false, false, recTS},
		{"unparseable timestamp", `{"@timestamp":"yesterday","a":1}`, false, false, recTS},
		{"escaped timestamp", `{"@timestamp":"2024-01-02T03:04:05\u005a","a":1}`, false, false, evTime},
		{"fractional number", `{"@timestamp":1704164645000.5}`, false, false, evTime.Add(500 * time.Microsecond)},
		{"pretty-printed", "{\"@timestamp\":\"2024-01-02T03:04:05Z\",\n\"a\":1}", false, false, evTime},
		{"leading blank", ` {"@timestamp":"2024-01-02T03:04:05Z"}`, false, false, evTime},
		{"invalid UTF-8", "{\"@timestamp\":\"2024-01-02T03:04:05Z\",\"a\":\"\xff\"}", false, true, recTS},
		{"not JSON", `<13>Jan  1 00:00:00 host app: hi`, false, true, recTS},
		{"truncated", `{"@timestamp":"2024-01-02T03:04:05Z","a":`, false, true, recTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			value := []byte(tc.value)
			doc, wrapped, tm, unchecked := Skim("topic", 1, 2, recTS, value)
			if unchecked != tc.unchecked || wrapped != tc.wrapped || !tm.Equal(tc.time) {
				t.Fatalf("Skim = wrapped %v, time %v, unchecked %v; want %v, %v, %v", wrapped, tm, unchecked, tc.wrapped, tc.time, tc.unchecked)
			}
			if unchecked && &doc[0] != &value[0] {
				t.Fatal("unchecked doc is not value itself")
			}
			if !unchecked {
				d, w, dt := Decode("topic", 1, 2, recTS, value)
				if !bytes.Equal(d, doc) || w != wrapped || !dt.Equal(tm) {
					t.Fatal("checked result differs from Decode's")
				}
			}
		})
	}
}

func FuzzSkim(f *testing.F) {
	for _, s := range []string{
		`{"@timestamp":"2024-01-02T03:04:05Z","a":[1,2,{"b":null}]}`, `{"@timestamp":1704164645000}`,
		`{ "@timestamp" : "2024-01-02 03:04:05+0100" , "b" : "\u00e9" }`, `{"@timestamp":"2024-01-02",}`,
		`{"@timestamp":-5}`, `{"@timestamp":"2024-01-02","@timestamp":"2025-01-02"}`, `{}`, `x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		orig := bytes.Clone(value)
		doc, wrapped, tm, unchecked := Skim("topic", 1, 2, recTS, value)
		if !bytes.Equal(value, orig) {
			t.Fatal("Skim modified value")
		}
		d, w, dt := Decode("topic", 1, 2, recTS, value)
		if !unchecked {
			if !bytes.Equal(d, doc) || w != wrapped || !dt.Equal(tm) {
				t.Fatalf("checked result differs from Decode's for %q", value)
			}
			return
		}
		n := len(value)
		if wrapped || !bytes.Equal(doc, value) || n < 2 || value[0] != '{' || value[n-1] != '}' ||
			!utf8.Valid(value) || bytes.IndexByte(value, '\n') >= 0 {
			t.Fatalf("unchecked, but not a one-line braced value: %q", value)
		}
		// For a valid object with one "@timestamp", Skim and Decode agree.
		if json.Valid(value) && !w && bytes.Count(value, []byte(`"@timestamp"`)) == 1 && !dt.Equal(tm) {
			t.Fatalf("Skim time %v, Decode time %v for %q", tm, dt, value)
		}
	})
}

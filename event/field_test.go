package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestField(t *testing.T) {
	doc := []byte(`{
		"host": {"name": "WS-FIN-0142", "os": {"family": "windows"}, "ip": ["10.0.0.1", "10.0.0.2"]},
		"host.hostname": "ws-fin-0142",
		"event": {"kind": "event", "code": 4625, "severity": -1.5e3, "risk": null},
		"user": {"name": "a\"b\\c\u00e9\ud83d\ude00", "roles": {"admin": true, "x": false}},
		"a.b": {"c": "mixed-1"},
		"a": {"b.c": "mixed-2", "x": {}},
		"\u0073ource": {"ip": "198.51.100.7"},
		"empty": "",
		"deep": {"l1": {"l2": {"l3": "bottom"}}}
	}`)
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"host.name", "WS-FIN-0142", true},
		{"host.os.family", "windows", true},
		{"host.os", `{"family": "windows"}`, true},
		{"host.ip", `["10.0.0.1", "10.0.0.2"]`, true},
		{"host.hostname", "ws-fin-0142", true},
		{"event.kind", "event", true},
		{"event.code", "4625", true},
		{"event.severity", "-1.5e3", true},
		{"event.risk", "", false},
		{"user.name", "a\"b\\cé😀", true},
		{"user.roles.admin", "true", true},
		{"user.roles.x", "false", true},
		{"a.b.c", "mixed-1", true}, // "a.b" comes first
		{"a.x", "{}", true},
		{"source.ip", "198.51.100.7", true},
		{"empty", "", true},
		{"deep.l1.l2.l3", "bottom", true},
		{"deep.l1.l2.l3.l4", "", false},
		{"host.name.x", "", false},
		{"missing", "", false},
		{"host.", "", false},
		{"", "", false},
		{"host..name", "", false},
	}
	for _, tt := range tests {
		got, ok := Field(doc, tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	// The other of two matching keys is found when the first leads nowhere.
	if got, ok := Field([]byte(`{"a":{"z":1},"a":{"b":2}}`), "a.b"); got != "2" || !ok {
		t.Errorf("backtrack: %q, %v", got, ok)
	}
	if got, ok := Field([]byte(`{"a.b":{"z":1},"a":{"b":"3"}}`), "a.b.z"); got != "1" || !ok {
		t.Errorf("dotted prefix: %q, %v", got, ok)
	}
}

func TestFieldMalformed(t *testing.T) {
	for _, doc := range []string{
		``, `[]`, `"x"`, `{`, `{"a"`, `{"a":`, `{"a":"`, `{"a":"\`, `{"a":{`, `{"a":[}`,
		`{"a" "b"}`, `{a:1}`, `{"a":1`, `{"a":}`, `{"host":{"name":`, "{\"a\":\"\xff\"}",
	} {
		for _, path := range []string{"a", "a.b", "host.name"} {
			Field([]byte(doc), path) // must not panic
		}
	}
}

func FuzzField(f *testing.F) {
	f.Add([]byte(`{"host":{"name":"x"},"host.name":"y"}`), "host.name")
	f.Add([]byte(`{"a":{"b":[1,{"c":"\u00e9"}]},"n":-1e5,"t":true}`), "a.b")
	f.Add([]byte(`{"a\"b":{"c":null}}`), "a\"b.c")
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		got, ok := Field(doc, path)
		if !ok || !json.Valid(doc) {
			return
		}
		// A value found in a valid document is a JSON value or the
		// contents of a JSON string.
		if !json.Valid([]byte(got)) {
			q, err := json.Marshal(got)
			if err != nil || !json.Valid(q) {
				t.Fatalf("Field(%q) = %q", path, got)
			}
		}
		// A single top-level key without dots is found as encoding/json
		// finds it.
		if !utf8.Valid(doc) || strings.Contains(path, ".") || topLevelKeys(doc)[path] != 1 {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			return
		}
		raw := m[path]
		if string(raw) == "null" {
			t.Fatalf("null returned as %q", got)
		}
		if raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || s != got {
				t.Fatalf("Field(%q) = %q, want %q", path, got, s)
			}
		} else if string(raw) != got {
			t.Fatalf("Field(%q) = %q, want %q", path, got, raw)
		}
	})
}

// topLevelKeys counts the keys of a JSON object's top level.
func topLevelKeys(doc []byte) map[string]int {
	n := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return n
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		n[tok.(string)]++
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return n
		}
	}
	return n
}

package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/text"
)

func hdrs(kv ...string) []Header {
	var hs []Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, Header{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return hs
}

func TestAddHeaders(t *testing.T) {
	ts := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		value   string
		field   string
		headers []Header
		want    string
	}{
		{"one header", `{"a":1}`, "kafka.headers", hdrs("trace", "abc"), `{"kafka.headers":{"trace":"abc"},"a":1}`},
		{"empty object", `{ }`, "kafka.headers", hdrs("k", "v"), `{"kafka.headers":{"k":"v"} }`},
		{"repeated key becomes a list", `{"a":1}`, "h", hdrs("x", "1", "y", "2", "x", "3"), `{"h":{"x":["1","3"],"y":"2"},"a":1}`},
		{"escaping and bad UTF-8", `{"a":1}`, "h", hdrs("q\"k", "line\nbreak\xff"), `{"h":{"q\"k":"line\nbreak\ufffd"},"a":1}`},
		{"null value", `{"a":1}`, "h", []Header{{Key: []byte("n")}}, `{"h":{"n":""},"a":1}`},
		{"no headers", `{"a":1}`, "h", nil, `{"a":1}`},
		{"document's own nested field wins", `{"kafka":{"headers":{"mine":true}}}`, "kafka.headers", hdrs("k", "v"), `{"kafka":{"headers":{"mine":true}}}`},
		{"document's own dotted field wins", `{"kafka.headers":"x"}`, "kafka.headers", hdrs("k", "v"), `{"kafka.headers":"x"}`},
		{"leading white space", "  {\"a\":1}", "h", hdrs("k", "v"), `{"h":{"k":"v"},"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New("t", 0, 1, ts, nil, []byte(tt.value))
			e.AddHeaders(tt.field, tt.headers)
			if string(e.Doc) != tt.want {
				t.Fatalf("doc\n got %s\nwant %s", e.Doc, tt.want)
			}
			if !json.Valid(e.Doc) {
				t.Fatalf("invalid JSON: %s", e.Doc)
			}
		})
	}

	// A value that is not a JSON object is wrapped first; the headers go
	// into the wrapping.
	e := New("t", 0, 1, ts, nil, []byte("plain text"))
	e.AddHeaders("kafka.headers", hdrs("k", "v"))
	if got, _ := Field(e.Doc, "kafka.headers.k"); got != "v" || !json.Valid(e.Doc) {
		t.Fatalf("wrapped: %s", e.Doc)
	}
	// The original value is kept; only the document changes.
	if string(e.Value) != "plain text" {
		t.Fatalf("value changed: %q", e.Value)
	}
}

func TestAppendHeadersNotAnObject(t *testing.T) {
	for _, doc := range []string{"", "[1]", `"s"`, "   "} {
		out, ok := AppendHeaders([]byte("keep"), []byte(doc), "h", hdrs("k", "v"))
		if ok || string(out) != "keep" {
			t.Errorf("%q: %q %v", doc, out, ok)
		}
	}
}

// TestAppendHeadersManyRepeats: the work is linear in the headers (a
// hostile record may carry very many).
func TestAppendHeadersManyRepeats(t *testing.T) {
	var hs []Header
	for i := range 50_000 {
		hs = append(hs, Header{Key: []byte{byte('a' + i%3)}, Value: []byte("v")})
	}
	start := time.Now()
	out, ok := AppendHeaders(nil, []byte(`{}`), "h", hs)
	if !ok || !json.Valid(out) || time.Since(start) > time.Second {
		t.Fatalf("ok %v valid %v in %s", ok, json.Valid(out), time.Since(start))
	}
	if strings.Count(string(out), `"v"`) != 50_000 {
		t.Fatal("values lost")
	}
}

// FuzzAppendHeaders: inserting headers into a valid JSON object always
// gives a valid JSON object holding every header value under field.
func FuzzAppendHeaders(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "kafka.headers", []byte("k"), []byte("v"), []byte("k"))
	f.Add([]byte(`{}`), "h", []byte("\xff"), []byte("\x00"), []byte(""))
	f.Fuzz(func(t *testing.T, doc []byte, field string, k1, v1, k2 []byte) {
		if !json.Valid(doc) {
			return
		}
		hs := []Header{{Key: k1, Value: v1}, {Key: k2, Value: v1}}
		out, ok := AppendHeaders(nil, doc, field, hs)
		if !ok {
			return // not an object
		}
		if !json.Valid(out) {
			t.Fatalf("invalid result %q", out)
		}
		// The first member is field, holding an object.
		var key string
		if err := json.Unmarshal(text.AppendJSONString(nil, field), &key); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			t.Fatalf("not an object: %s", out)
		}
		if tok, _ := dec.Token(); tok != key {
			t.Fatalf("first key %v, want %q: %s", tok, key, out)
		}
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			t.Fatalf("headers are not an object: %s", out)
		}
	})
}

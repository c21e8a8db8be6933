package filterpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	const bulk = `{"took":3,"errors":true,"items":[` +
		`{"create":{"_index":"logs","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"create":{"_index":"logs","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: exists","index_uuid":"u","shard":"0","index":"logs"}}},` +
		`{"index":{"_index":"logs","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"full"}}}]}`
	for _, tc := range []struct {
		name, filter, doc, want string
	}{
		{"bulk, as Logstash asks", "errors,items.*.error,items.*.status", bulk,
			`{"errors":true,"items":[{"create":{"status":201}},` +
				`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: exists","index_uuid":"u","shard":"0","index":"logs"}}},` +
				`{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"full"}}}]}`},
		{"bulk, error type and reason only", "errors,items.*.status,items.*.error.type,items.*.error.reason,error", bulk,
			`{"errors":true,"items":[{"create":{"status":201}},` +
				`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: exists"}}},` +
				`{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"full"}}}]}`},
		{"key order is the document's, not the filter's", "items.*.status,errors", bulk,
			`{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}},{"index":{"status":429}}]}`},
		{"an item with nothing matched is dropped", "items.*.error.type", bulk,
			`{"items":[{"create":{"error":{"type":"version_conflict_engine_exception"}}},{"index":{"error":{"type":"es_rejected_execution_exception"}}}]}`},
		{"a literal action", "items.index._id", bulk, `{"items":[{"index":{"_id":"3"}}]}`},
		{"nothing matches", "nope,items.*.nope", bulk, `{}`},
		{"a path through a scalar keeps nothing", "took.x,errors.y", bulk, `{}`},
		{"glob in a segment", "items.*._sh*.succ*", bulk, `{"items":[{"create":{"_shards":{"successful":1}}}]}`},
		{"glob inside a name", "items.*.*s*t*", bulk,
			`{"items":[{"create":{"result":"created","status":201}},{"create":{"status":409}},{"index":{"status":429}}]}`},
		{"** at any depth below", "**.failed", bulk, `{"items":[{"create":{"_shards":{"failed":0}}}]}`},
		{"** is one level or more", "a.**.b", `{"a":{"b":1,"x":{"b":2,"y":{"b":3}}}}`, `{"a":{"x":{"b":2,"y":{"b":3}}}}`},
		{"trailing ** keeps everything below", "a.**", `{"a":{"b":1},"c":2}`, `{"a":{"b":1}}`},
		{"a whole field", "items", bulk, `{` + bulk[strings.Index(bulk, `"items"`):]},
		{"a kept empty array", "a", `{"a":[],"b":{}}`, `{"a":[]}`},
		{"a passed-through empty array is dropped", "a.x,b", `{"a":[],"b":1}`, `{"b":1}`},
		{"arrays are transparent at any depth", "a.b", `{"a":[[{"b":1,"c":2}],[3],{"c":4}]}`, `{"a":[[{"b":1}]]}`},
		{"scalars in a passed-through array are dropped", "a.b", `{"a":[1,"x",null,{"b":null}]}`, `{"a":[{"b":null}]}`},
		{"a shorter path wins", "a.b,a", `{"a":{"b":1,"c":2}}`, `{"a":{"b":1,"c":2}}`},
		{"a shorter path wins, either order", "a,a.b", `{"a":{"b":1,"c":2}}`, `{"a":{"b":1,"c":2}}`},
		{"escaped dot", `a\.b`, `{"a.b":1,"a":{"b":2}}`, `{"a.b":1}`},
		{"white space is trimmed, empty paths ignored", " b ,, a ", `{"a":1,"b":2,"c":3}`, `{"a":1,"b":2}`},
		{"escaped key in the document", "ab", `{"a\u0062":1,"ab":2}`, `{"a\u0062":1,"ab":2}`},
		{"duplicate keys are each filtered", "a", `{"a":1,"b":0,"a":2}`, `{"a":1,"a":2}`},
		{"pretty input, compact output, kept values verbatim", "a,c.d",
			"{\n  \"a\" : { \"x\" : 1 },\n  \"b\" : 2,\n  \"c\" : { \"d\" : [ 1 , 2 ] }\n}\n", `{"a":{ "x" : 1 },"c":{"d":[ 1 , 2 ]}}`},
		{"an error body is filtered like any other, when asked", "error.type",
			`{"error":{"root_cause":[],"type":"x","reason":"y"},"status":400}`, `{"error":{"type":"x"}}`},
		{"root array", "a", `[{"a":1},{"b":2}]`, `[{"a":1}]`},
		{"root array, nothing kept", "a", `[{"b":2}]`, ``},
		{"root scalar", "a", `5`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Append([]byte("prefix:"), []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix:"+tc.want {
				t.Errorf("filter %q\n got %s\nwant %s", tc.filter, got, "prefix:"+tc.want)
			}
			if tc.want != "" && !json.Valid(got[len("prefix:"):]) {
				t.Errorf("output is not JSON: %s", got)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, v := range []string{"", " ", ",", " , ,"} {
		f, err := Parse(v)
		if f != nil || err != nil {
			t.Errorf("%q: %v, %v; want no filter", v, f, err)
		}
		// No filter keeps the document as it is, white space included.
		if got, err := f.Append(nil, []byte(` {"a" : 1} `)); err != nil || string(got) != ` {"a" : 1} ` {
			t.Errorf("nil filter: %q %v", got, err)
		}
		if m, _ := f.Root().Field("x"); m != All {
			t.Errorf("nil filter root: %v", m)
		}
	}
	for _, v := range []string{"-took", "errors,-items.*._id", strings.Repeat("a,", maxPaths+1), strings.Repeat("a", maxPathLen+1)} {
		if _, err := Parse(v); err == nil {
			t.Errorf("%.40q: no error", v)
		}
	}
	f, err := Parse("errors,items.*.status")
	if err != nil || f.String() != "errors,items.*.status" {
		t.Errorf("String() = %q, %v", f.String(), err)
	}
	if _, err := f.Append(nil, []byte(`{"errors":`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid JSON: %v", err)
	}
}

// TestField walks the tree a filter compiles to.
func TestField(t *testing.T) {
	f, err := Parse("errors,items.*.status,items.create.error.type,a.**.z")
	if err != nil {
		t.Fatal(err)
	}
	root := f.Root()
	path := func(names ...string) Match {
		l, m := root, Partial
		for _, n := range names {
			if m != Partial {
				t.Fatalf("%v: walked past a %v match", names, m)
			}
			m, l = l.Field(n)
		}
		return m
	}
	for _, tc := range []struct {
		path []string
		want Match
	}{
		{[]string{"errors"}, All},
		{[]string{"took"}, None},
		{[]string{"items"}, Partial},
		{[]string{"items", "index"}, Partial},
		{[]string{"items", "index", "status"}, All},
		{[]string{"items", "index", "error"}, None},
		{[]string{"items", "create", "error"}, Partial},
		{[]string{"items", "create", "error", "type"}, All},
		{[]string{"items", "create", "error", "reason"}, None},
		{[]string{"a", "z"}, Partial}, // "**" matched "z"; a deeper "z" is needed
		{[]string{"a", "b", "z"}, All},
		{[]string{"a", "b", "c", "d", "z"}, All},
		{[]string{"a", "b", "c", "y"}, Partial},
	} {
		if got := path(tc.path...); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.path, got, tc.want)
		}
	}
	var zero Level
	if m, _ := zero.Field("x"); m != None {
		t.Errorf("zero Level: %v", m)
	}
}

func TestLevelAppend(t *testing.T) {
	f, err := Parse("items.*._shards.failed")
	if err != nil {
		t.Fatal(err)
	}
	_, items := f.Root().Field("items")
	_, action := items.Field("create")
	m, shards := action.Field("_shards")
	if m != Partial {
		t.Fatalf("_shards: %v", m)
	}
	got, ok, err := shards.Append([]byte("x"), []byte(`{"total":2,"successful":1,"failed":0}`))
	if err != nil || !ok || string(got) != `x{"failed":0}` {
		t.Errorf("%s %v %v", got, ok, err)
	}
	got, ok, err = shards.Append([]byte("x"), []byte(`{"total":2}`))
	if err != nil || ok || string(got) != "x" {
		t.Errorf("nothing kept: %s %v %v", got, ok, err)
	}
	got, ok, err = Level{all: true}.Append(nil, []byte(` [1, 2] `))
	if err != nil || !ok || string(got) != `[1, 2]` {
		t.Errorf("all: %s %v %v", got, ok, err)
	}
	if _, _, err = shards.Append(nil, []byte(`{`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"**", "abc", true},
		{"a*", "abc", true}, {"a*", "ba", false}, {"*c", "abc", true}, {"*c", "abcd", false},
		{"a*c", "ac", true}, {"a*c", "abbbc", true}, {"a*c", "abcb", false},
		{"*b*", "abc", true}, {"*b*", "ac", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxcyyb", false},
		{"abc", "abc", true}, {"abc", "abd", false}, {"", "", true}, {"", "a", false},
		{"*aab", "aaaab", true}, {"a**b", "ab", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
		if got := globMatch(tc.pattern, []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, []byte %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

// FuzzAppend: any filter on any input either fails cleanly or gives valid
// JSON that equals what a slow reference filter (encoding/json tokens)
// keeps of the same document.
func FuzzAppend(f *testing.F) {
	for _, s := range []struct{ filter, doc string }{
		{"errors,items.*.status,items.*.error", `{"took":1,"errors":false,"items":[{"create":{"_index":"a","status":201}}]}`},
		{"a.**.b,c*", `{"a":{"x":{"b":[1,{"b":2}]}},"cd":"\"q\\"}`},
		{`a\.b,-x`, `{"a.b":1}`},
		{"a.b", `[[{"b":1}],{"a":[]},1]`},
		{"*", `{"\u0061":{"b":null}, "c" : [ ] }`},
		{"a", `{"a":`},
	} {
		f.Add(s.filter, []byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, filter string, doc []byte) {
		flt, err := Parse(filter)
		if err != nil {
			return
		}
		got, err := flt.Append(nil, doc)
		if flt == nil { // no filter: the document as it is, valid or not
			if err != nil || !bytes.Equal(got, doc) {
				t.Fatalf("no filter changed the document: %q, %v", got, err)
			}
			return
		}
		if !json.Valid(doc) {
			if err == nil {
				t.Fatalf("invalid document accepted: %q", doc)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want, ok := reference(t, flt, doc)
		if !ok {
			if len(got) != 0 {
				t.Fatalf("kept %s, reference kept nothing", got)
			}
			return
		}
		if !json.Valid(got) {
			t.Fatalf("output is not JSON: %s", got)
		}
		if c := canonical(t, got); c != want {
			t.Fatalf("filter %q on %s\n got %s\nwant %s", filter, doc, c, want)
		}
	})
}

// value is a JSON value decoded with its key order and duplicates kept.
type value struct {
	kind    byte   // '{', '[', or 's' for a scalar
	scalar  string // canonical encoding
	keys    []string
	members []value // object members or array elements
}

func decodeValue(t *testing.T, dec *json.Decoder) value {
	t.Helper()
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	switch v := tok.(type) {
	case json.Delim:
		out := value{kind: byte(v)}
		for dec.More() {
			if v == '{' {
				k, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				out.keys = append(out.keys, k.(string))
			}
			out.members = append(out.members, decodeValue(t, dec))
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			t.Fatal(err)
		}
		return out
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return value{kind: 's', scalar: string(b)}
	}
}

func (v value) encode(b *strings.Builder) {
	switch v.kind {
	case 's':
		b.WriteString(v.scalar)
	case '{':
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(v.keys[i])
			b.Write(k)
			b.WriteByte(':')
			m.encode(b)
		}
		b.WriteByte('}')
	case '[':
		b.WriteByte('[')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			m.encode(b)
		}
		b.WriteByte(']')
	}
}

// keep is the reference filter: Partial semantics on a decoded tree.
func (v value) keep(l Level) (value, bool) {
	switch v.kind {
	case '{':
		out := value{kind: '{'}
		for i, m := range v.members {
			match, next := l.Field(v.keys[i])
			var kept value
			switch match {
			case None:
				continue
			case All:
				kept = m
			case Partial:
				var ok bool
				if kept, ok = m.keep(next); !ok {
					continue
				}
			}
			out.keys = append(out.keys, v.keys[i])
			out.members = append(out.members, kept)
		}
		return out, len(out.members) > 0
	case '[':
		out := value{kind: '['}
		for _, m := range v.members {
			if kept, ok := m.keep(l); ok {
				out.members = append(out.members, kept)
			}
		}
		return out, len(out.members) > 0
	}
	return value{}, false
}

func newDecoder(doc []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return dec
}

func reference(t *testing.T, f *Filter, doc []byte) (string, bool) {
	t.Helper()
	v := decodeValue(t, newDecoder(doc))
	kept, ok := v.keep(f.Root())
	if !ok {
		if v.kind != '{' {
			return "", false
		}
		kept = value{kind: '{'} // the root object is always written
	}
	var b strings.Builder
	kept.encode(&b)
	return b.String(), true
}

func canonical(t *testing.T, doc []byte) string {
	t.Helper()
	dec := newDecoder(doc)
	v := decodeValue(t, dec)
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data in %s", doc)
	}
	var b strings.Builder
	v.encode(&b)
	return b.String()
}

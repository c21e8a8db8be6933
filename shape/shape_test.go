package shape

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/config"
)

// same reports whether two JSON texts hold the same value.
func same(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func TestShape(t *testing.T) {
	const doc = `{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"name":"h1","ip":["10.0.0.1"],"os":{"name":"linux","version":"6"}},"host.id":"abc","user.name":"alice","event":{"action":"deny","original":"<raw>"},"tags":[{"a":1}],"message":"m"}`
	cases := []struct {
		name    string
		cfg     Config
		doc     string
		want    string // "" means: returned unchanged (the same bytes)
		renameE error
	}{
		{"drop nested", Config{Drop: []string{"event.original"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"name":"h1","ip":["10.0.0.1"],"os":{"name":"linux","version":"6"}},"host.id":"abc","user.name":"alice","event":{"action":"deny"},"tags":[{"a":1}],"message":"m"}`, nil},
		{"drop whole object", Config{Drop: []string{"host"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host.id":"abc","user.name":"alice","event":{"action":"deny","original":"<raw>"},"tags":[{"a":1}],"message":"m"}`, nil},
		{"drop dotted key", Config{Drop: []string{"user.name", "host.id"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"name":"h1","ip":["10.0.0.1"],"os":{"name":"linux","version":"6"}},"event":{"action":"deny","original":"<raw>"},"tags":[{"a":1}],"message":"m"}`, nil},
		{"drop never removes @timestamp and type", Config{Drop: []string{"@timestamp", "type", "message"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"name":"h1","ip":["10.0.0.1"],"os":{"name":"linux","version":"6"}},"host.id":"abc","user.name":"alice","event":{"action":"deny","original":"<raw>"},"tags":[{"a":1}]}`, nil},
		{"drop missing changes nothing", Config{Drop: []string{"nope", "host.nope", "message.x"}}, doc, "", nil},
		{"drop does not reach into arrays", Config{Drop: []string{"tags.a", "host.ip.0"}}, doc, "", nil},
		{"keep nested path keeps its parents only", Config{Keep: []string{"host.os.name", "event"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"os":{"name":"linux"}},"event":{"action":"deny","original":"<raw>"}}`, nil},
		{"keep reaches nested and dotted keys", Config{Keep: []string{"host.id", "host.name"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"name":"h1"},"host.id":"abc"}`, nil},
		{"keep of absent fields leaves @timestamp and type", Config{Keep: []string{"nope.x"}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x"}`, nil},
		{"keep everything there is changes nothing", Config{Keep: []string{"host", "host.id", "user.name", "event", "tags", "message"}}, doc, "", nil},
		{"rename nested to new nested", Config{Rename: []config.Rename{{From: "event.original", To: "log.original"}}, FailOnError: true},
			`{"event":{"action":"a","original":"o"}}`, `{"event":{"action":"a"},"log":{"original":"o"}}`, nil},
		{"rename into an existing object", Config{Rename: []config.Rename{{From: "message", To: "host.msg"}}, FailOnError: true},
			`{"host":{"name":"h"},"message":"m"}`, `{"host":{"name":"h","msg":"m"}}`, nil},
		{"rename an object", Config{Rename: []config.Rename{{From: "host", To: "observer"}}, FailOnError: true},
			`{"host":{"name":"h","os":{"v":1}}}`, `{"observer":{"name":"h","os":{"v":1}}}`, nil},
		{"rename missing fails without ignore_missing", Config{Rename: []config.Rename{{From: "a", To: "b"}}, FailOnError: true},
			`{"x":1}`, "", errMissing},
		{"rename missing ignored", Config{Rename: []config.Rename{{From: "a", To: "b"}}, IgnoreMissing: true, FailOnError: true},
			`{"x":1}`, "", nil},
		{"rename onto an existing field fails", Config{Rename: []config.Rename{{From: "a", To: "b"}}, FailOnError: true},
			`{"a":1,"b":2}`, "", errExists},
		{"rename under a scalar fails", Config{Rename: []config.Rename{{From: "a", To: "b.c"}}, FailOnError: true},
			`{"a":1,"b":2}`, "", errNotObject},
		{"fail_on_error undoes the renames before", Config{Rename: []config.Rename{{From: "a", To: "z"}, {From: "b", To: "c"}}, FailOnError: true},
			`{"a":1,"b":2,"c":3}`, "", errExists},
		{"without fail_on_error the others go on", Config{Rename: []config.Rename{{From: "a", To: "z"}, {From: "b", To: "c"}, {From: "d", To: "e"}}},
			`{"a":1,"b":2,"c":3,"d":4}`, `{"b":2,"c":3,"z":1,"e":4}`, errExists},
		{"rename with escaped keys", Config{Rename: []config.Rename{{From: `we"ird`, To: "ok"}}, FailOnError: true},
			`{"we\"ird":"v","\u0061":1}`, `{"a":1,"ok":"v"}`, nil},
		{"add under the default target", Config{AddTarget: "fields", Add: map[string]any{"env": "prod", "n": 3}},
			`{"a":1}`, `{"a":1,"fields":{"env":"prod","n":3}}`, nil},
		{"add at the top level overwrites", Config{Add: map[string]any{"a": "new", "obj": map[string]any{"k": true}}},
			`{"a":1,"obj":{"old":1,"k":false}}`, `{"a":"new","obj":{"old":1,"k":true}}`, nil},
		{"add into a nested target", Config{AddTarget: "labels.site", Add: map[string]any{"dc": "fra1"}},
			`{"labels":{"team":"soc"}}`, `{"labels":{"team":"soc","site":{"dc":"fra1"}}}`, nil},
		{"add replaces a target that is no object", Config{AddTarget: "labels", Add: map[string]any{"dc": "fra1"}},
			`{"labels":"x"}`, `{"labels":{"dc":"fra1"}}`, nil},
		{"add dotted names as nested objects, merged", Config{AddTarget: "", Add: map[string]any{"cloud.region": "eu", "host.site": "fra1"}},
			`{"host":{"name":"h"}}`, `{"host":{"name":"h","site":"fra1"},"cloud":{"region":"eu"}}`, nil},
		{"add with hostile keys and values", Config{AddTarget: "", Add: map[string]any{"q\"\\\n": "</script>\u2028", "list": []any{1, "x", nil}}},
			`{}`, `{"q\"\\\n":"</script>\u2028","list":[1,"x",null]}`, nil},
		{"drop then keep then rename then add", Config{Drop: []string{"host.os"}, Keep: []string{"host"}, Rename: []config.Rename{{From: "host.name", To: "observer.name"}}, FailOnError: true, AddTarget: "", Add: map[string]any{"v": 1}}, doc,
			`{"@timestamp":"2026-11-29T10:00:00Z","type":"x","host":{"ip":["10.0.0.1"]},"observer":{"name":"h1"},"v":1}`, nil},
		{"blanks in the document", Config{Drop: []string{"b.c"}},
			"{ \"a\" : [ 1 , 2 ] ,\n \"b\" : { \"c\" : 1 , \"d\" : \"x y\" } }", `{"a":[1,2],"b":{"d":"x y"}}`, nil},
		{"deep nesting off the path is not parsed", Config{Drop: []string{"x"}},
			`{"deep":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `,"x":1}`,
			`{"deep":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			in := []byte(c.doc)
			orig := string(in)
			out, res := s.Shape(in)
			if string(in) != orig {
				t.Fatal("Shape modified its input")
			}
			if !errors.Is(res.RenameErr, c.renameE) || (c.renameE == nil) != (res.RenameErr == nil) {
				t.Errorf("rename error %v, want %v", res.RenameErr, c.renameE)
			}
			if c.want == "" {
				if res.Changed || &out[0] != &in[0] || len(out) != len(in) {
					t.Errorf("changed (%v) to %s, want the document itself", res.Changed, out)
				}
				return
			}
			if !res.Changed {
				t.Errorf("Changed false, out %s", out)
			}
			if !same(t, string(out), c.want) {
				t.Errorf("got  %s\nwant %s", out, c.want)
			}
			if strings.Contains(c.name, "order") || strings.HasPrefix(c.name, "drop") {
				// Untouched members keep their order.
				var keysGot, keysWant []string
				keysGot, keysWant = topKeys(t, out), topKeys(t, []byte(c.want))
				if !reflect.DeepEqual(keysGot, keysWant) {
					t.Errorf("key order %v, want %v", keysGot, keysWant)
				}
			}
		})
	}
}

func topKeys(t *testing.T, b []byte) []string {
	o, ok := parseObject(b, rootMembers)
	if !ok {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for _, m := range o.members {
		keys = append(keys, string(m.key))
	}
	return keys
}

func TestShapeNotObject(t *testing.T) {
	s, err := New(Config{Drop: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{``, `[]`, `"a"`, `{"a":1`, `{"a" 1}`, `{"a":1}}`, `{"a":1,}`, `{a:1}`, `{"a":[1}`, `{"a":"\"}`, "{\"a\":1} x"} {
		out, res := s.Shape([]byte(doc))
		if !res.NotObject || res.Changed || string(out) != doc {
			t.Errorf("%q: got %q %+v, want it unchanged and NotObject", doc, out, res)
		}
	}
}

func TestFromRoute(t *testing.T) {
	if _, ok := FromRoute(config.Route{}); ok {
		t.Error("a route without shaping settings gave a Config")
	}
	off, tgt := false, "labels"
	c, ok := FromRoute(config.Route{
		DropFields:   []string{"a"},
		RenameFields: &config.RenameFields{Fields: []config.Rename{{From: "x", To: "y"}}, FailOnError: &off, IgnoreMissing: true},
		AddFields:    &config.AddFields{Target: &tgt, Fields: config.AnyFields{"k": 1}},
	})
	want := Config{Drop: []string{"a"}, Rename: []config.Rename{{From: "x", To: "y"}}, IgnoreMissing: true, AddTarget: "labels", Add: map[string]any{"k": 1}}
	if !ok || !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v %v, want %+v", c, ok, want)
	}
	c, _ = FromRoute(config.Route{RenameFields: &config.RenameFields{Fields: []config.Rename{{From: "x", To: "y"}}}})
	if !c.FailOnError || c.AddTarget != "fields" {
		t.Errorf("defaults not Filebeat's: %+v", c)
	}
}

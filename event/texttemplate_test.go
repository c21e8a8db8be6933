package event

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTextTemplate(t *testing.T) {
	doc := []byte(`{"event":{"module":"Zeek","dataset":"zeek.conn"},"host.name":"web-1","n":42,"f":1.5,"ok":false,` +
		`"esc":"a\"b\u00e9","empty":"","null":null,"obj":{"a":1},"arr":[1],"bad":"x\q"}`)
	e := &Event{Doc: doc, Time: time.Date(2024, 11, 26, 23, 59, 0, 0, time.UTC)}
	tests := []struct {
		tmpl string
		want string
		ok   bool
	}{
		{"_json", "_json", true},
		{"cisco:asa", "cisco:asa", true},
		{"%{[event][module]}", "Zeek", true},
		{"%{event.dataset}", "zeek.conn", true},
		{"%{host.name}", "web-1", true},
		{"kafka:%{n}/%{f}/%{ok}", "kafka:42/1.5/false", true},
		{"%{esc}", `a"bé`, true},
		{"sec-%{+yyyy.MM.dd}", "sec-2024.11.26", true},
		{"%{+xxxx.ww}", "2024.48", true},
		{"%{[nope]}", "", false},
		{"x-%{nope}-y", "", false},
		{"%{empty}", "", false},
		{"%{null}", "", false},
		{"%{obj}", "", false},
		{"%{arr}", "", false},
		{"%{bad}", "", false},
		{"%{[nope]:main}", "main", true},
		{"%{nope:main}", "main", true},
		{"%{[obj]:generic}", "generic", true},
		{"%{[event][module]:main}", "Zeek", true},
		{"%{[nope]:}", "", false},
		{"a%{[nope]:}", "a", true},
		{"%{[a:b]:c}", "c", true}, // the bracket form's default starts after the last ']'
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			tp, err := ParseTextTemplate(tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tp.Format(e)
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			b, ok2 := tp.AppendFormat([]byte("pre"), e)
			if ok2 != tt.ok || (ok2 && string(b) != "pre"+tt.want) || (!ok2 && string(b) != "pre") {
				t.Errorf("AppendFormat: %q, %v", b, ok2)
			}
			if tp.String() != tt.tmpl {
				t.Errorf("String() = %q", tp.String())
			}
		})
	}
}

func TestTextTemplateStatic(t *testing.T) {
	for tmpl, static := range map[string]bool{"main": true, "50%": true, "a%{b}": false, "%{+yyyy}": false} {
		tp, err := ParseTextTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if tp.IsStatic() != static {
			t.Errorf("%q: IsStatic %v", tmpl, tp.IsStatic())
		}
	}
	tp, _ := ParseTextTemplate("sec-%{[a]}-%{b:dflt}-%{+yyyy.MM}")
	if s := tp.Sample(); s != "sec-x-dflt-2024.12" {
		t.Errorf("Sample() = %q", s)
	}
	if !tp.UsesFields() {
		t.Error("UsesFields false")
	}
}

func TestParseTextTemplateErrors(t *testing.T) {
	for tmpl, msg := range map[string]string{
		"":               "empty",
		"a%{b":           "unclosed",
		"%{}":            "empty field name",
		"%{:x}":          "empty field name",
		"%{a..b}":        "empty field name",
		"%{[a]b}":        "invalid field reference",
		"%{+yyyy.QQ}":    "unknown date pattern letter",
		"%{+}":           "empty date pattern",
		"bad\xffutf8":    "UTF-8",
		"%{[a][]:deflt}": "empty field name",
	} {
		_, err := ParseTextTemplate(tmpl)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", tmpl, err, msg)
		}
	}
}

func FuzzTextTemplate(f *testing.F) {
	f.Add("sec-%{[event][module]:main}-%{+yyyy.MM.dd}", []byte(`{"event":{"module":"x"}}`), int64(0))
	f.Add("%{a.b}:%{c:}", []byte(`{"a":{"b":"\u00e9\ud800"},"c":1}`), int64(1700000000000))
	f.Add("%{[a]:%{b}}", []byte(`{"a":"\\"}`), int64(-1))
	f.Fuzz(func(t *testing.T, tmpl string, doc []byte, ms int64) {
		tp, err := ParseTextTemplate(tmpl)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		e := &Event{Doc: doc, Time: time.UnixMilli(ms)}
		got, ok := tp.Format(e)
		if ok == (got == "") {
			t.Fatalf("%q over %q = %q, %v", tmpl, doc, got, ok)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("%q over %q = %q: not UTF-8", tmpl, doc, got)
		}
		if tp.IsStatic() && got != tmpl {
			t.Fatalf("static %q rendered %q", tmpl, got)
		}
		_ = tp.Sample()
	})
}

package syslog

import (
	"strings"
	"testing"
	"unicode"
)

// TestCEFKeys checks the mapping table's keys: CEF extension keys are
// letters and digits only, and each appears once.
func TestCEFKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range cefDefaults {
		for _, r := range f.key {
			if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
				t.Errorf("key %q holds %q", f.key, r)
			}
		}
		if seen[f.key] {
			t.Errorf("key %q mapped twice", f.key)
		}
		seen[f.key] = true
	}
}

func TestCEFEscaping(t *testing.T) {
	for _, tc := range []struct{ in, header, value string }{
		{"plain", "plain", "plain"},
		{"a|b", `a\|b`, "a|b"},
		{`a\b`, `a\\b`, `a\\b`},
		{"a=b", "a=b", `a\=b`},
		{"a\nb", "a b", `a\nb`},
		{"a\r\nb", "a  b", `a\r\nb`},
		{`\|=`, `\\\|=`, `\\|\=`},
		{"ünï", "ünï", "ünï"},
	} {
		if got := string(appendCEFHeader(nil, tc.in, 100)); got != tc.header {
			t.Errorf("header %q: got %q, want %q", tc.in, got, tc.header)
		}
		if got := string(appendCEFValue(nil, tc.in)); got != tc.value {
			t.Errorf("value %q: got %q, want %q", tc.in, got, tc.value)
		}
	}
	// Cutting never splits a character.
	if got := string(appendCEFHeader(nil, "aü", 2)); got != "a" {
		t.Errorf("cut: got %q", got)
	}
}

func TestCEF(t *testing.T) {
	enc := &cefEncoder{vendor: "ACME|Corp", product: `Sec\Bridge`, version: "1.0", fields: cefDefaults}
	const prefix = `CEF:0|ACME\|Corp|Sec\\Bridge|1.0|`
	const tail = ` rt=1715929387123 cs2Label=kafka.topic cs2=events cs3Label=kafka.partition cs3=3 cn1Label=kafka.offset cn1=42`
	for _, tc := range []struct {
		name, doc, want string
	}{
		{
			name: "full mapping",
			doc: `{"@timestamp":"2024-05-17T07:03:07.123Z","message":"An account failed to log on.",
				"event":{"code":"4625","action":"logon-failed","outcome":"failure","severity":7,"id":"evt-1"},
				"source":{"ip":"203.0.113.5","port":50123},"destination":{"ip":"10.0.0.2","port":445,"user":{"name":"bob"}},
				"user":{"name":"alice"},"host":{"name":"dc01"},"process":{"name":"lsass.exe","pid":612},
				"network":{"transport":"tcp"},"url":{"original":"https://x.example/a?b=c"},"file":{"name":"a.txt"},
				"dns":{"question":{"name":"evil.example"}}}`,
			want: `4625|An account failed to log on.|7|src=203.0.113.5 spt=50123 dst=10.0.0.2 dpt=445 suser=alice duser=bob dvchost=dc01 sproc=lsass.exe spid=612 proto=tcp act=logon-failed outcome=failure request=https://x.example/a?b\=c fname=a.txt msg=An account failed to log on. externalId=evt-1 cs1Label=dns.question.name cs1=evil.example` + tail,
		},
		{
			name: "fallbacks: no code, no message",
			doc:  `{"@timestamp":"2024-05-17T07:03:07.123Z","event":{"action":"deny"},"log":{"level":"warning"}}`,
			want: `deny|deny|5|act=deny` + tail,
		},
		{
			name: "nothing known",
			doc:  `{"@timestamp":"2024-05-17T07:03:07.123Z"}`,
			want: `siembridge|event|1|` + tail[1:],
		},
		{
			name: "escaping in header and extension",
			doc: `{"@timestamp":"2024-05-17T07:03:07.123Z","message":"a|b\\c=d\ne",
				"event":{"code":"x|y"},"user":{"name":"dom\\user"},"file":{"name":"a=b|c\r\nd"}}`,
			want: `x\|y|a\|b\\c=d e|1|suser=dom\\user fname=a\=b|c\r\nd msg=a|b\\c\=d\ne` + tail,
		},
		{
			name: "severity clamped, bad integers left out",
			doc:  `{"@timestamp":"2024-05-17T07:03:07.123Z","event":{"severity":99},"source":{"port":"http"},"process":{"pid":1.5}}`,
			want: `siembridge|event|10|` + tail[1:],
		},
		{
			name: "empty values left out",
			doc:  `{"@timestamp":"2024-05-17T07:03:07.123Z","user":{"name":""},"source":{"ip":null}}`,
			want: `siembridge|event|1|` + tail[1:],
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(enc.appendBody(nil, newEvent("events", 3, 42, tc.doc)))
			want := prefix + tc.want
			if got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("raw line break in %q", got)
			}
		})
	}
}

// TestCEFParseBack splits a generated extension the way a receiver does
// (on " key=" where '=' is not escaped) and checks the values come back.
func TestCEFParseBack(t *testing.T) {
	values := []string{`a b=c`, `x\y`, "line1\nline2", `p|q`, `==`, `\`}
	for _, v := range values {
		doc := `{"user":{"name":` + quoteJSON(v) + `}}`
		got := string((&cefEncoder{vendor: "v", product: "p", version: "1", fields: cefDefaults}).appendBody(nil, newEvent("t", 0, 1, doc)))
		ext := got[strings.LastIndexByte(got[:strings.Index(got, "suser=")], '|')+1:]
		kv := parseExtension(ext)
		if kv["suser"] != v {
			t.Errorf("suser %q came back as %q from %q", v, kv["suser"], ext)
		}
	}
}

// parseExtension is a minimal CEF extension reader for the test.
func parseExtension(s string) map[string]string {
	out := map[string]string{}
	var key string
	var val strings.Builder
	flush := func() {
		if key != "" {
			out[key] = strings.TrimRight(val.String(), " ")
		}
		val.Reset()
	}
	i := 0
	readKey := func() {
		j := strings.IndexByte(s[i:], '=')
		key = s[i : i+j]
		i += j + 1
	}
	readKey()
	for i < len(s) {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				val.WriteByte('\n')
			case 'r':
				val.WriteByte('\r')
			default:
				val.WriteByte(s[i+1])
			}
			i += 2
			continue
		}
		if c == ' ' {
			// A new key starts when letters/digits up to an unescaped '='.
			j := i + 1
			for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if j < len(s) && j > i+1 && s[j] == '=' {
				flush()
				i++
				readKey()
				continue
			}
		}
		val.WriteByte(c)
		i++
	}
	flush()
	return out
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

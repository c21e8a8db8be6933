package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
)

var t0 = time.Date(2024, 5, 17, 9, 3, 7, 123456789, time.FixedZone("CEST", 2*3600))

func newEvent(topic string, partition int32, offset int64, doc string) *event.Event {
	return event.New(topic, partition, offset, t0, nil, []byte(doc))
}

func TestAppendSanitized(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "web-01.dmz.example.net", 255, "web-01.dmz.example.net"},
		{"empty", "", 255, "-"},
		{"space and tab", "my host\tname", 255, "my_host_name"},
		{"control", "a\x00b\x7fc", 255, "a_b_c"},
		{"multibyte rune is one underscore", "hôte-ü", 255, "h_te-_"},
		{"invalid utf8", "a\xffb", 255, "a_b"},
		{"cut", strings.Repeat("x", 300), 255, strings.Repeat("x", 255)},
		{"cut msgid", "Process Create (rule: ProcessCreate)", 32, "Process_Create_(rule:_ProcessCre"},
		{"only spaces", "   ", 3, "___"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sanitize(tc.in, tc.max); got != tc.want {
				t.Errorf("sanitize(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func TestAppendSDValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"events", "events"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{`a]b`, `a\]b`},
		{`"\]`, `\"\\\]`},
		{"ünï", "ünï"},
		{"a\xffb", "a\uFFFDb"},
		{"[x=y]", `[x=y\]`},
	} {
		if got := string(appendSDValue(nil, tc.in)); got != tc.want {
			t.Errorf("appendSDValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want int
	}{
		{`{}`, 6},
		{`{"log":{"level":"error"}}`, 3},
		{`{"log.level":"WARNING"}`, 4},
		{`{"log":{"level":"emerg"}}`, 0},
		{`{"log":{"level":"debug"}}`, 7},
		{`{"log":{"level":"bogus"},"event":{"severity":9}}`, 2},
		{`{"event":{"severity":10}}`, 2},
		{`{"event":{"severity":73}}`, 2},
		{`{"event":{"severity":7}}`, 3},
		{`{"event":{"severity":5}}`, 4},
		{`{"event":{"severity":"2"}}`, 5},
		{`{"event":{"severity":0}}`, 6},
		{`{"event":{"severity":-1}}`, 6},
		{`{"event":{"severity":"high"}}`, 6},
		{`{"log":{"level":"info"},"event":{"severity":10}}`, 6},
	} {
		if got := severityOf([]byte(tc.doc)); got != tc.want {
			t.Errorf("severityOf(%s) = %d, want %d", tc.doc, got, tc.want)
		}
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ev       *event.Event
		facility int
		host     string
		want     string
	}{
		{
			name: "defaults", facility: 1, host: "h",
			ev:   newEvent("events", 3, 42, `{"@timestamp":"2024-05-17T07:03:07.123456Z"}`),
			want: `<14>1 2024-05-17T07:03:07.123Z h siembridge - - [kafka@32473 topic="events" partition="3" offset="42"] `,
		},
		{
			name: "local time becomes UTC, msgid from event.action", facility: 4, host: "h",
			ev:   newEvent("t", 0, 0, `{"event":{"action":"logon failed","severity":9}}`),
			want: `<34>1 2024-05-17T07:03:07.123Z h siembridge - logon_failed [kafka@32473 topic="t" partition="0" offset="0"] `,
		},
		{
			name: "facility 23 debug", facility: 23, host: "-",
			ev:   newEvent("t", 1, 9, `{"log":{"level":"debug"}}`),
			want: `<191>1 2024-05-17T07:03:07.123Z - siembridge - - [kafka@32473 topic="t" partition="1" offset="9"] `,
		},
		{
			name: "no time", facility: 0, host: "h",
			ev:   &event.Event{Topic: "t", Doc: []byte(`{}`)},
			want: `<6>1 - h siembridge - - [kafka@32473 topic="t" partition="0" offset="0"] `,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendHeader(nil, tc.ev, tc.facility, tc.host, "siembridge"))
			if got != tc.want {
				t.Errorf("header\n got %q\nwant %q", got, tc.want)
			}
			m, err := syslogfake.ParseMessage([]byte(got + "{}"))
			if err != nil {
				t.Fatalf("the strict parser rejects it: %v", err)
			}
			if off, _ := m.Param("kafka@32473", "offset"); off == "" {
				t.Errorf("no offset parameter in %+v", m.StructuredData)
			}
		})
	}
}

// TestHostField checks that HOSTNAME comes from host_field, sanitized, and
// falls back to this host.
func TestHostField(t *testing.T) {
	s := &Sink{facility: 1, appName: "app", host: "fallback", hostField: "host.name"}
	for _, tc := range []struct{ doc, want string }{
		{`{"host":{"name":"web-01"}}`, "web-01"},
		{`{"host":{"name":"web 01\n"}}`, "web_01_"},
		{`{"host":{"name":""}}`, "fallback"},
		{`{"host":{"name":"` + strings.Repeat("a", 260) + `"}}`, strings.Repeat("a", 255)},
		{`{}`, "fallback"},
	} {
		m, err := syslogfake.ParseMessage(s.appendMessage(nil, newEvent("t", 0, 1, tc.doc)))
		if err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		if m.Hostname != tc.want {
			t.Errorf("%.40s: hostname %q, want %q", tc.doc, m.Hostname, tc.want)
		}
	}
}

// TestSDRoundTrip sends awkward topic names (which Kafka would not allow,
// but the escaping must not depend on that) through the strict parser.
func TestSDRoundTrip(t *testing.T) {
	for _, topic := range []string{`plain`, `with"quote`, `back\slash`, `close]bracket`, `all"\]three`, `trailing\`} {
		b := appendHeader(nil, newEvent(topic, 2, 7, `{}`), 1, "h", "app")
		m, err := syslogfake.ParseMessage(b)
		if err != nil {
			t.Fatalf("topic %q: %v in %q", topic, err, b)
		}
		if got, _ := m.Param(sdID, "topic"); got != topic {
			t.Errorf("topic %q came back as %q", topic, got)
		}
	}
}

func TestJSONBody(t *testing.T) {
	got := string(appendJSONBody([]byte("x "), []byte("{\n  \"a\": \"b\\nc\"\r\n}")))
	if want := `x {   "a": "b\nc"  }`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

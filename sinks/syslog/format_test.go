package syslog

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
	"github.com/siembridge/siembridge/sinks"
)

func TestBuildMapping(t *testing.T) {
	defaults := []extField{{key: "src", ecs: "source.ip"}, {key: "spt", ecs: "source.port", integer: true}, {key: "dvchost", ecs: "host.name"}}
	for _, tc := range []struct {
		name      string
		overrides map[string]string
		want      []extField
	}{
		{"none", nil, defaults},
		{"override keeps place and type", map[string]string{"spt": "client.port"},
			[]extField{{key: "src", ecs: "source.ip"}, {key: "spt", ecs: "client.port", integer: true}, {key: "dvchost", ecs: "host.name"}}},
		{"empty removes", map[string]string{"dvchost": ""},
			[]extField{{key: "src", ecs: "source.ip"}, {key: "spt", ecs: "source.port", integer: true}}},
		{"added after defaults, sorted, integer by key", map[string]string{"zeta": "a.b", "cnt": "event.count", "gone": ""},
			append(slices.Clone(defaults), extField{key: "cnt", ecs: "event.count", integer: true}, extField{key: "zeta", ecs: "a.b"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildMapping(defaults, tc.overrides, cefIntegerKeys); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestReservedKeysMatch: config refuses mappings to the keys the encoders
// write themselves; the lists must name every such key.
func TestReservedKeysMatch(t *testing.T) {
	e := newEvent("t", 1, 2, `{"@timestamp":"2024-05-17T07:03:07.123Z","dns":{"question":{"name":"x"}}}`)
	cef := string((&cefEncoder{fields: nil}).appendBody(nil, e))
	for _, kv := range strings.Split(cef[strings.LastIndexByte(cef, '|')+1:], " ") {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(configCEFReserved(), k) {
			t.Errorf("CEF key %s is written without a mapping but not reserved in config", k)
		}
	}
	l, err := syslogfake.ParseLEEF(string((&leefEncoder{delim: '\t'}).appendBody(nil, e)))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range l.Attrs {
		if !slices.Contains(configLEEFReserved(), a.Name) {
			t.Errorf("LEEF key %s is written without a mapping but not reserved in config", a.Name)
		}
	}
}

func TestLEEF(t *testing.T) {
	doc := `{"@timestamp":"2024-05-17T07:03:07.123Z","message":"login failed","event":{"code":"4625","action":"logon-failed","outcome":"failure","severity":0,"id":"e1"},
		"source":{"ip":"203.0.113.5","port":50123,"bytes":"many"},"destination":{"ip":"10.0.0.2","port":445},"user":{"name":"ali\tce"},
		"host":{"name":"dc01"},"observer":{"vendor":"Micro|soft","product":"Windows"}}`
	enc := &leefEncoder{vendor: "siembridge", product: "siembridge", version: "1.0", delim: '\t', fields: leefDefaults}
	got := string(enc.appendBody(nil, newEvent("events", 3, 42, doc)))
	want := "LEEF:2.0|Micro\\|soft|Windows|1.0|4625|x09|" + strings.Join([]string{
		"devTime=2024-05-17T07:03:07.123+0000", "devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ", "sev=1",
		"src=203.0.113.5", "srcPort=50123", "dst=10.0.0.2", "dstPort=445", "usrName=ali ce", "identHostName=dc01",
		"cat=logon-failed", "outcome=failure", "msg=login failed", "externalId=e1",
		"kafkaTopic=events", "kafkaPartition=3", "kafkaOffset=42"}, "\t")
	if got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	l, err := syslogfake.ParseLEEF(got)
	if err != nil {
		t.Fatal(err)
	}
	if l.Vendor != "Micro|soft" || l.Delimiter != '\t' {
		t.Errorf("parsed back %+v", l)
	}
	caret := &leefEncoder{vendor: "v", product: "p", version: "1", delim: '^', fields: buildMapping(leefDefaults, map[string]string{"usrName": "", "acct": "user.name"}, leefIntegerKeys)}
	got = string(caret.appendBody(nil, newEvent("t", 0, 1, `{"user":{"name":"a^b=c"}}`)))
	if !strings.HasPrefix(got, "LEEF:2.0|v|p|1|siembridge|^|") || !strings.Contains(got, "^acct=a b=c^") || strings.Contains(got, "usrName") {
		t.Errorf("caret delimiter, remapped key: %q", got)
	}
}

// FuzzLEEFRoundTrip: whatever the event holds, the LEEF line parses with
// syslogfake's strict parser, and header fields and values come back
// (values with the delimiter, CR and LF as spaces).
func FuzzLEEFRoundTrip(f *testing.F) {
	f.Add("ACME", "a|b\\c", "x\ty^z=w\r\n", byte('\t'))
	f.Add("", "", "", byte('^'))
	f.Fuzz(func(t *testing.T, vendor, code, value string, delim byte) {
		if _, err := config.LEEFDelimiter(string(delim)); err != nil {
			return // config refuses this delimiter
		}
		doc := `{"event":{"code":` + jsonString(code) + `},"user":{"name":` + jsonString(value) + `}}`
		if _, ok := event.Field([]byte(doc), "user.name"); !ok {
			return // not JSON the field reader takes (e.g. invalid UTF-8)
		}
		enc := &leefEncoder{vendor: vendor, product: "p", version: "1", delim: delim, fields: leefDefaults}
		line := string(enc.appendBody(nil, newEvent("t", 0, 1, doc)))
		l, err := syslogfake.ParseLEEF(line)
		if err != nil {
			t.Fatalf("%q does not parse: %v", line, err)
		}
		clean := func(s string) string {
			return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		}
		wantVendor := clean(vendor)
		if vendor == "" {
			wantVendor = ""
		}
		if l.Vendor != wantVendor || l.Delimiter != delim {
			t.Fatalf("vendor %q delim %q came back as %q %q from %q", vendor, delim, l.Vendor, l.Delimiter, line)
		}
		wantCode, _ := event.Field([]byte(doc), "event.code")
		if wantCode == "" {
			wantCode = "siembridge"
		}
		if l.EventID != clean(wantCode) {
			t.Fatalf("event id %q came back as %q", wantCode, l.EventID)
		}
		v, _ := event.Field([]byte(doc), "user.name")
		got, ok := l.Attr("usrName")
		if want := strings.ReplaceAll(clean(v), string(delim), " "); v != "" && (!ok || got != want) {
			t.Fatalf("usrName %q came back as %q (%v) from %q", want, got, ok, line)
		}
	})
}

// jsonString is s as a JSON string (invalid UTF-8 becomes U+FFFD).
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func TestHeader3164(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, app, doc string
		when           time.Time
		want           string
	}{
		{"event time, padded day", "siembridge", `{"log":{"level":"error"}}`, time.Date(2024, 5, 7, 7, 3, 7, 0, time.FixedZone("x", 3600)), "<11>May  7 06:03:07 host siembridge: "},
		{"no time: now", "app", `{}`, time.Time{}, "<14>Jan  2 03:04:05 host app: "},
		{"tag sanitized and cut", "a:b[1]" + strings.Repeat("x", 40), `{}`, now, "<14>Jan  2 03:04:05 host a_b_1_" + strings.Repeat("x", 26) + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := event.New("t", 0, 0, tc.when, nil, []byte(tc.doc))
			e.Time = tc.when
			if got := string(appendHeader3164(nil, e, 1, "host", tc.app, now)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRFC3164NewlineFraming sends CEF bodies in RFC 3164 messages with
// newline framing to a receiver parsing exactly that; values with line
// breaks must not split a message.
func TestRFC3164NewlineFraming(t *testing.T) {
	f := startFake(t, syslogfake.Options{Framing: "newline", RFC3164: true})
	cfg := testConfig(f.Addr())
	cfg.RFC, cfg.Framing, cfg.Format = "rfc3164", "newline", "cef"
	s := newSink(t, cfg)
	batch := batchOf(0, 5)
	batch = append(batch, newEvent("events", 0, 5, `{"@timestamp":"2024-05-17T07:03:07.123Z","message":"two\nlines\r\n"}`))
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "6 messages", func() bool { return f.Count() >= 6 })
	for i, m := range f.Messages() {
		if m.AppName != "siembridge" || !strings.HasPrefix(m.Msg, "CEF:0|") || m.TimestampText != "May 17 07:03:07" {
			t.Errorf("message %d: %+v", i, m)
		}
		if !strings.HasSuffix(m.Msg, " cn1="+string(rune('0'+i))) {
			t.Errorf("message %d out of order or cut: %q", i, m.Msg)
		}
	}
}

func TestUDP(t *testing.T) {
	f := startFake(t, syslogfake.Options{Network: "udp", MaxMessageBytes: 2048})
	cfg := testConfig(f.Addr())
	cfg.Network, cfg.MaxMessageBytes = "udp", 2048
	s := newSink(t, cfg)
	batch := batchOf(0, 20)
	big := newEvent("events", 0, 20, `{"x":"`+strings.Repeat("y", 3000)+`"}`)
	err := s.Send(context.Background(), append(batch, big))
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 20 || be.Items[0].Outcome != sinks.Reject ||
		!strings.Contains(be.Items[0].Reason, "exceeds max_message_bytes 2048") {
		t.Fatalf("want only the oversized message rejected, got %v", err)
	}
	// Loopback does not drop: every datagram arrives, one message each.
	assertOffsets(t, f, 20)
	if err := s.Probe(context.Background()); err != nil {
		t.Errorf("probe: %v", err)
	}
}

// TestUDPRefused: with nothing listening, the kernel reports the ICMP
// port unreachable of one datagram on a later write; the sink turns that
// into a retry and a new socket, and delivers once a receiver is back.
func TestUDPRefused(t *testing.T) {
	f := startFake(t, syslogfake.Options{Network: "udp"})
	addr := f.Addr()
	cfg := testConfig(addr)
	cfg.Network, cfg.MaxMessageBytes = "udp", 8192
	s := newSink(t, cfg)
	f.Refuse()
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		err = s.Send(context.Background(), batchOf(0, 2))
		time.Sleep(time.Millisecond)
	}
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Retry {
		t.Fatalf("want a retryable error once the port is closed, got %v", err)
	}
	if err := f.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), batchOf(0, 3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 messages", func() bool { return f.Count() >= 3 })
}

func TestObserverIdentity(t *testing.T) {
	enc := &cefEncoder{vendor: "dv", product: "dp", version: "dver", fields: cefDefaults}
	for _, tc := range []struct{ doc, want string }{
		{`{}`, "CEF:0|dv|dp|dver|"},
		{`{"observer":{"vendor":"Palo Alto Networks","product":"PAN-OS","version":"11.1"}}`, "CEF:0|Palo Alto Networks|PAN-OS|11.1|"},
		{`{"observer":{"vendor":"Fortinet"}}`, "CEF:0|Fortinet|dp|dver|"},
	} {
		if got := string(enc.appendBody(nil, newEvent("t", 0, 0, tc.doc))); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want prefix %q", tc.doc, got, tc.want)
		}
	}
}

func TestCEFMappingFromConfig(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	cfg := testConfig(f.Addr())
	cfg.Format = "cef"
	cfg.CEF.Mapping = map[string]string{"dvchost": "", "shost": "host.name", "cs4": "rule.name"}
	s := newSink(t, cfg)
	doc := `{"@timestamp":"2024-05-17T07:03:07.123Z","host":{"name":"web1"},"rule":{"name":"R-7"}}`
	if err := s.Send(context.Background(), []*event.Event{newEvent("t", 0, 0, doc)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 message", func() bool { return f.Count() == 1 })
	msg := f.Messages()[0].Msg
	if !strings.Contains(msg, "|shost=web1 cs4=R-7 rt=") || strings.Contains(msg, "dvchost") {
		t.Errorf("mapping not applied: %q", msg)
	}
}

package splunkhec

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/sinks"
)

func boolPtr(b bool) *bool { return &b }

// TestEnvelopeMetadata: index, sourcetype, source and host as templates
// over the event.
func TestEnvelopeMetadata(t *testing.T) {
	doc := `{"event":{"module":"Zeek","dataset":"zeek.conn"},"host":{"name":"web-1"},"observer":{"vendor":"Palo Alto"},"n":42,"obj":{"a":1}}`
	tests := []struct {
		name string
		cfg  config.SplunkHEC
		want string // the metadata members, as they appear
	}{
		{"static", config.SplunkHEC{Index: "main", Sourcetype: "_json", Source: "kafka", Host: "bridge"},
			`"host":"bridge","source":"kafka","sourcetype":"_json","index":"main"`},
		{"fields", config.SplunkHEC{Index: "sec-%{[event][module]}", Sourcetype: "%{event.dataset}", Source: "kafka:%{n}", Host: "%{[host][name]}"},
			`"host":"web-1","source":"kafka:42","sourcetype":"zeek.conn","index":"sec-zeek"`},
		{"index made a Splunk index name", config.SplunkHEC{Index: "fw-%{[observer][vendor]}"},
			`"index":"fw-palo_alto"`},
		{"index with a date", config.SplunkHEC{Index: "sec-%{+yyyy.MM}"},
			`"index":"sec-2024_11"`},
		{"missing field left out", config.SplunkHEC{Index: "x-%{[nope]}", Sourcetype: "_json"},
			`"sourcetype":"_json"`},
		{"missing field with a default", config.SplunkHEC{Index: "%{[nope]:main}", Sourcetype: "%{[obj]:generic}"},
			`"sourcetype":"generic","index":"main"`},
		{"host_field before host", config.SplunkHEC{HostField: "host.name", Host: "%{[nope]:fallback}"},
			`"host":"web-1"`},
		{"host template when host_field is missing", config.SplunkHEC{HostField: "nope", Host: "%{[observer][vendor]:fallback}"},
			`"host":"Palo Alto"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.KafkaFields = boolPtr(false)
			env, err := newEnvelope(&tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := string(env.appendEvent(nil, mkEvent("fw", 0, 1, doc)))
			want := `{"time":1732662000.123,` + tt.want + `,"event":` + doc + "}\n"
			if tt.want == "" {
				want = `{"time":1732662000.123,"event":` + doc + "}\n"
			}
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// TestEnvelopeFields: configured indexed fields, in the form HEC documents
// (strings, arrays of strings), with or without the kafka_* fields.
func TestEnvelopeFields(t *testing.T) {
	doc := `{"user":{"name":"alice"},"port":443,"ok":true,"ips":["10.0.0.1",7,null,{"x":1},"",false],"empty":"","obj":{"a":1},"none":null,"no":[],"esc":"a\"b\\u00e9"}`
	tests := []struct {
		name   string
		kafka  bool
		fields map[string]string
		want   string // the fields member, "" for none
	}{
		{"kafka only", true, nil, `,"fields":{"kafka_topic":"fw","kafka_partition":"0","kafka_offset":"1"}`},
		{"nothing", false, nil, ``},
		{"scalars", false, map[string]string{"user": "user.name", "port": "port", "ok": "ok", "esc": "esc"},
			`,"fields":{"esc":"a\"b\\u00e9","ok":"true","port":"443","user":"alice"}`},
		{"array", false, map[string]string{"ips": "ips"}, `,"fields":{"ips":["10.0.0.1","7","false"]}`},
		{"left out", false, map[string]string{"a": "empty", "b": "obj", "c": "none", "d": "missing", "e": "no"}, ``},
		{"with kafka", true, map[string]string{"user": "user.name", "gone": "missing"},
			`,"fields":{"kafka_topic":"fw","kafka_partition":"0","kafka_offset":"1","user":"alice"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := newEnvelope(&config.SplunkHEC{KafkaFields: boolPtr(tt.kafka), Fields: tt.fields})
			if err != nil {
				t.Fatal(err)
			}
			got := string(env.appendEvent(nil, mkEvent("fw", 0, 1, doc)))
			want := `{"time":1732662000.123,"event":` + doc + tt.want + "}\n"
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// TestSendTemplatesAndFields: the metadata and indexed fields as HEC (the
// fake, which checks "fields" as Splunk documents it) stores them.
func TestSendTemplatesAndFields(t *testing.T) {
	hec := startHEC(t, hecfake.Options{})
	cfg := baseConfig(hec.URL())
	cfg.Index, cfg.Sourcetype, cfg.Host = "sec-%{[event][module]:other}", "%{[event][dataset]:_json}", "%{[host][name]:bridge}"
	cfg.Fields = map[string]string{"user": "user.name", "src_ip": "source.ip", "tags": "tags"}
	s := newSink(t, cfg)
	batch := []*event.Event{
		mkEvent("fw", 1, 10, `{"event":{"module":"zeek","dataset":"zeek.conn"},"host":{"name":"sensor-1"},"user":{"name":"bob"},"source":{"ip":"10.1.1.1"},"tags":["a","b"]}`),
		mkEvent("fw", 1, 11, `{"message":"no metadata fields"}`),
	}
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	evs := hec.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if e := evs[0]; e.Index != "sec-zeek" || e.Sourcetype != "zeek.conn" || e.Host != "sensor-1" ||
		e.Fields["user"] != "bob" || e.Fields["src_ip"] != "10.1.1.1" || strings.Join(e.FieldValues["tags"], "|") != "a|b" || e.Fields["kafka_offset"] != "10" {
		t.Errorf("event 0: %+v", e)
	}
	if e := evs[1]; e.Index != "sec-other" || e.Sourcetype != "_json" || e.Host != "bridge" || len(e.Fields) != 3 {
		t.Errorf("event 1: %+v", e)
	}
}

// TestPerEventIndexRefused: an index taken from the event that the token
// does not allow is that event's problem: it is blocked (held, never
// dead-lettered) and the other events are retried; a configured index the
// token does not allow takes the sink down (TestRequestFailures).
func TestPerEventIndexRefused(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Indexes: []string{"main", "fw"}})
	cfg := baseConfig(hec.URL())
	cfg.Index = "%{[idx]:main}"
	s := newSink(t, cfg)
	batch := []*event.Event{
		mkEvent("t", 0, 0, `{"idx":"fw"}`),
		mkEvent("t", 0, 1, `{"idx":"secret"}`),
		mkEvent("t", 0, 2, `{}`),
	}
	err := s.Send(context.Background(), batch)
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Items) != 3 {
		t.Fatalf("got %v, want a BatchError for the 3 events", err)
	}
	want := []sinks.Outcome{sinks.Retry, sinks.Blocked, sinks.Retry}
	for i, it := range be.Items {
		if it.Index != i || it.Outcome != want[i] {
			t.Errorf("item %d: %+v, want %v", i, it, want[i])
		}
	}
	if !strings.Contains(be.Items[1].Reason, "Incorrect index") {
		t.Errorf("reason %q", be.Items[1].Reason)
	}
	if err := s.Send(context.Background(), []*event.Event{batch[0], batch[2]}); err != nil {
		t.Fatalf("the others, again: %v", err)
	}
	if evs := hec.Events(); len(evs) != 2 || evs[0].Index != "fw" || evs[1].Index != "main" {
		t.Errorf("stored %+v", evs)
	}
}

// TestRawLines: what the raw endpoint gets for each kind of event.
func TestRawLines(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	tests := []struct {
		name  string
		value string
		want  string // "" for refused
	}{
		{"text", "<134>Nov 26 fw-1 deny tcp 10.0.0.1", "<134>Nov 26 fw-1 deny tcp 10.0.0.1\n"},
		{"JSON object as it is", `{"a": 1}`, `{"a": 1}` + "\n"},
		{"JSON object over lines", "{\"a\":\r\n 1}", `{"a":   1}` + "\n"},
		{"line breaks inside", "first\nsecond\r\nthird", "first second  third\n"},
		{"invalid UTF-8", "caf\xe9", "caf\uFFFD\n"},
		{"JSON that is not an object", `[1,2]`, "[1,2]\n"},
		{"empty", "", ""},
		{"blank", " \t\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.New("t", 0, 0, ts, nil, []byte(tt.value))
			got, ok := appendRaw([]byte("x"), e)
			if ok != (tt.want != "") || string(got) != "x"+tt.want {
				t.Errorf("got %q, %v; want %q", got, ok, "x"+tt.want)
			}
		})
	}
}

// TestRawEndpoint: endpoint raw against the fake, which reads the body as
// Splunk does (one event per line, metadata from the query, a channel
// required even without ack).
func TestRawEndpoint(t *testing.T) {
	for _, tt := range []struct {
		name string
		ack  bool
		gzip bool
	}{{"plain", false, false}, {"gzip", false, true}, {"ack", true, false}} {
		t.Run(tt.name, func(t *testing.T) {
			hec := startHEC(t, hecfake.Options{Ack: tt.ack, AckDelay: 50 * time.Millisecond, Indexes: []string{"net"}})
			cfg := baseConfig(hec.URL())
			cfg.Endpoint, cfg.Sourcetype, cfg.Index, cfg.Host, cfg.Source = "raw", "cisco:asa", "net", "fw-1", "kafka"
			cfg.Ack, cfg.Gzip = tt.ack, tt.gzip
			s := newSink(t, cfg)
			if s.Channel() == "" {
				t.Fatal("no channel: the raw endpoint requires one")
			}
			ts := time.Unix(1700000000, 0)
			batch := []*event.Event{
				event.New("fw", 0, 1, ts, nil, []byte("%ASA-4-106023: Deny tcp src outside:10.0.0.1/1234")),
				event.New("fw", 0, 2, ts, nil, []byte("  ")),
				event.New("fw", 0, 3, ts, nil, []byte(`{"json":"object"}`)),
				event.New("fw", 0, 4, ts, nil, []byte("two\nlines")),
			}
			ack, err := s.SendPending(context.Background(), batch)
			if tt.ack {
				if err != nil || ack == nil {
					t.Fatalf("SendPending: %v, want an ack to wait for", err)
				}
				err = ack(context.Background())
			}
			var be *sinks.BatchError
			if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 || be.Items[0].Outcome != sinks.Reject {
				t.Fatalf("got %v, want the blank event rejected", err)
			}
			evs := hec.Events()
			want := []string{"%ASA-4-106023: Deny tcp src outside:10.0.0.1/1234", `{"json":"object"}`, "two lines"}
			if len(evs) != len(want) {
				t.Fatalf("stored %+v", evs)
			}
			for i, e := range evs {
				if e.Raw != want[i] || e.Sourcetype != "cisco:asa" || e.Index != "net" || e.Host != "fw-1" || e.Source != "kafka" || e.Channel != s.Channel() {
					t.Errorf("event %d: %+v", i, e)
				}
			}
		})
	}
}

// TestRawEndpointMetadataOmitted: without sourcetype (the raw default) the
// query carries only what is set, and HEC applies the token's defaults.
func TestRawEndpointMetadataOmitted(t *testing.T) {
	cfg := config.SplunkHEC{Endpoint: "raw", Index: "net"}
	if q := rawQuery(&cfg); q != "index=net" {
		t.Errorf("query %q", q)
	}
	cfg.Sourcetype, cfg.Host = "cisco:asa", "a b&c"
	if q := rawQuery(&cfg); q != "host=a+b%26c&index=net&sourcetype=cisco%3Aasa" {
		t.Errorf("query %q", q)
	}
}

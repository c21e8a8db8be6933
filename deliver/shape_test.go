package deliver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
)

// docSink keeps every event it is sent.
type docSink struct {
	mu   sync.Mutex
	sent []*event.Event
}

func (s *docSink) Send(_ context.Context, batch []*event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, batch...)
	return nil
}
func (s *docSink) Probe(context.Context) error { return nil }
func (s *docSink) Close() error                { return nil }

// volumeRoute is a route with a filter, sampling and shaping.
func volumeRoute(t *testing.T) config.Route {
	t.Helper()
	c := config.Config{Routes: []config.Route{{
		Name: "r", Topics: []string{"t"}, Sink: config.Sink{Type: "null"},
		Filter:     &config.Filter{Expr: `!exists("event.action") || event.action != "heartbeat"`},
		Sample:     &config.Sample{Rate: 0.2, Key: "source.ip", When: `event.dataset == "dns"`},
		DropFields: []string{"agent", "event.original"},
		AddFields:  &config.AddFields{Fields: config.AnyFields{"site": "fra1"}},
	}}}
	c.ApplyDefaults()
	return c.Routes[0]
}

// volumeEvents: DNS and auth events from 50 addresses, heartbeats, and
// records that are not JSON.
func volumeEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		var v string
		switch {
		case i%10 == 9:
			v = fmt.Sprintf("plain text line %d", i)
		case i%10 == 8:
			v = `{"event":{"action":"heartbeat"},"agent":{"id":"x"}}`
		default:
			ds := "dns"
			if i%3 == 0 {
				ds = "auth"
			}
			v = fmt.Sprintf(`{"@timestamp":"2026-11-29T10:00:00Z","event":{"dataset":"%s","action":"a","original":"%s"},"source":{"ip":"10.0.0.%d"},"agent":{"id":"a1","version":"8"}}`,
				ds, strings.Repeat("x", 100), i%50)
		}
		evs[i] = event.New("t", 1, int64(i), time.Unix(0, 0), nil, []byte(v))
	}
	return evs
}

// TestVolume: the stage sends only the filter's events, a sample of DNS
// by source.ip (all events of an address together), every auth event,
// shaped, and the records that are not JSON as they were; the counters
// add up, the bytes delivered are the shaped bytes and the IDs are the
// records'. A second stage (a replay, another process) sends the same.
func TestVolume(t *testing.T) {
	rc := volumeRoute(t)
	f, err := filter.New(rc.Filter)
	if err != nil {
		t.Fatal(err)
	}
	run := func() (*docSink, *Counters) {
		sink := &docSink{}
		r, err := ForRoute(rc, sink, RouteOptions{Log: quiet, Filter: f.Accepts})
		if err != nil {
			t.Fatal(err)
		}
		evs := volumeEvents(1000)
		for i := 0; i < len(evs); i += 100 {
			if err := r.Stage.Deliver(context.Background(), context.Background(), evs[i:i+100]); err != nil {
				t.Fatal(err)
			}
		}
		return sink, r.Stage.Counters()
	}
	sink, c := run()

	in := volumeEvents(1000)
	var inBytes, heartbeatBytes int64
	inDNS, inAuth := 0, 0
	dnsByIP := map[string]int{}
	for _, ev := range in {
		inBytes += int64(ev.Size())
		switch v := string(ev.Value); {
		case strings.Contains(v, "heartbeat"):
			heartbeatBytes += int64(ev.Size())
		case strings.Contains(v, `"dns"`):
			inDNS++
		case strings.Contains(v, `"auth"`):
			inAuth++
		}
	}
	sentDNS, sentAuth, sentPlain := 0, 0, 0
	var sentBytes int64
	for _, ev := range sink.sent {
		sentBytes += int64(ev.Size())
		orig := in[ev.Offset]
		if ev.ID() != orig.ID() || ev.Partition != 1 {
			t.Fatalf("event %d sent as %s", ev.Offset, ev.ID())
		}
		if ev.Wrapped {
			sentPlain++
			if string(ev.Doc) != string(orig.Doc) {
				t.Errorf("a record that is not JSON was changed: %s", ev.Doc)
			}
			continue
		}
		doc := string(ev.Doc)
		if strings.Contains(doc, `"agent"`) || strings.Contains(doc, `"original"`) || !strings.Contains(doc, `"fields":{"site":"fra1"}`) {
			t.Errorf("not shaped: %s", doc)
		}
		if string(ev.Value) != string(orig.Value) {
			t.Errorf("Value changed: %s", ev.Value)
		}
		ds, _ := event.Field(ev.Doc, "event.dataset")
		ip, _ := event.Field(ev.Doc, "source.ip")
		switch ds {
		case "dns":
			sentDNS++
			dnsByIP[ip]++
		case "auth":
			sentAuth++
		default:
			t.Errorf("sent %s", doc)
		}
	}
	if sentPlain != 100 || sentAuth != inAuth {
		t.Errorf("sent %d plain and %d auth events, want 100 and %d (all)", sentPlain, sentAuth, inAuth)
	}
	for ip, n := range dnsByIP {
		// Every DNS event of an address has the same sampling answer.
		want := 0
		for _, ev := range in {
			if s := string(ev.Value); strings.Contains(s, `"dns"`) && strings.Contains(s, `"ip":"`+ip+`"`) {
				want++
			}
		}
		if n != want {
			t.Errorf("%s: %d of its %d DNS events sent", ip, n, want)
		}
	}
	if sentDNS == 0 || sentDNS > inDNS*35/100 {
		t.Errorf("%d of %d DNS events sent at a rate of 0.2", sentDNS, inDNS)
	}

	checks := []struct {
		name      string
		got, want int64
	}{
		{"filtered", c.Filtered.Load(), 100},
		{"filtered bytes", c.FilteredBytes.Load(), heartbeatBytes},
		{"sampled out", c.SampledOut.Load(), int64(inDNS - sentDNS)},
		{"shaped", c.Shaped.Load(), int64(sentDNS + sentAuth)},
		{"not JSON", c.NotJSON.Load(), 100},
		{"delivered", c.Delivered.Load(), int64(len(sink.sent))},
		{"delivered bytes are the shaped bytes", c.DeliveredBytes.Load(), sentBytes},
		{"volume in", c.VolumeInBytes.Load(), inBytes},
		{"volume out", c.VolumeOutBytes.Load(), sentBytes},
		{"rename errors", c.RenameErrors.Load(), 0},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: %d, want %d", ck.name, ck.got, ck.want)
		}
	}

	again, _ := run()
	if len(again.sent) != len(sink.sent) {
		t.Fatalf("a second run sent %d events, the first %d", len(again.sent), len(sink.sent))
	}
	for i := range again.sent {
		if again.sent[i].Offset != sink.sent[i].Offset || string(again.sent[i].Doc) != string(sink.sent[i].Doc) {
			t.Fatalf("a second run sent %d, the first %d", again.sent[i].Offset, sink.sent[i].Offset)
		}
	}
}

// TestVolumeUnchangedKeepsTheEvent: an event shaping leaves as it was is
// sent as the very event it was (no copy, no new document).
func TestVolumeUnchangedKeepsTheEvent(t *testing.T) {
	v, err := NewVolume(config.Route{DropFields: []string{"nope"}})
	if err != nil || v == nil {
		t.Fatal(v, err)
	}
	ev := event.New("t", 0, 0, time.Unix(0, 0), nil, []byte(`{"a":1}`))
	out, st := v.Apply(ev)
	if out != ev || st.Shaped || st.SampledOut {
		t.Errorf("got %p %+v, want the event itself", out, st)
	}
	if v, err := NewVolume(config.Route{}); v != nil || err != nil {
		t.Errorf("a route without volume settings: %v %v", v, err)
	}
	var nilV *Volume
	if out, _ := nilV.Apply(ev); out != ev {
		t.Error("a nil Volume changed the event")
	}
}

// TestVolumeUnchecked: an event the bridge skimmed (not checked) is
// checked before its fields are read; a malformed one is shaped as the
// wrapping it is.
func TestVolumeUnchecked(t *testing.T) {
	v, err := NewVolume(config.Route{DropFields: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	var good, bad event.Event
	good.Init("t", 0, 0, time.Unix(0, 0), nil, []byte(`{"@timestamp":"2026-11-29T10:00:00Z","a":1,"b":2}`), true)
	bad.Init("t", 0, 1, time.Unix(0, 0), nil, []byte(`{"@timestamp":"2026-11-29T10:00:00Z","a":1,"b":}`), true)
	if !good.Unchecked || !bad.Unchecked {
		t.Fatal("the events were not skimmed")
	}
	out, st := v.Apply(&good)
	if !st.Shaped || string(out.Doc) != `{"@timestamp":"2026-11-29T10:00:00Z","b":2}` || out.Unchecked {
		t.Errorf("skimmed event: %s %+v", out.Doc, st)
	}
	out, st = v.Apply(&bad)
	if !st.NotJSON || !out.Wrapped || out.Unchecked {
		t.Errorf("malformed event: %s %+v", out.Doc, st)
	}
	if !good.Unchecked {
		t.Error("Apply modified its event")
	}
}

// TestReadsFields: a route whose sampling or shaping reads fields gets
// checked events; sampling by the Kafka coordinates alone does not read
// them, and leaves a skimmed event as it is.
func TestReadsFields(t *testing.T) {
	cases := []struct {
		name string
		rc   config.Route
		want bool
	}{
		{"nothing", config.Route{}, false},
		{"sample by coordinates", config.Route{Sample: &config.Sample{Rate: 0.5}}, false},
		{"sample everything by key", config.Route{Sample: &config.Sample{Rate: 1, Key: "source.ip"}}, false},
		{"sample by key", config.Route{Sample: &config.Sample{Rate: 0.5, Key: "source.ip"}}, true},
		{"sample when", config.Route{Sample: &config.Sample{Rate: 0.5, When: `a == "b"`}}, true},
		{"drop", config.Route{DropFields: []string{"a"}}, true},
		{"add", config.Route{AddFields: &config.AddFields{Fields: config.AnyFields{"a": 1}}}, true},
	}
	for _, c := range cases {
		if got := ReadsFields(c.rc); got != c.want {
			t.Errorf("%s: ReadsFields %v, want %v", c.name, got, c.want)
		}
		v, err := NewVolume(c.rc)
		if err != nil {
			t.Fatal(err)
		}
		if got := v != nil && v.readsFields; got != c.want {
			t.Errorf("%s: Volume reads fields %v, want %v", c.name, got, c.want)
		}
	}
	v, err := NewVolume(config.Route{Sample: &config.Sample{Rate: 0.999999}})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	ev.Init("t", 0, 0, time.Unix(0, 0), nil, []byte(`{"@timestamp":"2026-11-29T10:00:00Z","a":1}`), true)
	if out, st := v.Apply(&ev); st.SampledOut || out != &ev || !out.Unchecked {
		t.Errorf("sampling by coordinates checked or copied the event: %+v %v", st, out.Unchecked)
	}
}

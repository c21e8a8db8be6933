package replay

import (
	"context"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// TestReplayVolume: a replay applies the route's filter, sampling and
// shaping as the live route does (the same deliver.Volume, built from the
// route by deliver.ForRoute): it delivers exactly the events, and the
// documents, that the route's filter and Volume give for the window's
// records, and counts the rest as filtered and sampled out.
func TestReplayVolume(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	base := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	g := gen.New(3)
	var recs []kafkatest.Record
	for i := range 600 {
		ts := base.Add(time.Duration(i) * time.Second)
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2), Value: g.Next(int64(i), ts), Timestamp: ts})
	}
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	cfg := replayTestConfig(t, cluster.Brokers())
	rc := &cfg.Routes[0]
	rc.Filter = &config.Filter{Expr: `event.dataset != "auditd.log"`}
	rc.Sample = &config.Sample{Rate: 0.2, Key: "source.ip", When: `event.action == "dns-query"`}
	rc.DropFields = []string{"agent", "host.os"}
	sink := &recordingSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg, Options{Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Sink: sink, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	f, err := filter.New(rc.Filter)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := deliver.NewVolume(*rc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // ID → document
	filtered, sampled := 0, 0
	for i, r := range recs {
		ev := event.New("events", r.Partition, int64(i/2), r.Timestamp, nil, r.Value)
		if !f.Accepts(ev) {
			filtered++
			continue
		}
		out, st := vol.Apply(ev)
		if st.SampledOut {
			sampled++
			continue
		}
		want[out.ID()] = string(out.Doc)
	}
	if len(sink.events) != len(want) {
		t.Fatalf("replay delivered %d events, want %d", len(sink.events), len(want))
	}
	for _, ev := range sink.events {
		if doc, ok := want[ev.ID()]; !ok || doc != string(ev.Doc) {
			t.Fatalf("replay delivered %s %s, want %q", ev.ID(), ev.Doc, doc)
		}
	}
	if res.Filtered != int64(filtered) || res.SampledOut != int64(sampled) || filtered == 0 || sampled == 0 {
		t.Errorf("filtered %d, sampled out %d; want %d and %d (both > 0)", res.Filtered, res.SampledOut, filtered, sampled)
	}
}

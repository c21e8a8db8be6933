package elasticsearch

import (
	"context"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
)

// The deterministic _id absorbs a re-sent event only where Elasticsearch
// checks it: within one concrete index. These tests pin down both sides of
// that guarantee (docs/guarantees.md, "Duplicates in Elasticsearch").

// copiesByID counts the documents of target (an index, alias or data
// stream: every backing index) by _id.
func copiesByID(f *esfake.Server, target string) map[string]int {
	out := map[string]int{}
	for _, d := range f.Documents(target) {
		out[d.ID]++
	}
	return out
}

// TestResendSameConcreteIndexAbsorbed is the guarantee that holds: with a
// date-suffixed index template, an event maps to the same concrete index
// on every send (the date is the event's @timestamp, not the time of
// sending), so a re-send, even days later, is answered 409 and counts as
// delivered, and the cluster holds one document per event.
func TestResendSameConcreteIndexAbsorbed(t *testing.T) {
	clk := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	f := fake(t, esfake.Options{Now: func() time.Time { return clk }})
	s := newSink(t, baseConfig(f.URL())) // logs-%{+yyyy.MM.dd}
	batch := events(0, 25)
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	clk = clk.Add(72 * time.Hour) // a replay three days later
	if err := s.Send(context.Background(), events(0, 25)); err != nil {
		t.Fatalf("re-send: %v (a 409 must count as delivered)", err)
	}
	if got := f.Indices(); len(got) != 1 || got[0] != "logs-2025.03.14" {
		t.Errorf("indices %v, want only logs-2025.03.14", got)
	}
	if f.Count() != 25 || f.DistinctIDs() != 25 || f.Duplicates() != 25 || f.Rejected()[409] != 25 {
		t.Errorf("count %d distinct %d duplicates %d 409s %d, want 25 each",
			f.Count(), f.DistinctIDs(), f.Duplicates(), f.Rejected()[409])
	}
}

// TestResendAfterRolloverDuplicates is the case the guarantee does not
// cover, for an alias and for a data stream: events sent, the target rolled
// over, the same events re-sent (a retry whose answer was lost, a crash
// before the commit, a replay or a rewind). The re-send lands in the new
// write index, which does not hold those _ids, so every event is created a
// second time: the cluster then holds each event twice, once per backing
// index. This is what a real Elasticsearch cluster does; the fake before
// it modelled aliases and data streams could not show it.
func TestResendAfterRolloverDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index string
		setup func(*esfake.Server) error
	}{
		{"alias", "logs", func(f *esfake.Server) error { return f.CreateAlias("logs", "logs-000001") }},
		{"data stream", "logs-siem-default", func(f *esfake.Server) error {
			_, err := f.CreateDataStream("logs-siem-default")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fake(t, esfake.Options{})
			if err := tc.setup(f); err != nil {
				t.Fatal(err)
			}
			cfg := baseConfig(f.URL())
			cfg.Index = tc.index
			s := newSink(t, cfg)
			const n = 20
			if err := s.Send(context.Background(), events(0, n)); err != nil {
				t.Fatal(err)
			}
			// Before a rollover a re-send is absorbed, as in a plain index.
			if err := s.Send(context.Background(), events(0, n)); err != nil {
				t.Fatal(err)
			}
			if f.Count() != n || f.Duplicates() != n {
				t.Fatalf("before rollover: count %d duplicates %d, want %d and %d", f.Count(), f.Duplicates(), n, n)
			}
			first := f.WriteIndex(tc.index)
			second, err := f.Rollover(tc.index)
			if err != nil {
				t.Fatal(err)
			}
			// Half of the first events again, and 10 new ones.
			if err := s.Send(context.Background(), events(n/2, n)); err != nil {
				t.Fatal(err)
			}
			if f.Duplicates() != n {
				t.Errorf("%d 409s after the rollover, want none", f.Duplicates()-n)
			}
			if f.Count() != n+n || f.DistinctIDs() != n+n/2 {
				t.Errorf("count %d distinct %d, want %d documents for %d events", f.Count(), f.DistinctIDs(), 2*n, n+n/2)
			}
			copies := copiesByID(f, tc.index)
			for off := range n + n/2 {
				id := events(off, 1)[0].ID()
				want := 1
				if off >= n/2 && off < n {
					want = 2 // re-sent after the rollover
				}
				if copies[id] != want {
					t.Errorf("%s: %d documents through %s, want %d", id, copies[id], tc.index, want)
				}
			}
			if len(f.Docs(first)) != n || len(f.Docs(second)) != n {
				t.Errorf("%d documents in %s and %d in %s, want %d each", len(f.Docs(first)), first, len(f.Docs(second)), second, n)
			}
		})
	}
}

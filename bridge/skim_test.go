package bridge

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/sinks"
)

// uncheckedSink is a recordingSink that takes unchecked events.
type uncheckedSink struct{ recordingSink }

func (*uncheckedSink) AcceptsUnchecked() bool { return true }

// TestRoutesSkimOnlyForSinksThatAcceptIt runs the bridge over records of
// both kinds into three sinks and checks who got unchecked events, that
// every record arrived once and in order per partition, and that the
// route's buffer accounting is back at zero once all is delivered.
func TestRoutesSkimOnlyForSinksThatAcceptIt(t *testing.T) {
	const perPartition = 300
	cluster, err := kafkatest.Start(3, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	for p := range int32(3) {
		for i := range perPartition {
			v := fmt.Sprintf(`{"@timestamp":"2025-03-14T10:00:00Z","p":%d,"i":%d}`, p, i)
			if i%3 == 0 { // time not up front: checked in any case
				v = fmt.Sprintf(`{"p":%d,"i":%d,"@timestamp":"2025-03-14T10:00:00Z"}`, p, i)
			}
			recs = append(recs, kafkatest.Record{Topic: "events", Partition: p, Value: []byte(v), Timestamp: ts})
		}
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	var routes string
	for _, name := range []string{"plain", "skim", "filter"} {
		filter := ""
		if name == "filter" { // a route filter reads fields: checked events
			filter = "\n    filter: {field: p}"
		}
		routes += fmt.Sprintf(`
  - name: %s
    topics: [events]
    sink: {type: null}
    batch: {max_events: 50, max_wait: 20ms}
    commit_interval: 100ms%s`, name, filter)
	}
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + cluster.Brokers()[0] + `"]
routes:` + routes + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	plain, skim, filter := &recordingSink{}, &uncheckedSink{}, &uncheckedSink{}
	b, err := New(cfg, WithLogger(quiet), WithSink("plain", plain), WithSink("skim", skim), WithSink("filter", filter))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	want := 3 * perPartition
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := b.Stats()
		all := len(st.Routes) == 3
		for _, rs := range st.Routes {
			all = all && rs.Delivered == int64(want) && rs.BufferedEvents == 0
		}
		if all {
			for _, rs := range st.Routes {
				if rs.Consumed != int64(want) || rs.BufferedBytes != 0 {
					t.Errorf("route %s: consumed %d, buffered %d bytes; want %d and 0", rs.Name, rs.Consumed, rs.BufferedBytes, want)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all delivered and released: %+v", st.Routes)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, tc := range []struct {
		name string
		sink *recordingSink
		skim bool
	}{
		{"plain", plain, false},
		{"skim", &skim.recordingSink, true},
		{"filter", &filter.recordingSink, false},
	} {
		offs := tc.sink.offsets()
		for p := range int32(3) {
			if len(offs[p]) != perPartition {
				t.Fatalf("%s: partition %d got %d events, want %d", tc.name, p, len(offs[p]), perPartition)
			}
			// Several batches of a partition are in flight at once: every
			// offset once, in any order.
			slices.Sort(offs[p])
			for i, o := range offs[p] {
				if o != int64(i) {
					t.Fatalf("%s: partition %d: the %dth offset delivered (sorted) is %d: one missing or twice", tc.name, p, i, o)
				}
			}
		}
		tc.sink.mu.Lock()
		for _, ev := range tc.sink.events {
			upFront := ev.Offset%3 != 0
			if ev.Unchecked != (tc.skim && upFront) {
				t.Errorf("%s: offset %d/%d Unchecked = %v", tc.name, ev.Partition, ev.Offset, ev.Unchecked)
			}
			if !ev.Time.Equal(ts) || ev.Wrapped {
				t.Errorf("%s: offset %d/%d time %v, wrapped %v", tc.name, ev.Partition, ev.Offset, ev.Time, ev.Wrapped)
			}
		}
		tc.sink.mu.Unlock()
	}
	var _ sinks.UncheckedAcceptor = skim
}

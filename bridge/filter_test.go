package bridge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestRouteFilterExpression runs a route whose filter is an expression:
// only the events it accepts reach the sink, the others are counted as
// filtered, and the group commits past all of them.
func TestRouteFilterExpression(t *testing.T) {
	const perPartition = 200
	cluster, err := kafkatest.Start(2, []string{"fw"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	wantDelivered := 0
	for p := range int32(2) {
		for i := range perPartition {
			action, src := "allow", fmt.Sprintf("192.0.2.%d", i%250)
			if i%4 == 0 {
				action = "deny"
			}
			if i%5 == 0 {
				src = fmt.Sprintf("10.1.%d.%d", p, i%250)
			}
			if action == "deny" && src[:3] == "10." {
				wantDelivered++
			}
			v := fmt.Sprintf(`{"event":{"action":%q},"source":{"ip":%q,"port":%d}}`, action, src, 1024+i)
			if i == 7 {
				v = "not json at all"
			}
			recs = append(recs, kafkatest.Record{Topic: "fw", Partition: p, Value: []byte(v), Timestamp: ts})
		}
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + cluster.Brokers()[0] + `"]
routes:
  - name: denied
    topics: [fw]
    filter: 'event.action == "deny" && cidr(source.ip, "10.0.0.0/8") && source.port >= 1024'
    sink: {type: null}
    batch: {max_events: 50, max_wait: 20ms}
    commit_interval: 100ms
`))
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	b, err := New(cfg, WithLogger(quiet), WithSink("denied", sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	total := 2 * perPartition
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := b.Stats()
		if len(st.Routes) == 1 && st.Routes[0].Delivered+st.Routes[0].Filtered == int64(total) && st.Routes[0].BufferedEvents == 0 {
			rs := st.Routes[0]
			if rs.Delivered != int64(wantDelivered) || rs.Filtered != int64(total-wantDelivered) {
				t.Errorf("delivered %d, filtered %d; want %d and %d", rs.Delivered, rs.Filtered, wantDelivered, total-wantDelivered)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all done: %+v", st.Routes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	sink.mu.Lock()
	for _, ev := range sink.events {
		if ev.Wrapped || ev.Offset%4 != 0 || ev.Offset%5 != 0 {
			t.Errorf("offset %d/%d was delivered: %s", ev.Partition, ev.Offset, ev.Doc)
		}
	}
	sink.mu.Unlock()
	// The shutdown commit covers the filtered events at the end of each
	// partition too.
	committed, err := kafkatest.Committed(cluster.Brokers(), cfg.Routes[0].Group, "fw")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		if committed[p] != perPartition {
			t.Errorf("partition %d committed %d, want %d", p, committed[p], perPartition)
		}
	}
}

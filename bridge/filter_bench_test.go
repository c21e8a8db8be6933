package bridge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// BenchmarkNullSinkFilter runs the bridge into the null sink over the same
// generated ECS events without a filter and with a simple one (an equality
// on a nested field), in one run, and reports both rates and their ratio
// (issue 15: the rate with the filter stays ≥ 0.8 of the rate without).
// The broker runs in the same process, so both rates include its work.
//
//	go test -run '^$' -bench NullSinkFilter -benchtime 1x ./bridge
func BenchmarkNullSinkFilter(b *testing.B) {
	const partitions, events = 4, 200_000
	cluster, err := kafkatest.Start(partitions, []string{"events"})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(1)
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	recs := make([]kafkatest.Record, 0, 1000)
	for i := range events {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % partitions), Value: g.Next(int64(i), t0), Timestamp: t0})
		if len(recs) == cap(recs) {
			if err := prod.Send(recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	prod.Close()
	b.ResetTimer()
	for range b.N {
		without := runNull(b, cluster.Brokers(), "plain", "", events)
		with := runNull(b, cluster.Brokers(), "filtered", `    filter: 'event.action == "deny"'`, events)
		b.ReportMetric(without, "events/s-plain")
		b.ReportMetric(with, "events/s-filtered")
		b.ReportMetric(with/without, "ratio")
	}
}

// runNull reads every event of the topic with a fresh group into the null
// sink and returns the rate from start to the last event done.
func runNull(b *testing.B, brokers []string, name, filter string, events int) float64 {
	b.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: %s
    topics: [events]
    group: bench-%s-%d
    sink: {type: null}
%s
`, brokers[0], name, name, time.Now().UnixNano(), filter)))
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(cfg, WithLogger(quiet), WithSinkFactory(nullSinks))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- br.Run(ctx) }()
	for {
		st := br.Stats()
		if len(st.Routes) == 1 && st.Routes[0].Delivered+st.Routes[0].Filtered >= int64(events) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return float64(events) / el.Seconds()
}

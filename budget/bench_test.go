package budget

import (
	"fmt"
	"testing"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

// benchBatch is a batch of n generated events, one alert in ten.
func benchBatch(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		kind := "event"
		if i%10 == 9 {
			kind = "alert"
		}
		evs[i] = ev(int64(i), fmt.Sprintf(`{"@timestamp":"2026-11-29T10:00:00Z","event":{"kind":%q,"category":["network"]},"source":{"ip":"10.0.0.%d"}}`, kind, i%250))
	}
	return evs
}

// BenchmarkBudget measures what the budget costs per event of a 500-event
// batch: the check and the spend while the budget lasts (every batch),
// and the split by priority once it is spent.
func BenchmarkBudget(b *testing.B) {
	batch := benchBatch(500)
	for _, tc := range []struct {
		name  string
		spent bool
	}{{"budget left", false}, {"spent, priority split", true}} {
		b.Run(tc.name, func(b *testing.B) {
			clk := newFakeClock(t0)
			bg, err := New(config.Budget{BytesPerDay: 1 << 50, Priority: `event.kind == "alert"`}, WithClock(clk))
			if err != nil {
				b.Fatal(err)
			}
			if tc.spent {
				bg.Spend(1, 1<<50)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				send, held := bg.Split(batch)
				bg.Spend(len(send), 1000)
				bg.Held(len(held), 1000)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
		})
	}
}

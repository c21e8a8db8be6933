package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// countSink counts how often each offset of partition 0 was delivered.
type countSink struct {
	mu  sync.Mutex
	got map[int64]int
}

func (s *countSink) Send(_ context.Context, batch []*event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range batch {
		s.got[ev.Offset]++
	}
	return nil
}
func (s *countSink) Probe(context.Context) error { return nil }
func (s *countSink) Close() error                { return nil }

func (s *countSink) counts() map[int64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]int, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

// budgetClock is a settable clock; its timers fire when Set passes them.
type budgetClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[chan time.Time]time.Time
}

func (c *budgetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *budgetClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers[ch] = c.now.Add(d)
	return ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[ch]
		delete(c.timers, ch)
		return ok
	}
}

func (c *budgetClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	for ch, at := range c.timers {
		if !at.After(t) {
			ch <- t
			delete(c.timers, ch)
		}
	}
}

// budgetEvents produces 100 events to partition 0 of "events"; every
// tenth (offsets 9, 19, ..., 99) is an alert.
func budgetEvents(t *testing.T, brokers []string) {
	t.Helper()
	prod, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []kafkatest.Record
	for i := range 100 {
		kind := "event"
		if i%10 == 9 {
			kind = "alert"
		}
		v := fmt.Sprintf(`{"event":{"kind":%q},"i":%d}`, kind, i)
		recs = append(recs, kafkatest.Record{Topic: "events", Value: []byte(v), Timestamp: time.Now()})
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
}

func budgetConfig(t *testing.T, brokers []string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `
kafka:
  brokers: [%q]
  heartbeat_interval: 200ms
  session_timeout: 6s
  rebalance_timeout: 5s
routes:
  - name: r
    topics: [events]
    sink: {type: null}
    batch: {max_events: 5, max_wait: 20ms}
    max_in_flight_per_partition: 1
    commit_interval: 100ms
    budget:
      events_per_day: 50
      priority: 'event.kind == "alert"'
shutdown_timeout: 5s
`, brokers[0]))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBudgetDeferral: once the day's 50 events are sent, alerts still
// flow and the rest waits in Kafka (the commit stays at the first
// deferred offset); after midnight the rest is read again and sent, and
// the alerts already sent are not sent again. Across a restart while
// events are deferred nothing is lost (the alerts may come twice: the new
// process does not know the old one sent them).
func TestBudgetDeferral(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			cluster, err := kafkatest.Start(1, []string{"events"})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			budgetEvents(t, cluster.Brokers())
			clk := &budgetClock{now: time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC), timers: map[chan time.Time]time.Time{}}
			sink := &countSink{got: map[int64]int{}}
			start := func() (*Bridge, func()) {
				b, err := New(budgetConfig(t, cluster.Brokers()), WithLogger(quiet), WithSink("r", sink), WithBudgetClock(clk))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- b.Run(ctx) }()
				return b, func() {
					cancel()
					if err := <-done; err != nil {
						t.Error(err)
					}
				}
			}
			committed := func() int64 {
				c, err := kafkatest.Committed(cluster.Brokers(), "siembridge-r", "events")
				if err != nil {
					return -1
				}
				return c[0]
			}
			deferredAll := func(b *Bridge) func() bool {
				return func() bool {
					st := b.Stats().Routes[0].Budget
					return st.Spent && st.Pending == 45 && committed() == 50
				}
			}

			b, stop := start()
			waitUntil(t, 10*time.Second, "45 events deferred, the commit at offset 50", deferredAll(b))
			got := sink.counts()
			for off := int64(0); off < 100; off++ {
				want := 0
				if off < 50 || off%10 == 9 {
					want = 1
				}
				if got[off] != want {
					t.Fatalf("day 1: offset %d sent %d times, want %d", off, got[off], want)
				}
			}
			if restart {
				stop()
				b, stop = start()
				waitUntil(t, 10*time.Second, "the new process defers the same 45", deferredAll(b))
			}
			clk.Set(time.Date(2026, 11, 30, 0, 0, 1, 0, time.UTC))
			waitUntil(t, 10*time.Second, "everything sent and committed", func() bool { return len(sink.counts()) == 100 && committed() == 100 })
			stop()
			for off, n := range sink.counts() {
				if n == 1 || (restart && off%10 == 9 && off > 50 && n == 2) {
					continue
				}
				t.Errorf("offset %d sent %d times", off, n)
			}
		})
	}
}

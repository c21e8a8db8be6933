package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

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

// budgetEvents produces 100 events to partition 0 of "events", written
// at ts; every tenth (offsets 9, 19, ..., 99) is an alert.
func budgetEvents(t *testing.T, brokers []string, ts time.Time) {
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
		recs = append(recs, kafkatest.Record{Topic: "events", Value: []byte(v), Timestamp: ts})
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
}

func budgetConfig(t *testing.T, brokers []string, inFlight int, whenSpent, priority string) *config.Config {
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
    max_in_flight_per_partition: %d
    commit_interval: 100ms
    budget:
      events_per_day: 50
      priority: '%s'
      when_spent: %s
shutdown_timeout: 5s
`, brokers[0], inFlight, priority, whenSpent))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// budgetRun is one test's broker, sink, clock and bridge.
type budgetRun struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	clk     *budgetClock
	sink    *countSink
	cfg     func() *config.Config
}

func (r *budgetRun) start() (*Bridge, func()) {
	b, err := New(r.cfg(), WithLogger(quiet), WithSink("r", r.sink), WithBudgetClock(r.clk))
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return b, func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Error(err)
		}
	}
}

func (r *budgetRun) committed() int64 {
	c, err := kafkatest.Committed(r.cluster.Brokers(), "siembridge-r", "events")
	if err != nil {
		return -1
	}
	return c[0]
}

// settled reports whether every event was either sent or is deferred by
// b, with the commit at the first one not sent.
func (r *budgetRun) settled(b *Bridge) func() bool {
	return func() bool {
		st := b.Stats().Routes[0].Budget
		got := r.sink.counts()
		first := int64(0)
		for got[first] > 0 {
			first++
		}
		return st.Spent && st.Pending > 0 && int64(len(got))+st.Pending == 100 && r.committed() == first
	}
}

// budgetNow is the budget clock's start, two hours before midnight; the
// events were written two hours before it.
var budgetNow = time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)

func newBudgetRun(t *testing.T, inFlight int, whenSpent, priority string) *budgetRun {
	cluster, err := kafkatest.Start(1, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	budgetEvents(t, cluster.Brokers(), budgetNow.Add(-2*time.Hour))
	r := &budgetRun{t: t, cluster: cluster, sink: &countSink{got: map[int64]int{}},
		clk: &budgetClock{now: budgetNow, timers: map[chan time.Time]time.Time{}}}
	r.cfg = func() *config.Config { return budgetConfig(t, cluster.Brokers(), inFlight, whenSpent, priority) }
	return r
}

// setRetention sets retention.ms of the topic "events".
func (r *budgetRun) setRetention(d time.Duration) {
	admin, err := sarama.NewClusterAdmin(r.cluster.Brokers(), kafkatest.Config())
	if err != nil {
		r.t.Fatal(err)
	}
	defer admin.Close()
	ms := fmt.Sprint(d.Milliseconds())
	if err := admin.AlterConfig(sarama.TopicResource, "events", map[string]*string{"retention.ms": &ms}, false); err != nil {
		r.t.Fatal(err)
	}
}

// TestBudgetDeferral: once the day's 50 events are sent, alerts still
// flow and the rest waits in Kafka (the commit stays at the first
// deferred offset); after midnight the rest is read again and sent, and
// the alerts already sent are not sent again. Batches in flight at once
// may overshoot the budget by what they carry. Across a restart while
// events are deferred nothing is lost (the alerts may come twice: the new
// process does not know the old one sent them).
func TestBudgetDeferral(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFlight int
		restart  bool
	}{{"in order", 1, false}, {"pipelined", 4, false}, {"restart", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBudgetRun(t, tc.inFlight, "defer", `event.kind == "alert"`)
			// The deferred events are 2 h old: within 20 % of a 2 h
			// retention, not of the default week.
			nearRetention := tc.name == "in order"
			if nearRetention {
				r.setRetention(2 * time.Hour)
			}
			b, stop := r.start()
			waitUntil(t, 10*time.Second, "events deferred, the commit at the first", r.settled(b))
			waitUntil(t, 3*time.Second, "the retention check", func() bool {
				return b.Stats().Routes[0].Budget.NearRetention == map[bool]int64{true: 1}[nearRetention]
			})
			got := r.sink.counts()
			sent := 0
			for off := int64(0); off < 100; off++ {
				if off%10 == 9 && got[off] != 1 {
					t.Fatalf("day 1: alert at offset %d sent %d times", off, got[off])
				}
				if off%10 != 9 && got[off] > 0 {
					sent++
				}
			}
			// In order, the budget is spent at offset 49: 45 events and 5
			// alerts. Pipelined, batches pass the budget concurrently and
			// out of order, so the 50 counted first may hold alerts from
			// beyond offset 49 (at most all 10), and batches that passed
			// before the budget was spent add up to inFlight batches of 5.
			lo, hi := 45, 45
			if tc.inFlight > 1 {
				lo, hi = 40, 45+tc.inFlight*5
			}
			if sent < lo || sent > hi {
				t.Fatalf("day 1: %d events without priority sent; the budget is 50, want %d to %d", sent, lo, hi)
			}
			waitUntil(t, 3*time.Second, "the budget counts every event the sink got", func() bool {
				return b.Stats().Routes[0].Budget.SpentEvents == int64(len(got))
			})
			if tc.restart {
				stop()
				b, stop = r.start()
				waitUntil(t, 10*time.Second, "the new process defers the same events", r.settled(b))
			}
			r.clk.Set(time.Date(2026, 11, 30, 0, 0, 1, 0, time.UTC))
			waitUntil(t, 10*time.Second, "everything sent and committed", func() bool { return len(r.sink.counts()) == 100 && r.committed() == 100 })
			stop()
			for off, n := range r.sink.counts() {
				if n == 1 || (tc.restart && off%10 == 9 && off > 50 && n == 2) {
					continue
				}
				t.Errorf("offset %d sent %d times", off, n)
			}
		})
	}
}

// TestBudgetPausedWithoutPriority: with nothing that may flow once the
// budget is spent, the route pauses instead of reading events only to
// defer them; after midnight it resumes and everything arrives once.
func TestBudgetPausedWithoutPriority(t *testing.T) {
	r := newBudgetRun(t, 1, "defer", "")
	b, stop := r.start()
	defer stop()
	waitUntil(t, 10*time.Second, "paused for the budget", func() bool {
		rs := b.Stats().Routes[0]
		return rs.Paused && rs.PauseReason == "budget spent" && rs.Budget.Spent
	})
	if n := len(r.sink.counts()); n != 50 {
		t.Fatalf("%d events sent on a budget of 50", n)
	}
	r.clk.Set(time.Date(2026, 11, 30, 0, 0, 1, 0, time.UTC))
	// The second day's 50 events are the 50 deferred ones: the route
	// resumes, sends them, and its budget is spent again.
	waitUntil(t, 10*time.Second, "resumed, everything sent and committed", func() bool {
		return len(r.sink.counts()) == 100 && r.committed() == 100
	})
	for off, n := range r.sink.counts() {
		if n != 1 {
			t.Errorf("offset %d sent %d times", off, n)
		}
	}
}

// TestBudgetDrop: with when_spent: drop the events held back are
// committed and counted, never sent; alerts still flow.
func TestBudgetDrop(t *testing.T) {
	r := newBudgetRun(t, 1, "drop", `event.kind == "alert"`)
	b, stop := r.start()
	defer stop()
	waitUntil(t, 10*time.Second, "everything committed", func() bool { return r.committed() == 100 })
	got := r.sink.counts()
	st := b.Stats().Routes[0].Budget
	if len(got) != 55 || st.Dropped != 45 || st.Pending != 0 || st.Deferred != 0 {
		t.Fatalf("sent %d, stats %+v", len(got), st)
	}
	for off := int64(9); off < 100; off += 10 {
		if got[off] != 1 {
			t.Errorf("alert at %d sent %d times", off, got[off])
		}
	}
}

// TestBudgetSharedByMembers: two processes of one route, one partition
// each, share one budget of 50 events through the ledger topic: together
// they send about 50 (each overshoots by what it sends between two
// exchanges), not the 100 that two budgets of their own would allow.
func TestBudgetSharedByMembers(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := func() *config.Config {
		c, err := config.Parse(fmt.Appendf(nil, `
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
    rate: {events_per_second: 100}
    max_in_flight_per_partition: 1
    commit_interval: 100ms
    budget: {events_per_day: 50, sync_interval: 100ms}
shutdown_timeout: 5s
`, cluster.Brokers()[0]))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sink := &countSink{got: map[int64]int{}} // offsets of both partitions: count per member below
	var members []*Bridge
	for range 2 {
		b, err := New(cfg(), WithLogger(quiet), WithSink("r", sink))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		members = append(members, b)
	}
	waitUntil(t, 10*time.Second, "one partition each", func() bool {
		for _, b := range members {
			if rs := b.Stats().Routes[0]; !rs.Joined || len(rs.Partitions) != 1 {
				return false
			}
		}
		return true
	})
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	var recs []kafkatest.Record
	for p := range int32(2) {
		for i := range 100 {
			recs = append(recs, kafkatest.Record{Topic: "events", Partition: p, Value: fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i)})
		}
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	waitUntil(t, 10*time.Second, "both members see the budget spent", func() bool {
		for _, b := range members {
			if !b.Stats().Routes[0].Budget.Spent {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // what was in flight lands
	var sent int64
	for _, b := range members {
		sent += b.Stats().Routes[0].Delivered
	}
	waitUntil(t, 3*time.Second, "both members count what both sent", func() bool {
		for _, b := range members {
			if b.Stats().Routes[0].Budget.SpentEvents != sent {
				return false
			}
		}
		return true
	})
	// Each member overshoots by the batch in flight and by what it sends
	// between two exchanges (100 events/s for 100 ms, and the write and
	// read of the record): well below what two budgets of 50 would send.
	if sent < 50 || sent >= 90 {
		t.Fatalf("the two members sent %d events on a shared budget of 50", sent)
	}
	t.Logf("sent %d on a shared budget of 50", sent)
}

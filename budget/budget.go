// Package budget keeps a route's daily volume budget (routes[].budget):
// what the route sent to its sink since the day's reset, shared with the
// route's other processes through a small compacted Kafka topic (Ledger),
// whether the budget is spent, when it will be at the current rate, and
// the per-partition record of deferred offsets (Deferral) that lets
// deferred events wait in Kafka while priority events behind them flow.
// docs/budget.md explains the design.
package budget

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/siembridge/siembridge/clock"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
)

// Action is what happens to an event that the spent budget holds back.
type Action uint8

const (
	// Defer: the event waits in Kafka, uncommitted, until the budget
	// resets (and the defer window opens).
	Defer Action = iota
	// Drop: the event is committed and counted, never sent.
	Drop
)

// rateSpan is how far back the current rate (for the projected time of
// exhaustion) looks.
const rateSpan = 5 * time.Minute

// Budget is one route's daily account. It is safe for concurrent use.
type Budget struct {
	clk       clock.Clock
	sched     Schedule
	maxBytes  int64
	maxEvents int64
	action    Action
	priority  *filter.Filter // nil: no event has priority
	member    string

	mu  sync.Mutex
	day time.Time // start of the current budget day
	// own: what this process sent in the day; others: the latest counts
	// of the route's other processes (and earlier runs of this one) for
	// the same day, from the ledger.
	own, others counts
	spentAt     time.Time // when the day's budget ran out, zero if not yet
	buckets     [6]bucket // per-minute spend for the current rate
	started     time.Time

	deferred, dropped counts
}

type counts struct{ bytes, events int64 }

func (c *counts) add(events, bytes int) {
	c.events += int64(events)
	c.bytes += int64(bytes)
}

type bucket struct {
	minute        int64 // unix minutes
	bytes, events int64
}

// Option configures a Budget.
type Option func(*Budget)

// WithClock sets the time source (default clock.System).
func WithClock(c clock.Clock) Option { return func(b *Budget) { b.clk = c } }

// WithMember names this process in the ledger (default: random). A
// process must use a name no other running process of the route uses.
func WithMember(m string) Option { return func(b *Budget) { b.member = m } }

// New makes the budget of a validated configuration; its priority
// expression is compiled here.
func New(c config.Budget, opts ...Option) (*Budget, error) {
	sched, err := NewSchedule(c)
	if err != nil {
		return nil, err
	}
	b := &Budget{clk: clock.System{}, sched: sched, maxBytes: int64(c.BytesPerDay), maxEvents: c.EventsPerDay}
	if c.WhenSpent == "drop" {
		b.action = Drop
	}
	if c.Priority != "" {
		if b.priority, err = filter.Compile(c.Priority); err != nil {
			return nil, err
		}
	}
	for _, o := range opts {
		o(b)
	}
	if b.member == "" {
		var id [8]byte
		_, _ = rand.Read(id[:]) // never fails (crypto/rand)
		b.member = hex.EncodeToString(id[:])
	}
	b.started = b.clk.Now()
	b.day = sched.DayStart(b.started)
	return b, nil
}

// Member is this process's name in the ledger.
func (b *Budget) Member() string { return b.member }

// Action is what a spent budget does with events that have no priority.
func (b *Budget) Action() Action { return b.action }

// HasPriority reports whether some events may flow while the budget is
// spent.
func (b *Budget) HasPriority() bool { return b.priority != nil }

// Priority reports whether ev flows even when the budget is spent.
func (b *Budget) Priority(ev *event.Event) bool {
	return b.priority != nil && b.priority.Accepts(ev)
}

// Schedule is the budget's calendar.
func (b *Budget) Schedule() Schedule { return b.sched }

// roll starts a new day when now is past the current one. b.mu is held.
func (b *Budget) roll(now time.Time) {
	if d := b.sched.DayStart(now); !d.Equal(b.day) && d.After(b.day) {
		b.day, b.own, b.others, b.spentAt = d, counts{}, counts{}, time.Time{}
	}
}

// spent reports whether the day's budget is used up. b.mu is held.
func (b *Budget) spent() bool {
	tb, te := b.own.bytes+b.others.bytes, b.own.events+b.others.events
	return (b.maxBytes > 0 && tb >= b.maxBytes) || (b.maxEvents > 0 && te >= b.maxEvents)
}

// Spent reports whether the day's budget is used up now.
func (b *Budget) Spent() bool {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)
	return b.spent()
}

// DrainOpen reports whether deferred events may be read again now: the
// budget is not spent and the defer window (if any) is open.
func (b *Budget) DrainOpen() bool {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)
	return !b.spent() && b.sched.InWindow(now)
}

// Spend counts events of bytes sent to the sink. The event that crosses
// the limit is sent: a budget is overshot by at most the batches in flight
// when it runs out (and, across processes, by what the others sent since
// the last ledger exchange).
func (b *Budget) Spend(events, bytes int) {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)
	b.own.add(events, bytes)
	m := now.Unix() / 60
	bk := &b.buckets[m%int64(len(b.buckets))]
	if bk.minute != m {
		*bk = bucket{minute: m}
	}
	bk.events += int64(events)
	bk.bytes += int64(bytes)
	if b.spentAt.IsZero() && b.spent() {
		b.spentAt = now
	}
}

// Held counts events of bytes held back by the spent budget: deferred or
// dropped as Action says.
func (b *Budget) Held(events, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.action == Drop {
		b.dropped.add(events, bytes)
		return
	}
	b.deferred.add(events, bytes)
}

// Split separates a batch for a spent budget: the events to send (those
// with priority) and the ones to hold back. It returns evs itself and nil
// when the budget is not spent. It allocates only when something is held.
func (b *Budget) Split(evs []*event.Event) (send, held []*event.Event) {
	if !b.Spent() {
		return evs, nil
	}
	for i, ev := range evs {
		if b.Priority(ev) {
			if held != nil {
				send = append(send, ev)
			}
			continue
		}
		if held == nil {
			send = append(make([]*event.Event, 0, len(evs)), evs[:i]...)
		}
		held = append(held, ev)
	}
	if held == nil {
		return evs, nil
	}
	return send, held
}

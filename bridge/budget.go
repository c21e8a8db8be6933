package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/budget"
	"github.com/siembridge/siembridge/clock"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
)

// This file is the bridge's side of routes[].budget (package budget keeps
// the account; docs/budget.md explains the design). The hook into the
// pipeline is small: a batch skips what a drain must not send twice
// (skipDone), the stage asks the budget which selected events to send
// (admitter), land records what was handled (remember) and caps the
// commit by the partition's Deferral, and monitor calls budgetTick once a
// second.

// ledgerWait bounds how long a starting route waits to read what the
// route's processes already spent today before it starts sending.
const ledgerWait = 10 * time.Second

// retentionRefresh is how often the topics' retention.ms is read again.
const retentionRefresh = time.Hour

// WithBudgetClock sets the time source of the routes' budgets (default
// the system clock); tests move the day on with it.
func WithBudgetClock(c clock.Clock) Option { return func(b *Bridge) { b.budgetClock = c } }

// routeBudget is a route's budget as the bridge runs it.
type routeBudget struct {
	b *budget.Budget
	// hold: the budget is spent, nothing has priority and the rest waits:
	// the route's partitions are paused (updatePause).
	hold atomic.Bool
	// retention of the route's topics (retention.ms; 0 kept forever),
	// read at start and every retentionRefresh.
	retMu       sync.Mutex
	retention   map[string]time.Duration
	retentionAt time.Time
	// nearRetention counts the partitions whose oldest deferred event is
	// within 20 % of its topic's retention.
	nearRetention atomic.Int64
	warned        sync.Map // topicPartition -> day start (unix) of the last warning
}

func (r *route) initBudget() error {
	if r.cfg.Budget == nil {
		return nil
	}
	opts := []budget.Option{}
	if r.b.budgetClock != nil {
		opts = append(opts, budget.WithClock(r.b.budgetClock))
	}
	b, err := budget.New(*r.cfg.Budget, opts...)
	if err != nil {
		return err
	}
	r.budget = &routeBudget{b: b}
	return nil
}

// budgetHooks counts what the stage delivered against the budget: bytes
// as sent, after the filter and shaping.
type budgetHooks struct {
	deliver.Hooks
	b *budget.Budget
}

func (h budgetHooks) OnDelivered(route string, events, bytes int) {
	h.Hooks.OnDelivered(route, events, bytes)
	h.b.Spend(events, bytes)
}

// ledgerRetry is how often a route whose ledger could not be opened tries
// again; meanwhile its budget counts only what this process sends.
const ledgerRetry = 30 * time.Second

// runLedger shares the budget with the route's other processes through
// its Kafka topic until ctx ends. It returns once the ledger was read (or
// ledgerWait passed, or start ended), with a function that waits for the
// exchanges to stop after ctx ended. A ledger that cannot be opened is
// tried again every ledgerRetry.
func (r *route) runLedger(start, ctx context.Context) (wait func()) {
	rb := r.budget
	if rb == nil || r.b.client == nil {
		return func() {}
	}
	l := r.openLedger(start)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for l == nil {
			if sleep(ctx, ledgerRetry) != nil {
				return
			}
			l = r.openLedger(ctx)
		}
		topic := r.cfg.Budget.Topic
		rb.b.Run(ctx, l, r.cfg.Budget.SyncInterval, func(err error) {
			r.log.Warn("budget: ledger exchange failed", "topic", topic, "err", err)
		})
		if err := l.Close(); err != nil {
			r.log.Warn("budget: closing the ledger", "err", err)
		}
	}()
	return func() { <-done }
}

// openLedger opens the route's ledger, reads it (for at most ledgerWait,
// or until ctx ends) and takes the other processes' spend from it; nil
// when it cannot be opened.
func (r *route) openLedger(ctx context.Context) *budget.KafkaLedger {
	topic := r.cfg.Budget.Topic
	l, err := budget.OpenKafkaLedger(r.b.cfg.Kafka.Brokers, r.b.sc, topic, r.log)
	if err != nil {
		r.log.Warn("budget: no ledger; this process counts only what it sends until it can open it", "topic", topic, "err", err, "retry", ledgerRetry)
		return nil
	}
	first, cancel := context.WithTimeout(ctx, ledgerWait)
	defer cancel()
	if err := l.WaitRead(first); err != nil {
		r.log.Warn("budget: the ledger was not read in time; starting with what was read", "topic", topic, "err", err)
	}
	if err := r.budget.b.Sync(ctx, l); err != nil {
		r.log.Warn("budget: ledger exchange failed", "topic", topic, "err", err)
	}
	return l
}

// skipDone returns the events of a batch to hand to the stage: without
// those that the partition's deferral remembers as handled before a
// rewind (they were sent, or filtered out, while earlier events waited).
func (c *claimRun) skipDone(evs []*event.Event) []*event.Event {
	d := c.p.deferral
	if c.r.budget == nil || !d.Remembers(evs[0].Offset, evs[len(evs)-1].Offset) {
		return evs
	}
	var out []*event.Event
	for i, ev := range evs {
		if d.Skip(ev.Offset) {
			if out == nil {
				out = append(make([]*event.Event, 0, len(evs)), evs[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, ev)
		}
	}
	if out == nil {
		return evs
	}
	return out
}

// admitter returns the stage's admit function for flight f (nil without
// a budget): it is asked for the events the filter, sampling and shaping
// selected, and passes them through the budget. A spent budget holds back
// the events without priority: deferred (f.held, and the partition's
// commit stops at the first) or dropped (counted, committed).
func (c *claimRun) admitter(f *flight) func([]*event.Event) []*event.Event {
	rb, d := c.r.budget, c.p.deferral
	if rb == nil {
		return nil
	}
	return func(evs []*event.Event) []*event.Event {
		spent, active := rb.b.Spent(), d.Active()
		if !spent && !active {
			return evs
		}
		send, held := evs, []*event.Event(nil)
		if spent {
			send, held = rb.b.Split(evs)
		}
		if len(held) > 0 && rb.b.Action() == budget.Drop {
			rb.b.Held(len(held), size(held))
			return send
		}
		if active && d.Full() { // no room to remember more: everything waits
			send, held = nil, evs
		}
		for _, ev := range held {
			d.Defer(ev.Offset, ev.Timestamp, ev.Size())
			f.held = append(f.held, ev.Offset)
		}
		if len(held) > 0 {
			rb.b.Held(len(held), size(held))
		}
		return send
	}
}

// notHeld returns the runs of consecutive events of all whose offsets are
// not in held (increasing, a subset of all's), as offset ranges.
func notHeld(all []*event.Event, held []int64) [][2]int64 {
	var runs [][2]int64
	h, open := 0, false
	for _, ev := range all {
		if h < len(held) && held[h] == ev.Offset {
			h++
			open = false
			continue
		}
		if open {
			runs[len(runs)-1][1] = ev.Offset
			continue
		}
		runs = append(runs, [2]int64{ev.Offset, ev.Offset})
		open = true
	}
	return runs
}

func size(evs []*event.Event) int {
	n := 0
	for _, ev := range evs {
		n += ev.Size()
	}
	return n
}

// remember records the offsets of a delivered batch that were handled
// (sent, filtered out, dropped: all but the deferred ones), so that a
// drain does not send them again. Every batch of a route with a budget is
// remembered, not only those after the first deferred offset: batches of
// a partition pass the budget concurrently, so a later one may be sent
// before an earlier one is deferred. What the commit passed is forgotten
// (Forget in land), so the ranges stay few while nothing is deferred.
func (c *claimRun) remember(f *flight) {
	if c.r.budget == nil {
		return
	}
	for _, run := range notHeld(f.b.Events, f.held) {
		c.p.deferral.Done(run[0], run[1])
	}
}

// budgetTick runs once a second from monitor: it drains deferred
// partitions when the budget allows (their claims end; the route joins
// again and reads them from the committed offset), pauses the route while
// a spent budget lets nothing flow, and warns about deferred events near
// their topic's retention.
func (r *route) budgetTick() {
	rb := r.budget
	if rb == nil {
		return
	}
	now := time.Now()
	if r.b.budgetClock != nil {
		now = r.b.budgetClock.Now()
	}
	drain := rb.b.Action() == budget.Defer && rb.b.DrainOpen()
	hold := rb.b.Action() == budget.Defer && !rb.b.HasPriority() && rb.b.Spent()
	if rb.hold.Swap(hold) != hold {
		r.updatePause()
	}
	ret := r.retention(now)
	near := int64(0)
	for _, p := range r.partitions() {
		st := p.deferral.Stats()
		if st.From < 0 {
			continue
		}
		if drain {
			select {
			case p.drain <- struct{}{}:
				r.log.Info("budget: reading deferred events again", "topic", p.topic, "partition", p.partition,
					"from", st.From, "deferred", st.Events)
			default:
			}
		}
		if budget.NearRetention(st.FromTime, now, ret[p.topic]) {
			near++
			r.warnRetention(p, st, ret[p.topic], now)
		}
	}
	rb.nearRetention.Store(near)
}

// warnRetention logs once a day per partition that deferred events are
// close to being deleted by Kafka.
func (r *route) warnRetention(p *partition, st budget.DeferralStats, ret time.Duration, now time.Time) {
	day := r.budget.b.Schedule().DayStart(now).Unix()
	if last, ok := r.budget.warned.Load(topicPartition{p.topic, p.partition}); ok && last.(int64) == day {
		return
	}
	r.budget.warned.Store(topicPartition{p.topic, p.partition}, day)
	r.log.Warn("budget: deferred events are within 20% of the topic's retention and may be deleted before they are sent",
		"topic", p.topic, "partition", p.partition, "oldest_deferred", st.FromTime, "retention", ret)
}

// retention returns the route's topics' retention (topics_regex matches
// included), read again every retentionRefresh (an error keeps the last
// one).
func (r *route) retention(now time.Time) map[string]time.Duration {
	rb := r.budget
	rb.retMu.Lock()
	defer rb.retMu.Unlock()
	if r.b.client == nil || (!rb.retentionAt.IsZero() && now.Sub(rb.retentionAt) < retentionRefresh) {
		return rb.retention
	}
	rb.retentionAt = now
	// Closing this admin would close the bridge's shared client.
	admin, err := sarama.NewClusterAdminFromClient(r.b.client)
	if err == nil {
		var ret map[string]time.Duration
		if ret, err = budget.Retention(admin, r.routeTopics()); err == nil {
			rb.retention = ret
		}
	}
	if err != nil {
		r.log.Warn("budget: cannot read the topics' retention", "err", err)
	}
	return rb.retention
}

// BudgetStats is a route's budget (routes[].budget) in its snapshot.
type BudgetStats struct {
	budget.Stats
	// Pending counts the events waiting in Kafka now (deferred since each
	// partition's first deferred offset, by this process).
	Pending      int64 `json:"pending"`
	PendingBytes int64 `json:"pending_bytes"`
	// OldestDeferred is the record time of the oldest deferred event.
	OldestDeferred time.Time `json:"oldest_deferred,omitzero"`
	// NearRetention counts partitions whose oldest deferred event is
	// within 20 % of its topic's retention.
	NearRetention int64 `json:"near_retention"`
}

func (r *route) budgetStats() *BudgetStats {
	if r.budget == nil {
		return nil
	}
	s := &BudgetStats{Stats: r.budget.b.Stats(), NearRetention: r.budget.nearRetention.Load()}
	for _, p := range r.partitions() {
		st := p.deferral.Stats()
		if st.From < 0 {
			continue
		}
		s.Pending += st.Events
		s.PendingBytes += st.Bytes
		if s.OldestDeferred.IsZero() || st.FromTime.Before(s.OldestDeferred) {
			s.OldestDeferred = st.FromTime
		}
	}
	return s
}

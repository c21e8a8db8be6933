package budget

import "time"

// Stats is a snapshot of a budget, for metrics, the status page and
// `siembridge status`.
type Stats struct {
	// DayStart and NextReset bound the current budget day.
	DayStart  time.Time `json:"day_start"`
	NextReset time.Time `json:"next_reset"`
	// LimitBytes and LimitEvents per day; 0: no cap of that kind.
	LimitBytes  int64 `json:"limit_bytes"`
	LimitEvents int64 `json:"limit_events"`
	// SpentBytes and SpentEvents in the day, by every process of the
	// route (as far as the ledger told this one).
	SpentBytes  int64 `json:"spent_bytes"`
	SpentEvents int64 `json:"spent_events"`
	// RemainingBytes and RemainingEvents before the budget is spent (0
	// when spent); -1 when there is no cap of that kind.
	RemainingBytes  int64 `json:"remaining_bytes"`
	RemainingEvents int64 `json:"remaining_events"`
	// Spent: the day's budget is used up; SpentAt is when (zero if not).
	Spent   bool      `json:"spent"`
	SpentAt time.Time `json:"spent_at,omitzero"`
	// ExhaustsAt is when the budget will run out at this process's rate
	// of the last five minutes scaled to the route's share, zero when
	// not before the next reset (or already spent).
	ExhaustsAt time.Time `json:"exhausts_at,omitzero"`
	// DrainOpen: deferred events may be read again now.
	DrainOpen bool `json:"drain_open"`
	// Deferred and DeferredBytes count events held back in Kafka by this
	// process since it started (an event deferred twice counts twice);
	// Dropped and DroppedBytes those committed without being sent.
	Deferred      int64 `json:"deferred"`
	DeferredBytes int64 `json:"deferred_bytes"`
	Dropped       int64 `json:"dropped"`
	DroppedBytes  int64 `json:"dropped_bytes"`
}

// Stats returns the budget's state now.
func (b *Budget) Stats() Stats {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)
	s := Stats{
		DayStart: b.day, NextReset: b.sched.NextReset(now),
		LimitBytes: b.maxBytes, LimitEvents: b.maxEvents,
		SpentBytes: b.own.bytes + b.others.bytes, SpentEvents: b.own.events + b.others.events,
		Spent: b.spent(), SpentAt: b.spentAt,
		Deferred: b.deferred.events, DeferredBytes: b.deferred.bytes,
		Dropped: b.dropped.events, DroppedBytes: b.dropped.bytes,
	}
	s.DrainOpen = !s.Spent && b.sched.InWindow(now)
	s.RemainingBytes = remaining(b.maxBytes, s.SpentBytes)
	s.RemainingEvents = remaining(b.maxEvents, s.SpentEvents)
	if !s.Spent {
		s.ExhaustsAt = b.projection(now, s)
	}
	return s
}

func remaining(limit, spent int64) int64 {
	if limit == 0 {
		return -1
	}
	return max(0, limit-spent)
}

// projection is when the budget runs out if the route goes on spending
// at the rate of the last rateSpan; zero when that is not before the next
// reset. The rate is this process's, scaled by the route's total over
// this process's own spend of the day (other processes are assumed to
// send in the same proportion as so far today). b.mu is held.
func (b *Budget) projection(now time.Time, s Stats) time.Time {
	since := time.Unix((now.Unix()/60)*60, 0).Add(-rateSpan) // whole minutes
	for _, t := range []time.Time{b.day, b.started} {
		if t.After(since) {
			since = t
		}
	}
	elapsed := now.Sub(since)
	if elapsed < time.Second {
		return time.Time{}
	}
	var rb, re int64
	first := since.Unix() / 60
	for _, bk := range b.buckets {
		if bk.minute >= first && bk.minute <= now.Unix()/60 {
			rb += bk.bytes
			re += bk.events
		}
	}
	scale := 1.0
	if b.own.bytes > 0 && b.others.bytes > 0 {
		scale = float64(b.own.bytes+b.others.bytes) / float64(b.own.bytes)
	}
	at := time.Time{}
	for _, c := range []struct{ left, n int64 }{{s.RemainingBytes, rb}, {s.RemainingEvents, re}} {
		if c.left < 0 || c.n == 0 {
			continue
		}
		rate := float64(c.n) * scale / elapsed.Seconds()
		t := now.Add(time.Duration(float64(c.left) / rate * float64(time.Second)))
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if !at.Before(s.NextReset) {
		return time.Time{}
	}
	return at
}

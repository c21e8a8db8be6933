package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/siembridge/siembridge/clock"
)

// Concurrency tuning: the documented behaviour of Concurrency.Done. They
// are constants, not options, until a sink shows a need to tune them.
const (
	// concurrencyInitial is the limit a new Concurrency starts at (at
	// most its maximum): the fixed bound of earlier versions, so that a
	// route starts no slower than it did.
	concurrencyInitial = 4
	// concurrencyDecrease multiplies the limit when the round-trip time
	// climbs: requests begin to queue at the sink.
	concurrencyDecrease = 0.9
	// overloadDecrease multiplies the limit when the sink was overloaded
	// (a request timed out, or 503 "busy"): the sink is far past its
	// capacity, and a timed-out request goes on costing it work after we
	// gave up on it, so a 10 % step per round trip lets the timeouts (and
	// the retries they cause) pile up. Halving is TCP's answer to loss.
	overloadDecrease = 0.5
	// overloadMemory is how long an overload is remembered across
	// Recover: a sink that tripped the breaker by timing out is not sent
	// its old number of requests at once when it answers again.
	overloadMemory = time.Minute
	// rttTolerance: a window's mean round-trip time above the base (the
	// lowest window mean of the last rttHistory windows) by more than
	// this fraction, and by more than rttSlack, counts as climbing:
	// requests queue at the sink. The slack lets a sink nearby that
	// answers in milliseconds (CPU-bound, on the same machine or rack)
	// take a few requests more than it can work on at once, so that its
	// cores are never idle waiting for the next one: with only the 25 %
	// it settled at about two requests in flight and 0.72 of the bench's
	// immediate bound; with 10 ms of slack, 0.9.
	rttTolerance = 0.25
	rttSlack     = 10 * time.Millisecond
	// rttHistory windows make the base: old enough minima expire, so a
	// sink whose round trip really changed (another path, another region)
	// gets a new base instead of a limit pinned at 1.
	rttHistory = 32
	// minWindow bounds a window from below, so that a sink answering in
	// microseconds does not adjust the limit thousands of times a second.
	minWindow = 10 * time.Millisecond
)

// Signal is what a finished request tells the concurrency controller.
type Signal uint8

const (
	// Answered: the sink answered in a way that says nothing about load
	// (delivered, items rejected, a 5xx). Its round-trip time counts.
	Answered Signal = iota
	// Overloaded: the request timed out or the sink said it is
	// unavailable (503, HEC "server busy"): fewer requests in flight.
	Overloaded
	// Throttled: the sink answered 429, for the request or some items.
	// That is the events-per-second rate's signal (Limiter.Throttled);
	// the concurrency holds still for the window rather than shrink as
	// well, so the two controllers do not both cut for one cause.
	Throttled
	// Failed: no answer (connection refused, reset, the request was cut).
	// The breaker tracks outages; the concurrency ignores the request.
	Failed
)

// Concurrency bounds the requests of a route in flight, adaptively: the
// limit grows per window (a window lasts one base round-trip time) in
// which the limit was reached and the round-trip time stayed flat — it
// doubles until the first decrease (slow start, as TCP's), then grows by
// one — and shrinks by 10 % in a window in which it climbed (its mean is
// over 1.25 × the lowest window mean of the last 32 windows: requests
// queue at the sink), by half in one in which the sink was overloaded
// (timeouts, 503) — additive increase, multiplicative decrease on
// round-trip time, as Vector's adaptive request concurrency and TCP Vegas
// do. It never goes above its maximum (routes[].workers) or below 1. With
// adaptive off it is a plain semaphore of the maximum.
//
// It and the Limiter's adaptive rate do not fight: 429s are the rate's
// signal (the concurrency holds still), round-trip time and overload are
// the concurrency's. A route whose rate limit is the bottleneck never
// reaches its concurrency limit, so the limit does not grow for nothing.
//
// Safe for concurrent use; it owns no goroutine.
type Concurrency struct {
	max      int
	adaptive bool
	clock    clock.Clock

	mu       sync.Mutex
	limit    int
	inFlight int
	waiters  []chan struct{} // FIFO; a slot is handed over by closing

	winStart  time.Time
	winSum    float64 // seconds
	winN      int
	reached   bool // the limit was reached in this window
	overload  bool
	throttled bool

	// means holds the last rttHistory windows' mean RTTs, seconds; the
	// base is their minimum.
	means      [rttHistory]float64
	nMeans     int
	base       float64
	ups, downs int64
	// slowStart: until the first decrease (and again after Recover) the
	// limit doubles per window instead of growing by one, so that a sink
	// far away gets its requests in flight within a few round trips.
	slowStart bool
	// ssthresh caps slow start (TCP's slow-start threshold): the limit
	// after the last overload, the maximum when there was none within
	// overloadMemory. lastOverload is when it was set.
	ssthresh     int
	lastOverload time.Time
}

// NewConcurrency returns a controller of at most maxInFlight requests.
// clk may be nil (the system clock).
func NewConcurrency(maxInFlight int, adaptive bool, clk clock.Clock) *Concurrency {
	if clk == nil {
		clk = clock.System{}
	}
	c := &Concurrency{max: max(1, maxInFlight), adaptive: adaptive, clock: clk, slowStart: true}
	c.limit, c.ssthresh = c.max, c.max
	if adaptive {
		c.limit = min(c.max, concurrencyInitial)
	}
	return c
}

// Acquire blocks until a request may be sent, or ctx ends (then it returns
// ctx.Err() and holds nothing). Every nil return must be followed by one
// Done.
func (c *Concurrency) Acquire(ctx context.Context) error {
	c.mu.Lock()
	if c.inFlight < c.limit && len(c.waiters) == 0 {
		c.takeLocked()
		c.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		for i, w := range c.waiters {
			if w == ch {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				c.mu.Unlock()
				return ctx.Err()
			}
		}
		// The slot was handed over as ctx ended: give it back.
		c.mu.Unlock()
		c.Done(0, Failed)
		return ctx.Err()
	}
}

func (c *Concurrency) takeLocked() {
	c.inFlight++
	if c.inFlight >= c.limit {
		c.reached = true
	}
}

// Done ends a request acquired with Acquire, which took rtt (the time from
// sending it to its answer) and ended as sig.
func (c *Concurrency) Done(rtt time.Duration, sig Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	if c.adaptive {
		c.observeLocked(c.clock.Now(), rtt, sig)
	}
	c.handOverLocked()
}

// handOverLocked gives free slots to the waiters, first come first.
func (c *Concurrency) handOverLocked() {
	for len(c.waiters) > 0 && c.inFlight < c.limit {
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		c.takeLocked()
		close(w)
	}
}

// observeLocked folds one answer into the window and, when the window is
// over, adjusts the limit.
func (c *Concurrency) observeLocked(now time.Time, rtt time.Duration, sig Signal) {
	if sig == Failed {
		return
	}
	if c.winStart.IsZero() {
		c.winStart = now
	}
	window := max(minWindow, time.Duration(c.base*float64(time.Second)))
	if now.Sub(c.winStart) >= window {
		// The window is over: judge it, then this answer opens the next.
		c.adjustLocked(now)
		c.winStart, c.winSum, c.winN = now, 0, 0
		c.reached = c.inFlight >= c.limit
		c.overload, c.throttled = false, false
	}
	switch sig {
	case Overloaded:
		c.overload = true
	case Throttled:
		c.throttled = true
	}
	if sig != Throttled && rtt > 0 {
		c.winSum += rtt.Seconds()
		c.winN++
	}
}

// adjustLocked applies the rules at the end of a window judged at now.
func (c *Concurrency) adjustLocked(now time.Time) {
	if c.winN == 0 && !c.overload {
		return // nothing measured: keep everything
	}
	mean := 0.0
	if c.winN > 0 {
		mean = c.winSum / float64(c.winN)
	}
	climbing := c.nMeans > 0 && c.winN > 0 &&
		mean > c.base*(1+rttTolerance) && mean > c.base+rttSlack.Seconds()
	switch {
	case c.overload:
		c.decreaseLocked(overloadDecrease)
		c.ssthresh, c.lastOverload = c.limit, now
	case climbing:
		c.decreaseLocked(concurrencyDecrease)
	case c.throttled:
		// the rate's signal: hold still
	case c.reached && c.limit < c.max:
		if c.slowStart && c.limit < c.ssthresh {
			c.limit = min(c.max, 2*c.limit, c.ssthresh)
		} else {
			c.slowStart = false
			c.limit++
		}
		c.ups++
	}
	if c.winN > 0 {
		c.means[c.nMeans%rttHistory] = mean
		c.nMeans++
		c.base = mean
		for _, m := range c.means[:min(c.nMeans, rttHistory)] {
			c.base = min(c.base, m)
		}
	}
}

// decreaseLocked multiplies the limit by factor, by one at least, never
// below 1, and ends slow start.
func (c *Concurrency) decreaseLocked(factor float64) {
	c.slowStart = false
	next := min(c.limit-1, int(float64(c.limit)*factor))
	if next = max(1, next); next < c.limit {
		c.limit = next
		c.downs++
	}
}

// Recover is called when the sink comes back after an outage: the limit
// goes back to at least its initial value, so the backlog drains at once
// rather than after a ramp, and the round-trip history is forgotten (the
// sink that came back may answer differently). After an overload (the
// breaker tripped on timeouts or 503s, or the sink was overloaded less
// than overloadMemory ago) the limit is not raised above what was left
// after it, and slow start stops there: the sink that timed out would
// otherwise be sent the same load again, and time out again.
func (c *Concurrency) Recover() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.adaptive {
		return
	}
	if c.lastOverload.IsZero() || c.clock.Now().Sub(c.lastOverload) >= overloadMemory {
		c.ssthresh, c.lastOverload = c.max, time.Time{}
	}
	c.limit = max(c.limit, min(c.max, concurrencyInitial, c.ssthresh))
	c.slowStart = true
	c.nMeans, c.base = 0, 0
	c.winStart, c.winSum, c.winN = time.Time{}, 0, 0
	c.overload, c.throttled, c.reached = false, false, false
	c.handOverLocked()
}

// ConcurrencyStats is a snapshot of a Concurrency.
type ConcurrencyStats struct {
	Limit    int           // requests allowed in flight now
	Max      int           // the configured bound (workers)
	InFlight int           // requests in flight now
	Waiting  int           // callers waiting for a slot
	RTT      time.Duration // base round-trip time, 0 before the first window
	Adaptive bool
	Ups      int64 // increases of the limit since start
	Downs    int64 // decreases
}

// Stats returns a snapshot.
func (c *Concurrency) Stats() ConcurrencyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConcurrencyStats{Limit: c.limit, Max: c.max, InFlight: c.inFlight, Waiting: len(c.waiters),
		RTT: time.Duration(c.base * float64(time.Second)), Adaptive: c.adaptive, Ups: c.ups, Downs: c.downs}
}

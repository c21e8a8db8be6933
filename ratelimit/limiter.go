// Package ratelimit paces one route's deliveries to its sink: an events
// bucket and a bytes bucket (golang.org/x/time/rate), a live and a
// catch-up mode chosen from the consumer lag, and an optional AIMD cap that
// backs off when the sink throttles and grows back while it is healthy.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/siembridge/siembridge/clock"
)

// Mode is the pacing mode of a Limiter.
type Mode int32

const (
	// Live: the route is near the log end; the live rates apply.
	Live Mode = iota
	// Catchup: the route is far behind; the catch-up rates apply.
	Catchup
)

func (m Mode) String() string {
	switch m {
	case Live:
		return "live"
	case Catchup:
		return "catch-up"
	default:
		return fmt.Sprintf("Mode(%d)", int32(m))
	}
}

// Stats is a snapshot of a Limiter. Rates are per second, 0 = unlimited.
type Stats struct {
	Mode Mode
	// EventsPerSecond in effect: min(configured, adaptive cap).
	EventsPerSecond float64
	// ConfiguredEventsPerSecond of the current mode.
	ConfiguredEventsPerSecond float64
	// BytesPerSecond in effect (the mode's; AIMD only caps events).
	BytesPerSecond float64
	// AdaptiveCap on events/s; 0 = no cap.
	AdaptiveCap float64
	// DeliveredEventsPerSecond: EWMA of what Delivered reported
	// (measured only with Adaptive).
	DeliveredEventsPerSecond float64
	// Latency: EWMA of the normal answer time reported to Success.
	Latency time.Duration
	// Throttles: throttle signals received (Throttled calls and slow
	// answers), whether or not they lowered the rate.
	Throttles uint64
	// Decreases: throttle signals that lowered the adaptive cap.
	Decreases uint64
	// WaitTotal: time callers spent blocked in Wait.
	WaitTotal time.Duration
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock replaces the system clock (for tests). Default: clock.System.
func WithClock(c clock.Clock) Option { return func(l *Limiter) { l.clock = c } }

// WithLogger sets the logger for mode changes and adaptive cap changes,
// one line each. Default: discard.
func WithLogger(log *slog.Logger) Option { return func(l *Limiter) { l.log = log } }

// OnChange registers fn, called after every mode change, every decrease of
// the adaptive cap and when the cap is lifted (not on each small increase).
// Calls are serialized; when changes race, a stale snapshot is skipped
// rather than delivered after a newer one. fn may call Stats, Mode and
// Effective, but must not call methods that change the Limiter. Default:
// none.
func OnChange(fn func(Stats)) Option { return func(l *Limiter) { l.onChange = fn } }

// Limiter paces one route. It is safe for concurrent use; it owns no
// goroutine and needs no Close.
type Limiter struct {
	// unlimited is the fast path of Wait: true when neither bucket limits
	// anything in the current mode.
	unlimited atomic.Bool

	cfg      Config
	events   *rate.Limiter
	bytes    *rate.Limiter
	clock    clock.Clock
	log      *slog.Logger
	onChange func(Stats)

	throttles atomic.Uint64
	decreases atomic.Uint64
	waitNanos atomic.Int64

	// raised holds a channel that is closed (and replaced, under mu) when
	// the rate in effect goes up a lot (mode change, cap lifted), so that
	// Wait calls sleeping on a reservation made at the old rate take a
	// new one. Atomic so that Wait does not take mu.
	raised atomic.Pointer[chan struct{}]

	mu   sync.Mutex // guards the fields below
	mode Mode
	ad   aimd
	// reqBurst, when above 0, bounds the events bucket's burst (see
	// SetRequestBurst).
	reqBurst int
	seq      uint64 // of the last change announced to onChange

	hookMu  sync.Mutex // serializes onChange calls
	hookSeq uint64     // last seq delivered; guarded by hookMu
}

// New returns a Limiter in live mode. It fails if cfg is invalid.
func New(cfg Config, opts ...Option) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The buckets start full, at the live rates.
	ev, by := cfg.rates(Live)
	l := &Limiter{
		cfg:    cfg,
		events: rate.NewLimiter(toLimit(ev), cfg.eventBurst(ev)),
		bytes:  rate.NewLimiter(toLimit(by), cfg.byteBurst(by)),
		clock:  clock.System{},
	}
	raised := make(chan struct{})
	l.raised.Store(&raised)
	for _, o := range opts {
		o(l)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.ad.cfg = &l.cfg
	l.mu.Lock()
	l.applyLocked(l.clock.Now())
	l.mu.Unlock()
	return l, nil
}

// toLimit maps our "0 = unlimited" to rate's Inf (a rate.Limit of 0 would
// allow nothing).
func toLimit(r float64) rate.Limit {
	if r == 0 {
		return rate.Inf
	}
	return rate.Limit(r)
}

func setBucket(b *rate.Limiter, now time.Time, r float64, burst int) {
	if lim := toLimit(r); b.Limit() != lim {
		b.SetLimitAt(now, lim)
	}
	if b.Burst() != burst {
		b.SetBurstAt(now, burst)
	}
}

// applyLocked sets both buckets to the rates in effect. l.mu must be held.
func (l *Limiter) applyLocked(now time.Time) {
	evCfg, byCfg := l.cfg.rates(l.mode)
	ev := l.ad.effective(evCfg)
	burst := l.cfg.eventBurst(ev)
	if l.reqBurst > 0 {
		burst = min(burst, l.reqBurst)
	}
	setBucket(l.events, now, ev, burst)
	setBucket(l.bytes, now, byCfg, l.cfg.byteBurst(byCfg))
	l.unlimited.Store(ev == 0 && byCfg == 0)
}

// raisedLimit reports whether a limit went up (0 = unlimited).
func raisedLimit(before, after float64) bool {
	return before != 0 && (after == 0 || after > before)
}

// raiseLocked wakes the Wait calls sleeping on old reservations.
func (l *Limiter) raiseLocked() {
	next := make(chan struct{})
	close(*l.raised.Swap(&next))
}

// Wait blocks until both buckets allow events and bytes, or ctx ends (then
// it returns ctx.Err() and gives back what it had not used yet). A request
// larger than a bucket's burst is granted in burst-sized chunks, one after
// the other, rather than failing. When nothing is limited Wait returns nil
// at once without reading the clock or taking a lock. Safe for concurrent
// use.
func (l *Limiter) Wait(ctx context.Context, events, bytes int) error {
	if l.unlimited.Load() {
		return nil
	}
	return l.wait(ctx, events, bytes)
}

// wait is the slow path. It reserves both buckets at the same instant and
// sleeps once for the longer of the two delays. rate.Limiter.WaitN does
// the same with one bucket; it is not used because it reads time.Now
// itself (the clock must be injectable) and because two WaitN calls in a
// row would hold event tokens while sleeping for bytes.
func (l *Limiter) wait(ctx context.Context, events, bytes int) error {
	events, bytes = max(events, 0), max(bytes, 0)
	for events > 0 || bytes > 0 {
		if l.unlimited.Load() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		raised := *l.raised.Load()

		e, b := events, bytes
		if l.events.Limit() != rate.Inf {
			e = min(e, l.events.Burst())
		}
		if l.bytes.Limit() != rate.Inf {
			b = min(b, l.bytes.Burst())
		}
		now := l.clock.Now()
		re := l.events.ReserveN(now, e)
		if !re.OK() {
			continue // the burst shrank since we read it; take it again
		}
		rb := l.bytes.ReserveN(now, b)
		if !rb.OK() {
			re.CancelAt(now)
			continue
		}
		d := max(re.DelayFrom(now), rb.DelayFrom(now))
		if d > 0 {
			ch, stop := l.clock.NewTimer(d)
			select {
			case <-ch:
			case <-raised:
				stop()
				t := l.clock.Now()
				re.CancelAt(t)
				rb.CancelAt(t)
				l.waitNanos.Add(int64(t.Sub(now)))
				continue
			case <-ctx.Done():
				stop()
				t := l.clock.Now()
				re.CancelAt(t)
				rb.CancelAt(t)
				l.waitNanos.Add(int64(t.Sub(now)))
				return ctx.Err()
			}
			l.waitNanos.Add(int64(d))
		}
		events -= e
		bytes -= b
	}
	return nil
}

// ObserveLag tells the limiter how far behind the log end the route is
// (events). Above Config.CatchupLag it switches to catch-up mode; in
// catch-up mode it switches back to live when the lag drops below
// CatchupLag − CatchupLag/10 (90 %), so that a lag hovering around the
// threshold does not flap. With CatchupLag 0 it does nothing. Safe for
// concurrent use; call it whenever the lag is known (per fetch or per
// commit).
func (l *Limiter) ObserveLag(lag int64) {
	if l.cfg.CatchupLag <= 0 {
		return
	}
	l.mu.Lock()
	next := l.mode
	switch {
	case l.mode == Live && lag > l.cfg.CatchupLag:
		next = Catchup
	case l.mode == Catchup && lag < l.cfg.CatchupLag-l.cfg.CatchupLag/10:
		next = Live
	}
	if next == l.mode {
		l.mu.Unlock()
		return
	}
	before := l.statsLocked()
	l.mode = next
	evCfg, _ := l.cfg.rates(next)
	l.ad.normalize(evCfg)
	l.applyLocked(l.clock.Now())
	// Wake the sleepers to re-plan only when a limit rose: cancelling a
	// chain of reservations gives back fewer tokens than it took, so a
	// needless wake-up costs throughput (a switch between equal rates
	// must change nothing).
	if after := l.statsLocked(); raisedLimit(before.EventsPerSecond, after.EventsPerSecond) || raisedLimit(before.BytesPerSecond, after.BytesPerSecond) {
		l.raiseLocked()
	}
	st := l.statsLocked()
	l.log.Info("rate limit mode changed", "mode", next.String(), "lag", lag,
		"events_per_second", st.EventsPerSecond, "bytes_per_second", st.BytesPerSecond)
	l.announceLocked(st)
}

// Throttled reports that the sink pushed back at now (HTTP 429, 503, HEC
// "server busy"). With Adaptive, the events rate in effect halves (not
// below Floor), at most once per second (or per normal latency, when that
// is longer): the other rejections of the same burst are counted but do
// not lower it again. With an unlimited configured rate, the rate halved
// is the delivered rate measured by Delivered. Safe for concurrent use.
func (l *Limiter) Throttled(now time.Time) { l.ThrottledFraction(now, 1) }

// ThrottledFraction reports that the sink pushed back on a fraction (0, 1]
// of the events of one answer (for example the items of a bulk request
// answered 429). The decrease scales with it: the rate in effect is
// multiplied by 1 − 0.5 × fraction. Otherwise as Throttled. Safe for
// concurrent use.
func (l *Limiter) ThrottledFraction(now time.Time, fraction float64) {
	l.throttles.Add(1)
	if !l.cfg.Adaptive {
		return
	}
	l.mu.Lock()
	evCfg, _ := l.cfg.rates(l.mode)
	wasCapped := l.ad.capRate > 0
	if !l.ad.throttle(now, evCfg, fraction) {
		l.mu.Unlock()
		return
	}
	l.decreaseLocked("throttled", wasCapped)
}

// decreaseLocked publishes a lower cap. It unlocks l.mu. The buckets are
// updated at the limiter's clock, not at the caller's time, so that a
// caller's time slightly in the past cannot move a bucket backwards.
func (l *Limiter) decreaseLocked(reason string, wasCapped bool) {
	l.decreases.Add(1)
	l.applyLocked(l.clock.Now())
	st := l.statsLocked()
	level := slog.LevelDebug
	if !wasCapped {
		level = slog.LevelInfo // the adaptive rate engages: a state change
	}
	l.log.Log(context.Background(), level, "rate limit lowered", "reason", reason, "mode", st.Mode.String(),
		"events_per_second", st.EventsPerSecond)
	l.announceLocked(st)
}

// Success reports a healthy answer at now that took latency (0 = unknown).
// With Adaptive it grows the cap by max(2 % of the configured rate, 10
// events/s) per second of healthy time: each success adds the step scaled
// by the time since the previous increase (at most one second's worth), so
// the growth does not depend on how many partitions report. The cap is
// lifted when it reaches the configured rate or, when that is unlimited,
// when it is twice the delivered rate. An answer slower than 4× the normal
// latency and slower than 1 s is a weak throttle signal instead (−12.5 %). Safe for
// concurrent use.
func (l *Limiter) Success(now time.Time, latency time.Duration) {
	if !l.cfg.Adaptive {
		return
	}
	l.mu.Lock()
	evCfg, _ := l.cfg.rates(l.mode)
	hadCap := l.ad.capRate > 0
	slow, changed := l.ad.success(now, latency, evCfg)
	if slow {
		l.throttles.Add(1)
		if changed {
			l.decreaseLocked("slow answer", hadCap)
			return
		}
		l.mu.Unlock()
		return
	}
	if !hadCap {
		l.mu.Unlock()
		return
	}
	l.applyLocked(l.clock.Now())
	if !changed {
		l.mu.Unlock()
		return
	}
	l.raiseLocked()
	st := l.statsLocked()
	l.log.Info("rate limit back to configured", "mode", st.Mode.String(),
		"events_per_second", st.EventsPerSecond)
	l.announceLocked(st)
}

// ResetAdaptive lifts the adaptive cap: the configured rate of the mode is
// in effect again. The bridge calls it when a sink comes back after an
// outage: the failures that opened the breaker said "down", not
// "overloaded", and the backlog must drain at the catch-up rate. If the sink
// is still struggling it pushes back and AIMD lowers the rate again. Safe
// for concurrent use.
func (l *Limiter) ResetAdaptive() {
	l.mu.Lock()
	if l.ad.capRate == 0 {
		l.mu.Unlock()
		return
	}
	l.ad.capRate = 0
	l.ad.lastDecrease = time.Time{}
	l.applyLocked(l.clock.Now())
	l.raiseLocked()
	st := l.statsLocked()
	l.log.Info("rate limit back to configured", "reason", "sink recovered", "mode", st.Mode.String(),
		"events_per_second", st.EventsPerSecond)
	l.announceLocked(st)
}

// Delivered reports events delivered at now; it feeds the delivered-rate
// estimate AIMD starts from when the configured rate is unlimited. Call it
// after every delivered batch. Safe for concurrent use.
func (l *Limiter) Delivered(now time.Time, events int) {
	if !l.cfg.Adaptive || events <= 0 {
		return
	}
	l.mu.Lock()
	l.ad.observeDelivered(now, events)
	l.mu.Unlock()
}

// SetRequestBurst bounds the events bucket's burst by n events (n ≤ 0
// removes the bound). The delivery stage sets it to its request size while
// the sink answers items 429: a sink whose own burst is smaller than ours
// then gets requests spaced by their size at the rate in effect, rather
// than two back to back from the tokens saved up. Safe for concurrent use.
func (l *Limiter) SetRequestBurst(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = max(n, 0)
	if n == l.reqBurst {
		return
	}
	l.reqBurst = n
	l.applyLocked(l.clock.Now())
}

// Mode returns the current mode.
func (l *Limiter) Mode() Mode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode
}

// Effective returns the events/s in effect (0 = unlimited).
func (l *Limiter) Effective() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	evCfg, _ := l.cfg.rates(l.mode)
	return l.ad.effective(evCfg)
}

// Stats returns a snapshot. Safe for concurrent use.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statsLocked()
}

func (l *Limiter) statsLocked() Stats {
	evCfg, byCfg := l.cfg.rates(l.mode)
	return Stats{
		Mode:                      l.mode,
		EventsPerSecond:           l.ad.effective(evCfg),
		ConfiguredEventsPerSecond: evCfg,
		BytesPerSecond:            byCfg,
		AdaptiveCap:               l.ad.capRate,
		DeliveredEventsPerSecond:  l.ad.delivered,
		Latency:                   time.Duration(l.ad.latency * float64(time.Second)),
		Throttles:                 l.throttles.Load(),
		Decreases:                 l.decreases.Load(),
		WaitTotal:                 time.Duration(l.waitNanos.Load()),
	}
}

// announceLocked unlocks l.mu and hands st to the OnChange hook, outside
// l.mu so that the hook may call Stats. Hook calls are serialized by
// hookMu; a snapshot older than one already delivered is dropped.
func (l *Limiter) announceLocked(st Stats) {
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	if l.onChange == nil {
		return
	}
	l.hookMu.Lock()
	defer l.hookMu.Unlock()
	if seq <= l.hookSeq {
		return
	}
	l.hookSeq = seq
	l.onChange(st)
}

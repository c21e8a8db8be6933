// Package breaker tells whether a sink is up. After Failures consecutive
// failed requests (or one fatal one) the sink is down: deliveries stop, and
// a single caller of WaitUp probes the sink with jittered exponential
// backoff until it answers, while the other callers wait for that outcome.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/siembridge/siembridge/clock"
)

// Config of a Breaker. Every field is required: the breaker has no
// defaults of its own; siembridge's live in package config
// (config.DefaultBreakerFailures, DefaultInitialProbeInterval,
// DefaultMaxProbeInterval), which fills routes[].breaker in.
type Config struct {
	// Failures: consecutive failed requests that mark the sink down.
	// At least 1.
	Failures int
	// InitialProbe: the first interval between probes while down, before
	// jitter. More than 0.
	InitialProbe time.Duration
	// MaxProbe caps the interval between probes, jitter included. At
	// least InitialProbe.
	MaxProbe time.Duration
}

// Validate reports the first invalid field, named by its YAML key so the
// config layer can prefix its own path ("routes[0].breaker.").
func (c Config) Validate() error {
	switch {
	case c.Failures < 1:
		return fmt.Errorf("failures: must be >= 1, got %d", c.Failures)
	case c.InitialProbe <= 0:
		return fmt.Errorf("initial_probe_interval: must be > 0, got %v", c.InitialProbe)
	case c.MaxProbe <= 0:
		return fmt.Errorf("max_probe_interval: must be > 0, got %v", c.MaxProbe)
	case c.InitialProbe > c.MaxProbe:
		return fmt.Errorf("max_probe_interval: %v is below the initial probe interval %v", c.MaxProbe, c.InitialProbe)
	}
	return nil
}

// State of the sink as the breaker sees it.
type State int32

const (
	// Up: requests go through.
	Up State = iota
	// Down: the sink is unreachable or refuses us; wait for WaitUp.
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return fmt.Sprintf("State(%d)", int32(s))
	}
}

// Option configures a Breaker.
type Option func(*Breaker)

// WithClock replaces the system clock (for tests). Default: clock.System.
func WithClock(c clock.Clock) Option { return func(b *Breaker) { b.clock = c } }

// WithLogger sets the logger; it gets one line per state change, with the
// error that caused it, never one per failure. Default: discard.
func WithLogger(log *slog.Logger) Option { return func(b *Breaker) { b.log = log } }

// OnChange registers fn, called with the new state after every change.
// Calls are serialized and made without the breaker's lock held, so fn may
// call State, LastError, Since and Probes; it must not call Success,
// Failure or Trip. When changes race, a stale state is skipped rather than
// delivered after a newer one. Default: none.
func OnChange(fn func(State)) Option { return func(b *Breaker) { b.onChange = fn } }

// Breaker is the circuit breaker of one sink. It is safe for concurrent
// use, owns no goroutine and needs no Close.
type Breaker struct {
	cfg      Config
	clock    clock.Clock
	log      *slog.Logger
	onChange func(State)

	mu       sync.Mutex // guards the fields below
	state    State
	failures int // consecutive, while up
	lastErr  error
	since    time.Time
	probes   int
	down     *outage // nil while up
	waiters  int     // callers inside WaitUp (for tests and Stats to come)
	// recovered is closed at the next change from Down to Up (see
	// Recovered); nil until someone asks.
	recovered chan struct{}
	seq       uint64 // of the last change announced to onChange

	hookMu  sync.Mutex // serializes onChange calls
	hookSeq uint64     // guarded by hookMu
}

// outage is one Down period. Its channels are how WaitUp callers learn
// the outcome without polling.
type outage struct {
	up chan struct{} // closed when the sink is up again
	// released is closed (and replaced) when the prober leaves without an
	// answer (its context ended), so that a waiter takes over.
	released chan struct{}
	probing  bool // someone is probing
	probed   bool // a probe was made: the next prober sleeps first
	// bo is fresh per outage and used only by the current prober.
	bo *backoff.ExponentialBackOff
}

// New returns a Breaker in the Up state, or the error of cfg.Validate.
func New(cfg Config, opts ...Option) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker: %w", err)
	}
	b := &Breaker{cfg: cfg, clock: clock.System{}}
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.since = b.clock.Now()
	return b, nil
}

// Success records a request that went through, even if some of its items
// failed: the failure count resets and a Down sink is Up again.
func (b *Breaker) Success() {
	b.mu.Lock()
	b.failures = 0
	if b.down == nil {
		b.mu.Unlock()
		return
	}
	b.upLocked(b.down, "request succeeded")
}

// Failure records a failed request: refused or reset connection, timeout,
// 5xx, an authentication failure. After Config.Failures consecutive ones
// the sink is Down. A failure while Down only updates LastError.
func (b *Breaker) Failure(err error) {
	b.mu.Lock()
	b.lastErr = err
	if b.down != nil {
		b.mu.Unlock()
		return
	}
	b.failures++
	if b.failures < b.cfg.Failures {
		b.mu.Unlock()
		return
	}
	b.downLocked(err, "consecutive failures")
}

// Trip marks the sink Down at once, for a failure that retrying will not
// fix by itself (bad credentials).
func (b *Breaker) Trip(err error) {
	b.mu.Lock()
	b.lastErr = err
	if b.down != nil {
		b.mu.Unlock()
		return
	}
	b.downLocked(err, "tripped")
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// LastError returns the last error passed to Failure or Trip or returned
// by a probe; it is kept after the sink is Up again. Nil if none yet.
func (b *Breaker) LastError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// Recovered returns a channel that is closed the next time the sink comes
// back Up after being Down — also when it is Up now: then at the end of
// the next outage. A caller sleeping before a retry of a failed request
// selects on it, so that a sink that came back gets the retry at once
// rather than at the end of a backoff grown during the outage.
func (b *Breaker) Recovered() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.recovered == nil {
		b.recovered = make(chan struct{})
	}
	return b.recovered
}

// Since returns when the state last changed (New counts as a change).
func (b *Breaker) Since() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.since
}

// Probes returns the number of probes made since the sink last went Down.
func (b *Breaker) Probes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.probes
}

// ErrNoProbe is returned by WaitUp when its probe is nil and no other
// caller is probing: nothing would ever bring the sink back up.
var ErrNoProbe = errors.New("breaker: sink is down and no probe was given")

// WaitUp blocks until the sink is Up, or ctx ends (then it returns
// ctx.Err()). It returns nil at once when Up. When Down, exactly one caller
// probes: it calls probe, and on failure sleeps with jittered exponential
// backoff (InitialProbe growing to MaxProbe, never giving up) and probes
// again; the other callers wait for the same outcome. If the prober's ctx
// ends, it returns and a waiting caller takes over, continuing the
// backoff. Success also ends the wait. Safe for concurrent use.
func (b *Breaker) WaitUp(ctx context.Context, probe func(context.Context) error) error {
	b.mu.Lock()
	b.waiters++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
	}()
	for {
		b.mu.Lock()
		o := b.down
		if o == nil {
			b.mu.Unlock()
			return nil
		}
		if !o.probing && probe != nil {
			o.probing = true
			b.mu.Unlock()
			return b.probeLoop(ctx, o, probe)
		}
		if !o.probing && probe == nil {
			b.mu.Unlock()
			return ErrNoProbe
		}
		released := o.released
		b.mu.Unlock()
		select {
		case <-o.up:
			return nil
		case <-released:
			// The prober left without an answer: try to take over.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// probeLoop probes until the sink answers, the outage ends otherwise, or
// ctx ends. The caller holds the prober role for o; probeLoop gives it
// back on every way out but success, a panicking probe included.
func (b *Breaker) probeLoop(ctx context.Context, o *outage, probe func(context.Context) error) (err error) {
	upNow := false
	defer func() {
		if !upNow {
			b.release(o)
		}
	}()
	for {
		b.mu.Lock()
		var d time.Duration
		if o.probed {
			// The library caps the interval before jitter; the cap
			// here holds after it, so MaxProbe is a true maximum.
			d = min(o.bo.NextBackOff(), b.cfg.MaxProbe)
		}
		b.mu.Unlock()
		if d > 0 {
			ch, stop := b.clock.NewTimer(d)
			select {
			case <-ch:
			case <-o.up:
				stop()
				upNow = true
				return nil
			case <-ctx.Done():
				stop()
				return ctx.Err()
			}
		}
		select {
		case <-o.up: // Success() while we slept
			upNow = true
			return nil
		default:
		}
		b.mu.Lock()
		o.probed = true
		b.probes++
		b.mu.Unlock()
		perr := probe(ctx)
		if perr == nil {
			b.mu.Lock()
			if b.down == o {
				b.upLocked(o, "probe succeeded")
			} else {
				b.mu.Unlock()
			}
			upNow = true
			return nil
		}
		if err := ctx.Err(); err != nil {
			// The probe failed because we gave up, not because of
			// the sink: not an outcome.
			return err
		}
		b.mu.Lock()
		b.lastErr = perr
		b.mu.Unlock()
	}
}

// release gives the prober role of o back and wakes the waiters so that
// one of them takes it.
func (b *Breaker) release(o *outage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o.probing = false
	close(o.released)
	o.released = make(chan struct{})
}

// downLocked starts an outage. It unlocks b.mu.
func (b *Breaker) downLocked(err error, reason string) {
	b.down = &outage{
		up:       make(chan struct{}),
		released: make(chan struct{}),
		bo: backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(b.cfg.InitialProbe),
			backoff.WithMaxInterval(b.cfg.MaxProbe),
			backoff.WithMaxElapsedTime(0), // never give up on a sink
			backoff.WithClockProvider(b.clock),
		),
	}
	b.state = Down
	b.since = b.clock.Now()
	b.probes = 0
	b.log.Warn("sink down", "reason", reason, "failures", b.failures, "error", err)
	b.failures = 0
	b.announceLocked(Down)
}

// upLocked ends outage o. It unlocks b.mu.
func (b *Breaker) upLocked(o *outage, reason string) {
	close(o.up)
	if b.recovered != nil {
		close(b.recovered)
		b.recovered = nil
	}
	b.down = nil
	b.state = Up
	b.failures = 0
	now := b.clock.Now()
	b.log.Info("sink up", "reason", reason, "down_for", now.Sub(b.since), "probes", b.probes)
	b.since = now
	b.announceLocked(Up)
}

// announceLocked unlocks b.mu and hands s to the OnChange hook, dropping
// it if a newer state was delivered meanwhile.
func (b *Breaker) announceLocked(s State) {
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	if b.onChange == nil {
		return
	}
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	if seq <= b.hookSeq {
		return
	}
	b.hookSeq = seq
	b.onChange(s)
}

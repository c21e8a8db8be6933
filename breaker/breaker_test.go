package breaker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock: a timer of d moves the clock forward by d and fires at once,
// and every d is recorded, so a prober's backoff runs instantly and its
// intervals can be inspected.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.timers = append(c.timers, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() bool { return false }
}

func (c *fakeClock) Timers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.timers...)
}

var errRefused = errors.New("connection refused")

func TestValidate(t *testing.T) {
	ok := Config{Failures: 3, InitialProbe: time.Second, MaxProbe: time.Minute}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	tests := []struct {
		cfg  Config
		want string
	}{
		{ok, ""},
		{with(func(c *Config) { c.MaxProbe = c.InitialProbe }), ""},
		{Config{}, "failures"},
		{with(func(c *Config) { c.Failures = 0 }), "failures"},
		{with(func(c *Config) { c.Failures = -1 }), "failures"},
		{with(func(c *Config) { c.InitialProbe = 0 }), "initial_probe_interval"},
		{with(func(c *Config) { c.InitialProbe = -1 }), "initial_probe_interval"},
		{with(func(c *Config) { c.MaxProbe = 0 }), "max_probe_interval"},
		{with(func(c *Config) { c.MaxProbe = -1 }), "max_probe_interval"},
		{with(func(c *Config) { c.InitialProbe, c.MaxProbe = time.Minute, time.Second }), "max_probe_interval"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tt.want+":")) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
		b, err := New(tt.cfg)
		if (tt.want == "") != (err == nil) || (err == nil) != (b != nil) {
			t.Errorf("New(%+v) = %v, %v", tt.cfg, b, err)
		}
	}
}

// newTest is New for tests: zero fields of c take the values these tests
// were written for (siembridge's defaults at the time), and an invalid c
// fails the test.
func newTest(t testing.TB, c Config, opts ...Option) *Breaker {
	t.Helper()
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.InitialProbe == 0 {
		c.InitialProbe = 500 * time.Millisecond
	}
	if c.MaxProbe == 0 {
		c.MaxProbe = max(30*time.Second, c.InitialProbe)
	}
	b, err := New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStateMachine(t *testing.T) {
	// ops: f = Failure, s = Success, t = Trip; want: state after each op.
	tests := []struct {
		name string
		ops  string
		want string // u/d per op
	}{
		{"opens after 3", "fff", "uud"},
		{"success resets the count", "ffsfff", "uuuuud"},
		{"success in between, never opens", "ffsffsff", "uuuuuuuu"},
		{"trip opens at once", "t", "d"},
		{"trip after failures", "ft", "ud"},
		{"success closes", "fffs", "uudu"},
		{"failures while down change nothing", "ffffffs", "uuddddu"},
		{"count restarts after an outage", "fffsfff", "uuduuud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTest(t, Config{Failures: 3}, WithClock(newFakeClock()))
			for i, op := range tt.ops {
				switch op {
				case 'f':
					b.Failure(errRefused)
				case 's':
					b.Success()
				case 't':
					b.Trip(errors.New("401 bad credentials"))
				}
				want := Up
				if tt.want[i] == 'd' {
					want = Down
				}
				if got := b.State(); got != want {
					t.Fatalf("op %d (%c): state %v, want %v", i, op, got, want)
				}
			}
		})
	}
}

func TestLogAndHook(t *testing.T) {
	var logs bytes.Buffer
	var states []State
	b := newTest(t, Config{Failures: 2},
		WithClock(newFakeClock()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		OnChange(func(s State) { states = append(states, s) }))
	for range 50 {
		b.Failure(errRefused)
	}
	b.Success()
	b.Trip(errors.New("bad token"))
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("%d log lines, want 3 (down, up, down):\n%s", n, out)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "bad token") {
		t.Fatalf("log lines do not carry the error:\n%s", out)
	}
	if len(states) != 3 || states[0] != Down || states[1] != Up || states[2] != Down {
		t.Fatalf("OnChange got %v", states)
	}
	if b.LastError().Error() != "bad token" {
		t.Fatalf("LastError %v", b.LastError())
	}
	if Up.String() != "up" || Down.String() != "down" {
		t.Fatal("State.String")
	}
}

func TestWaitUpWhenUp(t *testing.T) {
	b := newTest(t, Config{})
	err := b.WaitUp(context.Background(), func(context.Context) error {
		t.Fatal("probed while up")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ten callers wait on one outage: one probe at a time, and the probe count
// does not depend on the number of waiters.
func TestSingleProber(t *testing.T) {
	clk := newFakeClock()
	b := newTest(t, Config{Failures: 1}, WithClock(clk))
	b.Failure(errRefused)

	gate := make(chan struct{})
	var calls, inFlight, maxInFlight atomic.Int32
	probe := func(context.Context) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		c := calls.Add(1)
		if c == 1 {
			<-gate // hold the first probe until all ten wait
		}
		if c < 5 {
			return errRefused
		}
		return nil
	}
	const waiters = 10
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- b.WaitUp(context.Background(), probe) }()
	}
	waitFor(t, func() bool { return b.waiting() == waiters && calls.Load() == 1 })
	close(gate)
	for range waiters {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := calls.Load(); c != 5 {
		t.Fatalf("%d probe calls, want 5", c)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("%d probes at once, want 1", m)
	}
	if b.State() != Up || b.Probes() != 5 {
		t.Fatalf("state %v, probes %d", b.State(), b.Probes())
	}
	if got := len(clk.Timers()); got != 4 {
		t.Fatalf("%d backoff sleeps, want 4 (none before the first probe)", got)
	}
}

func TestBackoffGrowthCapped(t *testing.T) {
	clk := newFakeClock()
	const initial, maxProbe = 100 * time.Millisecond, 2 * time.Second
	b := newTest(t, Config{InitialProbe: initial, MaxProbe: maxProbe}, WithClock(clk))
	b.Trip(errRefused)
	var calls int
	err := b.WaitUp(context.Background(), func(context.Context) error {
		calls++
		if calls <= 40 {
			return errRefused
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	iv := clk.Timers()
	if len(iv) != 40 {
		t.Fatalf("%d intervals, want 40", len(iv))
	}
	// Jitter is ±50 %.
	if iv[0] < initial/2 || iv[0] > initial*3/2 {
		t.Fatalf("first interval %v, want %v ± 50 %%", iv[0], initial)
	}
	for i, d := range iv {
		if d > maxProbe {
			t.Fatalf("interval %d = %v above the cap %v", i, d, maxProbe)
		}
	}
	for i, d := range iv[30:] {
		if d < maxProbe/2 {
			t.Fatalf("interval %d = %v: should have grown to the cap by now", 30+i, d)
		}
	}
	var first, last time.Duration
	for i := range 3 {
		first += iv[i]
		last += iv[len(iv)-1-i]
	}
	if last < 5*first {
		t.Fatalf("no growth: first three %v, last three %v", first, last)
	}
	if got := clk.Now().Sub(b.Since()); got != 0 {
		t.Fatalf("Since not the up time: %v", got)
	}
	if b.Probes() != 41 || !errors.Is(b.LastError(), errRefused) {
		t.Fatalf("probes %d, last error %v", b.Probes(), b.LastError())
	}
}

// The prober's context ends: it returns ctx.Err() and a waiter takes over.
func TestProberCancelled(t *testing.T) {
	b := newTest(t, Config{InitialProbe: time.Millisecond, MaxProbe: time.Millisecond}, WithClock(newFakeClock()))
	b.Trip(errRefused)

	ctxA, cancelA := context.WithCancel(context.Background())
	started := make(chan struct{})
	var calls atomic.Int32
	probe := func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done() // the first probe hangs until its caller gives up
			return ctx.Err()
		}
		return nil
	}
	errA := make(chan error, 1)
	go func() { errA <- b.WaitUp(ctxA, probe) }()
	<-started
	errB := make(chan error, 1)
	go func() { errB <- b.WaitUp(context.Background(), probe) }()
	waitFor(t, func() bool { return b.waiting() == 2 })
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("prober: %v, want canceled", err)
	}
	if err := <-errB; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if calls.Load() != 2 || b.State() != Up {
		t.Fatalf("calls %d, state %v", calls.Load(), b.State())
	}
	if errors.Is(b.LastError(), context.Canceled) {
		t.Fatal("a cancelled probe counted as the sink's error")
	}
}

// A waiter's context ends: it returns, the prober carries on.
func TestWaiterCancelled(t *testing.T) {
	b := newTest(t, Config{}, WithClock(newFakeClock()))
	b.Trip(errRefused)
	release := make(chan struct{})
	probe := func(context.Context) error { <-release; return nil }
	errA := make(chan error, 1)
	go func() { errA <- b.WaitUp(context.Background(), probe) }()
	waitFor(t, func() bool { return b.waiting() == 1 && b.Probes() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	errB := make(chan error, 1)
	go func() { errB <- b.WaitUp(ctx, probe) }()
	waitFor(t, func() bool { return b.waiting() == 2 })
	cancel()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: %v", err)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("prober: %v", err)
	}
	if b.Probes() != 1 {
		t.Fatalf("probes %d", b.Probes())
	}
}

// A request that goes through ends the outage for the waiters and stops
// the prober, which is asleep in its backoff.
func TestSuccessEndsWait(t *testing.T) {
	b := newTest(t, Config{InitialProbe: time.Hour, MaxProbe: time.Hour}) // real clock
	b.Trip(errRefused)
	done := make(chan error, 2)
	probe := func(context.Context) error { return errRefused }
	for range 2 {
		go func() { done <- b.WaitUp(context.Background(), probe) }()
	}
	waitFor(t, func() bool { return b.waiting() == 2 && b.Probes() == 1 })
	b.Success()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNoProbe(t *testing.T) {
	b := newTest(t, Config{})
	b.Trip(errRefused)
	if err := b.WaitUp(context.Background(), nil); !errors.Is(err, ErrNoProbe) {
		t.Fatalf("WaitUp(nil) = %v", err)
	}
}

// A panicking probe gives the prober role back.
func TestProbePanics(t *testing.T) {
	b := newTest(t, Config{}, WithClock(newFakeClock()))
	b.Trip(errRefused)
	func() {
		defer func() { _ = recover() }()
		_ = b.WaitUp(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if err := b.WaitUp(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b.State() != Up {
		t.Fatal("still down")
	}
}

// Everything at once, for the race detector.
func TestConcurrent(t *testing.T) {
	b := newTest(t, Config{Failures: 2, InitialProbe: time.Microsecond, MaxProbe: 10 * time.Microsecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n atomic.Int32
			for i := range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err := b.WaitUp(ctx, func(context.Context) error {
					if n.Add(1)%3 == 0 {
						return nil
					}
					return errRefused
				})
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				switch (g + i) % 4 {
				case 0:
					b.Success()
				case 1:
					b.Trip(errRefused)
				default:
					b.Failure(errRefused)
				}
				_, _, _, _ = b.State(), b.LastError(), b.Since(), b.Probes()
			}
		}()
	}
	wg.Wait()
}

// waiting reports how many callers are inside WaitUp.
func (b *Breaker) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters
}

// waitFor polls cond for up to 5 s; it is only used to reach a state that
// other goroutines are known to be heading for.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRecovered: the channel closes at the change from Down to Up, never
// at a success while Up, and a new one waits for the next outage's end.
func TestRecovered(t *testing.T) {
	b := newTest(t, Config{InitialProbe: time.Hour, MaxProbe: time.Hour})
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := b.Recovered()
	b.Success()
	if closed(ch) {
		t.Fatal("closed by a success while up")
	}
	b.Trip(errRefused)
	if closed(ch) {
		t.Fatal("closed when the sink went down")
	}
	if b.Recovered() != ch {
		t.Fatal("a second caller during the same outage got another channel")
	}
	b.Success()
	if !closed(ch) {
		t.Fatal("not closed when the sink came back")
	}
	if next := b.Recovered(); closed(next) {
		t.Fatal("the next outage's channel is already closed")
	}
}

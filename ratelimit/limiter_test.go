package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTest(t *testing.T, cfg Config, opts ...Option) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	l, err := New(cfg, append([]Option{WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func TestModeHysteresis(t *testing.T) {
	cfg := Config{EventsPerSecond: 100, CatchupLag: 1000, CatchupEventsPerSecond: 400}
	tests := []struct {
		lag  int64
		want Mode
	}{
		{0, Live},
		{1000, Live}, // not above the threshold
		{1001, Catchup},
		{950, Catchup}, // inside the band
		{900, Catchup}, // 90 % exactly: still catching up
		{899, Live},
		{950, Live}, // inside the band from below
		{1000, Live},
		{5000, Catchup},
		{0, Live},
	}
	var changes []Stats
	var logs bytes.Buffer
	l, _ := newTest(t, cfg,
		OnChange(func(s Stats) { changes = append(changes, s) }),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wantChanges := 0
	prev := Live
	for i, tt := range tests {
		l.ObserveLag(tt.lag)
		if got := l.Mode(); got != tt.want {
			t.Fatalf("step %d: ObserveLag(%d): mode %v, want %v", i, tt.lag, got, tt.want)
		}
		wantRate := 100.0
		if tt.want == Catchup {
			wantRate = 400
		}
		if st := l.Stats(); st.Mode != tt.want || st.EventsPerSecond != wantRate || l.Effective() != wantRate {
			t.Fatalf("step %d: stats %+v, want mode %v at %v ev/s", i, st, tt.want, wantRate)
		}
		if got := float64(l.events.Limit()); got != wantRate {
			t.Fatalf("step %d: bucket at %v ev/s, want %v", i, got, wantRate)
		}
		if tt.want != prev {
			wantChanges++
			prev = tt.want
		}
	}
	if len(changes) != wantChanges {
		t.Fatalf("OnChange called %d times, want %d", len(changes), wantChanges)
	}
	if n := strings.Count(logs.String(), "rate limit mode changed"); n != wantChanges {
		t.Fatalf("%d log lines, want one per change (%d):\n%s", n, wantChanges, logs.String())
	}
	if !strings.Contains(logs.String(), "mode=catch-up") {
		t.Fatalf("log does not name the mode:\n%s", logs.String())
	}
}

func TestModeDisabled(t *testing.T) {
	l, _ := newTest(t, Config{EventsPerSecond: 100, CatchupEventsPerSecond: 400})
	l.ObserveLag(1 << 40)
	if l.Mode() != Live {
		t.Fatal("CatchupLag 0 must keep the limiter live")
	}
}

func TestModeString(t *testing.T) {
	if Live.String() != "live" || Catchup.String() != "catch-up" || Mode(7).String() != "Mode(7)" {
		t.Fatal("Mode.String")
	}
}

// An adaptive cap survives a mode change, is lifted when the new mode is
// slower than it, and bounds a faster mode.
func TestModeAndCap(t *testing.T) {
	l, _ := newTest(t, Config{EventsPerSecond: 1000, CatchupLag: 10, CatchupEventsPerSecond: 4000, Adaptive: true, Floor: 10})
	l.ObserveLag(100)
	l.Throttled(at(0)) // 4000 → 2000
	if got := l.Effective(); got != 2000 {
		t.Fatalf("effective %v, want 2000", got)
	}
	l.ObserveLag(0) // live 1000 < cap 2000: lifted
	if st := l.Stats(); st.EventsPerSecond != 1000 || st.AdaptiveCap != 0 {
		t.Fatalf("after going live: %+v", st)
	}
	l.Throttled(at(1000)) // 1000 → 500
	l.ObserveLag(100)     // catch-up 4000, cap 500
	if got := l.Effective(); got != 500 {
		t.Fatalf("effective %v, want the cap 500", got)
	}
}

func TestLimiterAIMD(t *testing.T) {
	var changes []Stats
	l, clk := newTest(t, Config{EventsPerSecond: 1000, Adaptive: true, Floor: 200},
		OnChange(func(s Stats) { changes = append(changes, s) }))
	now := func() time.Time { return clk.Now() }

	for range 20 { // one burst of 429s
		l.Throttled(now())
	}
	st := l.Stats()
	if st.EventsPerSecond != 500 || st.AdaptiveCap != 500 || st.Throttles != 20 || st.Decreases != 1 {
		t.Fatalf("after a burst of 429s: %+v", st)
	}
	if got := float64(l.events.Limit()); got != 500 {
		t.Fatalf("bucket at %v", got)
	}
	clk.Advance(time.Second)
	l.Throttled(now())
	clk.Advance(time.Second)
	l.Throttled(now())
	if got := l.Effective(); got != 200 {
		t.Fatalf("effective %v, want the floor 200", got)
	}
	// Healthy for 80 s at step 10/s: back to 1000 and lifted.
	for range 80 {
		clk.Advance(time.Second)
		l.Success(now(), 10*time.Millisecond)
	}
	st = l.Stats()
	if st.EventsPerSecond != 1000 || st.AdaptiveCap != 0 {
		t.Fatalf("after 80 s healthy: %+v", st)
	}
	// 3 decreases and the lift were announced, not each increase.
	if len(changes) != 4 || changes[3].AdaptiveCap != 0 {
		t.Fatalf("OnChange: %+v", changes)
	}
}

func TestLimiterNotAdaptive(t *testing.T) {
	l, _ := newTest(t, Config{EventsPerSecond: 1000})
	l.Throttled(at(0))
	l.Success(at(0), time.Hour)
	l.Delivered(at(0), 100)
	if st := l.Stats(); st.EventsPerSecond != 1000 || st.Throttles != 1 || st.Decreases != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestLimiterLatencyTrigger(t *testing.T) {
	l, clk := newTest(t, Config{EventsPerSecond: 1000, Adaptive: true, Floor: 10})
	for range 10 {
		clk.Advance(100 * time.Millisecond)
		l.Success(clk.Now(), 50*time.Millisecond)
	}
	l.Success(clk.Now(), 2*time.Second)
	if st := l.Stats(); st.EventsPerSecond != 875 || st.Throttles != 1 || st.Latency <= 50*time.Millisecond {
		t.Fatalf("after a slow answer: %+v", st)
	}
}

// The unlimited fast path reads neither the clock nor a lock, and an
// adaptive cap on an unlimited route turns the slow path on.
func TestUnlimited(t *testing.T) {
	l, clk := newTest(t, Config{Adaptive: true, Floor: 10})
	n := clk.NowCalls()
	for range 100 {
		if err := l.Wait(context.Background(), 1000, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if clk.NowCalls() != n {
		t.Fatal("unlimited Wait read the clock")
	}
	l.Throttled(clk.Now())
	if !l.unlimited.Load() {
		t.Fatal("a throttle with no measured rate must not cap an unlimited route")
	}
	l.Delivered(clk.Now(), 100)
	clk.Advance(time.Second)
	l.Delivered(clk.Now(), 100) // 200 events in 1 s
	l.Throttled(clk.Now())
	if l.unlimited.Load() || l.Effective() != 100 {
		t.Fatalf("an adaptive cap must limit: effective %v, want 100", l.Effective())
	}
}

func TestWaitDeterministic(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		calls         [][2]int // events, bytes per Wait
		wantElapsed   time.Duration
		wantWaitTotal time.Duration
	}{
		{
			name:  "within burst: no wait",
			cfg:   Config{EventsPerSecond: 100, Burst: 50},
			calls: [][2]int{{50, 0}},
		},
		{
			name:        "second batch waits for refill",
			cfg:         Config{EventsPerSecond: 100, Burst: 50},
			calls:       [][2]int{{50, 0}, {50, 0}},
			wantElapsed: 500 * time.Millisecond,
		},
		{
			// 250 = 50 now + 4 chunks of 50 at 0.5 s each.
			name:        "larger than burst is split",
			cfg:         Config{EventsPerSecond: 100, Burst: 50},
			calls:       [][2]int{{250, 0}},
			wantElapsed: 2 * time.Second,
		},
		{
			name:        "bytes bucket is the slower one",
			cfg:         Config{EventsPerSecond: 1000, Burst: 100, BytesPerSecond: 1000, BurstBytes: 1000},
			calls:       [][2]int{{10, 1000}, {10, 500}},
			wantElapsed: 500 * time.Millisecond,
		},
		{
			// bytes 3000 in chunks of ≤1000; events 10 in the first.
			name:        "bytes larger than burst",
			cfg:         Config{BytesPerSecond: 1000, BurstBytes: 1000},
			calls:       [][2]int{{10, 3000}},
			wantElapsed: 2 * time.Second,
		},
		{
			name:  "zero and negative are free",
			cfg:   Config{EventsPerSecond: 1, Burst: 1},
			calls: [][2]int{{0, 0}, {-5, -5}, {1, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newTest(t, tt.cfg)
			start := clk.Now()
			for _, c := range tt.calls {
				if err := l.Wait(context.Background(), c[0], c[1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := clk.Since(start); got != tt.wantElapsed {
				t.Fatalf("elapsed %v, want %v", got, tt.wantElapsed)
			}
			if got := l.Stats().WaitTotal; got != tt.wantElapsed {
				t.Fatalf("WaitTotal %v, want %v", got, tt.wantElapsed)
			}
		})
	}
}

// Accuracy, measured on the fake clock so it cannot flake: at 2000 ev/s in
// batches of 50, one second grants the initial burst plus 2000 events.
func TestWaitAccuracy(t *testing.T) {
	l, clk := newTest(t, Config{EventsPerSecond: 2000, BatchEvents: 50})
	burst := l.events.Burst() // max(50, 2000/10) = 200
	if burst != 200 {
		t.Fatalf("derived burst %d, want 200", burst)
	}
	granted := 0
	for clk.Since(t0) <= time.Second {
		if err := l.Wait(context.Background(), 50, 0); err != nil {
			t.Fatal(err)
		}
		if clk.Since(t0) <= time.Second {
			granted += 50
		}
	}
	if want := 2000 + burst; granted != want {
		t.Fatalf("granted %d events in 1 s, want %d", granted, want)
	}
}

// Accuracy with the real clock: a limiter may be late but never early.
// Only the lower bound is strict; the upper one is generous.
func TestWaitRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	l, err := New(Config{EventsPerSecond: 2000, Burst: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	const batches = 20 // 1000 events: 50 from the burst, 950 at 2000/s
	for range batches {
		if err := l.Wait(ctx, 50, 0); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	want := 475 * time.Millisecond
	// Late is the machine's fault (CI under load); early would be ours.
	if el < want-5*time.Millisecond || el > 20*want {
		t.Fatalf("1000 events at 2000/s took %v, want about %v", el, want)
	}
}

// In any one-second window the limiter grants at most rate + burst events.
func TestWindowProperty(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
	}{
		{1, 1}, {10, 5}, {100, 100}, {2000, 200}, {2000, 50}, {12345.6, 777}, {50000, 5000},
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(uint64(tt.rate), uint64(tt.burst)))
		l, clk := newTest(t, Config{EventsPerSecond: tt.rate, Burst: tt.burst})
		type grant struct {
			at time.Time
			n  int
		}
		var grants []grant
		for range 3000 {
			if rng.IntN(4) == 0 { // idle now and then, so the bucket refills
				clk.Advance(time.Duration(rng.Int64N(int64(2 * time.Second))))
			}
			n := 1 + rng.IntN(tt.burst)
			if err := l.Wait(context.Background(), n, 0); err != nil {
				t.Fatal(err)
			}
			grants = append(grants, grant{clk.Now(), n})
		}
		limit := tt.rate + float64(tt.burst)
		// Sliding window [grants[i].at, grants[i].at+1s).
		sum, j := 0, 0
		for i := range grants {
			for j < len(grants) && grants[j].at.Sub(grants[i].at) < time.Second {
				sum += grants[j].n
				j++
			}
			if float64(sum) > limit+1e-6 {
				t.Fatalf("rate %v burst %d: %d events granted in the second from %v, limit %v",
					tt.rate, tt.burst, sum, grants[i].at.Sub(t0), limit)
			}
			sum -= grants[i].n
		}
	}
}

func TestWaitCancel(t *testing.T) {
	// One token per 1000 s: the second Wait cannot be served in time
	// however slow the machine.
	l, err := New(Config{EventsPerSecond: 0.001, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background(), 1, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Wait(ctx, 1, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("cancelled Wait returned after %v", el)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := l.Wait(cctx, 1, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context = %v", err)
	}
}

// A Wait sleeping on a reservation made at the live rate is released when
// catch-up mode lifts the limit.
func TestWaitWokenByModeChange(t *testing.T) {
	l, err := New(Config{EventsPerSecond: 0.001, Burst: 1, CatchupLag: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background(), 1, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background(), 1, 0) }()
	time.Sleep(20 * time.Millisecond) // let it reserve and sleep (1000 s)
	l.ObserveLag(100)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still asleep after the limit was lifted")
	}
}

// Everything at once, for the race detector.
func TestConcurrent(t *testing.T) {
	l, err := New(Config{EventsPerSecond: 1e8, BytesPerSecond: 1e11, CatchupLag: 100, CatchupEventsPerSecond: 2e8, Adaptive: true, Floor: 10})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if err := l.Wait(context.Background(), 100, 10000); err != nil {
					t.Error(err)
					return
				}
				now := time.Now()
				l.Delivered(now, 100)
				switch i % 50 {
				case 0:
					l.Throttled(now)
				case 1:
					l.ObserveLag(int64((g + i) % 3 * 100))
				default:
					l.Success(now, time.Millisecond)
				}
				_ = l.Stats()
			}
		}()
	}
	wg.Wait()
}

func TestRaisedLimit(t *testing.T) {
	tests := []struct {
		before, after float64
		want          bool
	}{
		{2000, 2000, false},
		{2000, 4000, true},
		{4000, 2000, false},
		{2000, 0, true}, // to unlimited
		{0, 2000, false},
		{0, 0, false},
	}
	for _, tt := range tests {
		if got := raisedLimit(tt.before, tt.after); got != tt.want {
			t.Errorf("raisedLimit(%v, %v) = %v, want %v", tt.before, tt.after, got, tt.want)
		}
	}
}

// SetRequestBurst bounds the events burst while set: tokens saved up give
// one request of that size at once, not two.
func TestSetRequestBurst(t *testing.T) {
	l, clk := newTest(t, Config{EventsPerSecond: 1000, Burst: 1000, BatchEvents: 1000, BatchBytes: 1 << 20})
	l.SetRequestBurst(100)
	if got := l.events.Burst(); got != 100 {
		t.Fatalf("burst %d with a request size of 100, want 100", got)
	}
	clk.Advance(10 * time.Second) // plenty of time to fill any bucket
	start := clk.Now()
	if err := l.Wait(context.Background(), 200, 0); err != nil {
		t.Fatal(err)
	}
	// 100 at once, the next 100 a tenth of a second later at 1000/s.
	if got := clk.Now().Sub(start); got < 90*time.Millisecond {
		t.Fatalf("200 events after a long idle took %v, want ≥ 100 ms: the burst is not bounded", got)
	}
	l.SetRequestBurst(0)
	if got := l.events.Burst(); got != 1000 {
		t.Fatalf("burst %d after the bound was removed, want the configured 1000", got)
	}
}

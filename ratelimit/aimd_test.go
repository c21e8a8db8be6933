package ratelimit

import (
	"math"
	"testing"
	"time"
)

// step is one input to the AIMD state machine in a table test.
type step struct {
	ms        int           // time since t0
	kind      string        // "throttle", "success", "delivered"
	latency   time.Duration // success
	events    int           // delivered
	wantCap   float64       // cap after the step (0 = none)
	wantSlow  bool          // success: counted as a throttle signal
	checkOnly bool          // only check, no input (kind ignored)
}

func runAIMD(t *testing.T, cfg Config, configured float64, steps []step) {
	t.Helper()
	a := aimd{cfg: &cfg}
	for i, s := range steps {
		now := at(s.ms)
		switch s.kind {
		case "throttle":
			a.throttle(now, configured, 1)
		case "success":
			slow, _ := a.success(now, s.latency, configured)
			if slow != s.wantSlow {
				t.Fatalf("step %d (%s at %dms): slow = %v, want %v", i, s.kind, s.ms, slow, s.wantSlow)
			}
		case "delivered":
			a.observeDelivered(now, s.events)
			continue
		}
		if math.Abs(a.capRate-s.wantCap) > 1e-9 {
			t.Fatalf("step %d (%s at %dms): cap = %v, want %v", i, s.kind, s.ms, a.capRate, s.wantCap)
		}
	}
}

func TestAIMDDecrease(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		configured float64
		steps      []step
	}{
		{
			name: "halves once per second", cfg: Config{Floor: 10}, configured: 1000,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 500},
				{ms: 10, kind: "throttle", wantCap: 500},  // same burst of 429s
				{ms: 999, kind: "throttle", wantCap: 500}, // still within 1 s
				{ms: 1000, kind: "throttle", wantCap: 250},
				{ms: 2000, kind: "throttle", wantCap: 125},
			},
		},
		{
			name: "stops at the floor", cfg: Config{Floor: 100}, configured: 300,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 150},
				{ms: 1000, kind: "throttle", wantCap: 100},
				{ms: 2000, kind: "throttle", wantCap: 100},
			},
		},
		{
			name: "floor 10", cfg: Config{Floor: 10}, configured: 30,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 15},
				{ms: 1000, kind: "throttle", wantCap: 10},
			},
		},
		{
			name: "floor never above the configured rate", cfg: Config{Floor: 50}, configured: 20,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 20},
			},
		},
		{
			name: "unlimited: halves the delivered rate", cfg: Config{Floor: 10}, configured: 0,
			steps: []step{
				{ms: 0, kind: "delivered", events: 400},
				{ms: 500, kind: "delivered", events: 400},
				{ms: 1000, kind: "delivered", events: 400}, // 1200 events in 1 s
				{ms: 1100, kind: "throttle", wantCap: 600},
				{ms: 2100, kind: "throttle", wantCap: 300},
			},
		},
		{
			name: "unlimited and nothing measured: no rate to lower", cfg: Config{Floor: 10}, configured: 0,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 0},
				{ms: 0, kind: "delivered", events: 500},
				{ms: 1000, kind: "delivered", events: 0}, // measured 500/s
				{ms: 1000, kind: "throttle", wantCap: 250},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAIMD(t, tt.cfg, tt.configured, tt.steps) })
	}
}

// TestAIMDFractionalDecrease: the decrease scales with the share of a
// batch's events the sink pushed back.
func TestAIMDFractionalDecrease(t *testing.T) {
	tests := []struct {
		fraction float64
		want     float64
	}{
		{1, 500},
		{0.5, 750},
		{0.02, 990},
		{0, 995},   // clamped to 1 %: a signal always eases a little
		{7, 500},   // clamped to 1
		{0.1, 950}, // 1000 × (1 − 0.05)
	}
	for _, tt := range tests {
		cfg := Config{Floor: 10}
		a := aimd{cfg: &cfg}
		a.throttle(at(0), 1000, tt.fraction)
		if math.Abs(a.capRate-tt.want) > 1e-9 {
			t.Errorf("fraction %v: cap %v, want %v", tt.fraction, a.capRate, tt.want)
		}
	}
}

func TestAIMDIncrease(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		configured float64
		steps      []step
	}{
		{
			// step = max(1 % of 2000, 10) = 20 ev/s per second.
			name: "linear back to the configured rate", cfg: Config{}, configured: 2000,
			steps: []step{
				{ms: 0, kind: "throttle", wantCap: 1000},
				{ms: 500, kind: "success", wantCap: 1020},
				{ms: 1000, kind: "success", wantCap: 1040},
				{ms: 1000, kind: "success", wantCap: 1040}, // many successes, same instant
				{ms: 1000, kind: "success", wantCap: 1040},
				{ms: 11000, kind: "success", wantCap: 1080}, // at most 1 s worth per success
				{ms: 60000, kind: "success", wantCap: 1120},
			},
		},
		{
			name: "reaches the configured rate and lifts the cap", cfg: Config{Floor: 100}, configured: 200,
			steps: func() []step {
				// step = max(2, 10) = 10 ev/s per second: 100 → 200 in 10 s.
				s := []step{{ms: 0, kind: "throttle", wantCap: 100}}
				for i := 1; i < 10; i++ {
					s = append(s, step{ms: i * 1000, kind: "success", wantCap: 100 + 10*float64(i)})
				}
				return append(s, step{ms: 10000, kind: "success", wantCap: 0})
			}(),
		},
		{
			name: "no cap, nothing to grow", cfg: Config{}, configured: 200,
			steps: []step{
				{ms: 0, kind: "success", wantCap: 0},
				{ms: 5000, kind: "success", wantCap: 0},
			},
		},
		{
			// ref = 1200 delivered → step 12; lifted at ≥ 2× delivered.
			name: "unlimited: lifted well above the delivered rate", cfg: Config{}, configured: 0,
			steps: []step{
				{ms: 0, kind: "delivered", events: 1200},
				{ms: 1000, kind: "delivered", events: 0},
				{ms: 1000, kind: "throttle", wantCap: 600},
				{ms: 2000, kind: "success", wantCap: 660},
				{ms: 2000, kind: "delivered", events: 100}, // demand fell: sample 100/s
				{ms: 3000, kind: "delivered", events: 0},   // EWMA 1200 → 870 → 609
				{ms: 3000, kind: "success", wantCap: 726},  // 726 < 2 × 609: kept
				{ms: 4000, kind: "delivered", events: 0},   // → 426.3
				{ms: 5000, kind: "delivered", events: 0},   // → 298.41
				{ms: 5000, kind: "success", wantCap: 0},    // 798.6 ≥ 2 × 298.41: lifted
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAIMD(t, tt.cfg, tt.configured, tt.steps) })
	}
}

func TestAIMDLatency(t *testing.T) {
	ms := time.Millisecond
	warm := func(start int) []step {
		var s []step
		for i := range latencyWarmup {
			s = append(s, step{ms: start + i, kind: "success", latency: 100 * ms})
		}
		return s
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "slow answer after warm-up lowers the rate by 12.5 %",
			steps: append(warm(0),
				step{ms: 10, kind: "success", latency: 1500 * ms, wantSlow: true, wantCap: 875}),
		},
		{
			name: "4x but under 1 s is not slow",
			steps: func() []step {
				var s []step
				for i := range latencyWarmup {
					s = append(s, step{ms: i, kind: "success", latency: 200 * ms})
				}
				return append(s, step{ms: 10, kind: "success", latency: 900 * ms})
			}(),
		},
		{
			name:  "during warm-up nothing is slow",
			steps: []step{{ms: 0, kind: "success", latency: 10 * ms}, {ms: 1, kind: "success", latency: 5 * time.Second}},
		},
		{
			name: "a slow answer within the decrease interval is counted, not applied",
			steps: append(warm(0),
				step{ms: 10, kind: "success", latency: 1500 * ms, wantSlow: true, wantCap: 875},
				step{ms: 20, kind: "success", latency: 3 * time.Second, wantSlow: true, wantCap: 875}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAIMD(t, Config{}, 1000, tt.steps) })
	}
}

// A sink whose normal latency really rose stops looking slow after a few
// answers: slow answers move the baseline too.
func TestAIMDLatencyBaselineAdapts(t *testing.T) {
	a := aimd{cfg: &Config{}}
	for range latencyWarmup {
		a.observeLatency(100 * time.Millisecond)
	}
	slow := 0
	for range 50 {
		if a.observeLatency(2 * time.Second) {
			slow++
		}
	}
	if slow == 0 || slow > 15 {
		t.Fatalf("%d of 50 answers at the new normal counted as slow, want a few", slow)
	}
}

func TestResetAdaptiveLiftsTheCap(t *testing.T) {
	l, clk := newTest(t, Config{EventsPerSecond: 1000, Adaptive: true, Floor: 10})
	l.Throttled(clk.Now())
	if got := l.Effective(); got != 500 {
		t.Fatalf("after a throttle: effective %v, want 500", got)
	}
	l.ResetAdaptive()
	if got := l.Effective(); got != 1000 {
		t.Fatalf("after ResetAdaptive: effective %v, want the configured 1000", got)
	}
	// The decrease interval starts afresh: a throttle right away counts.
	l.Throttled(clk.Now())
	if got := l.Effective(); got != 500 {
		t.Fatalf("throttle after reset: effective %v, want 500", got)
	}
}

// After a storm pushed an unlimited route to the floor, it climbs back in
// steps of at least 5 % of the rate it had before the storm.
func TestAIMDUnlimitedRecoversTowardGoodRate(t *testing.T) {
	cfg := Config{Floor: 10}
	a := aimd{cfg: &cfg}
	a.observeDelivered(at(0), 2000)
	a.observeDelivered(at(1000), 0) // measured 2000 events/s
	for i := range 12 {             // a long storm: one halving per second
		a.throttle(at(1000+1000*i), 0, 1)
	}
	if a.capRate != 10 {
		t.Fatalf("after the storm: cap %v, want the floor 10", a.capRate)
	}
	a.success(at(13000), 0, 0) // one second after the last decrease
	if a.capRate != 110 {
		t.Fatalf("one healthy second after the storm: cap %v, want 10 + 5 %% of 2000 = 110", a.capRate)
	}
	a.success(at(14000), 0, 0)
	if a.capRate != 210 {
		t.Fatalf("two healthy seconds after the storm: cap %v, want 210", a.capRate)
	}
}

// An unlimited route's cap comes back quickly to near the rate at which
// the sink last throttled, then probes past it slowly (2 % of that rate a
// second) until it is 10 % above it, then quickly again.
func TestAIMDProbesSlowlyNearLastDrop(t *testing.T) {
	cfg := Config{Floor: 10}
	a := aimd{cfg: &cfg}
	a.observeDelivered(at(0), 5000)
	a.observeDelivered(at(1000), 0) // measured 5000 events/s
	a.throttle(at(1000), 0, 0.2)    // 5000 × (1 − 0.1)
	if a.capRate != 4500 || a.lastDrop != 5000 {
		t.Fatalf("after the throttle: cap %v, last drop %v; want 4500 and 5000", a.capRate, a.lastDrop)
	}
	steps := []struct {
		ms   int
		want float64
	}{
		{2000, 4950}, // far below 0.95 × 5000: + 10 % of 4500
		{3000, 5050}, // near: + 2 % of 5000
		{4000, 5150},
		{5000, 5250},
		{6000, 5350},
		{7000, 5450},
		{8000, 5550}, // 5450 is still within 1.1 × 5000
		{9000, 6105}, // past it: + 10 % again
	}
	for _, s := range steps {
		a.success(at(s.ms), 0, 0)
		if math.Abs(a.capRate-s.want) > 1e-6 {
			t.Fatalf("at %d ms: cap %v, want %v", s.ms, a.capRate, s.want)
		}
	}
}

// Before its first full window of deliveries, a throttle lowers the rate
// delivered so far once a quarter second of it is measured; before that
// it only counts.
func TestAIMDEstimatesBeforeFirstWindow(t *testing.T) {
	cfg := Config{Floor: 10}
	a := aimd{cfg: &cfg}
	a.observeDelivered(at(0), 1000)
	a.observeDelivered(at(100), 200)
	if a.throttle(at(100), 0, 1) || a.capRate != 0 {
		t.Fatalf("100 ms measured: cap %v, want none yet", a.capRate)
	}
	a.observeDelivered(at(300), 300) // 1500 events in 300 ms: 5000/s
	if !a.throttle(at(300), 0, 1) || math.Abs(a.capRate-2500) > 1e-6 {
		t.Fatalf("300 ms measured at 5000/s, all throttled: cap %v, want 2500", a.capRate)
	}
}

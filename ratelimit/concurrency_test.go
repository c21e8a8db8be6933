package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// window runs one window on c: it takes n slots, advances the clock by rtt
// and ends every request with rtt and sig. It returns the limit after.
func window(t *testing.T, c *Concurrency, clk *fakeClock, n int, rtt time.Duration, sig Signal) int {
	t.Helper()
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Acquire(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Acquire with %d in flight, limit %d: %v", c.Stats().InFlight, c.Stats().Limit, err)
		}
	}
	clk.Advance(rtt)
	for range n {
		c.Done(rtt, sig)
	}
	return c.Stats().Limit
}

func TestConcurrencyRules(t *testing.T) {
	t.Parallel()
	const rtt = 100 * time.Millisecond
	type step struct {
		n    int // requests in the window; -1: as many as the limit
		rtt  time.Duration
		sig  Signal
		want int // limit after the window
	}
	// A window is judged when the first answer after it arrives: the
	// limit after step i reflects the answers of step i−1.
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"doubles a window while the limit is reached and the round trip flat (slow start), up to the maximum", 32, []step{
			{-1, rtt, Answered, 4}, // the first answer opens the window
			{-1, rtt, Answered, 8}, {-1, rtt, Answered, 16}, {-1, rtt, Answered, 32}, {-1, rtt, Answered, 32},
		}},
		{"never above the maximum", 5, []step{
			{-1, rtt, Answered, 4}, {-1, rtt, Answered, 5}, {-1, rtt, Answered, 5}, {-1, rtt, Answered, 5},
		}},
		{"no growth when the limit is not reached", 32, []step{
			{2, rtt, Answered, 4}, {2, rtt, Answered, 4}, {3, rtt, Answered, 4},
		}},
		{"shrinks when the round trip climbs, then grows by one", 64, []step{
			{-1, rtt, Answered, 4}, {-1, rtt, Answered, 8}, {-1, rtt, Answered, 16}, {-1, rtt, Answered, 32},
			{-1, 3 * rtt, Answered, 64}, // judged at the next window's first answer
			{-1, rtt, Answered, 57},     // 64 × 0.9 = 57.6; slow start is over
			{-1, rtt, Answered, 58},
		}},
		{"a slightly slower round trip is noise", 32, []step{
			{-1, rtt, Answered, 4}, {-1, rtt, Answered, 8}, {-1, 110 * time.Millisecond, Answered, 16}, {-1, rtt, Answered, 32},
		}},
		{"halves on overload, never below one", 32, []step{
			{-1, rtt, Overloaded, 4}, {-1, rtt, Overloaded, 2}, {-1, rtt, Overloaded, 1}, {-1, rtt, Overloaded, 1},
			{1, rtt, Overloaded, 1},
		}},
		{"after an overload, grows by one: slow start is over", 32, []step{
			{-1, rtt, Answered, 4}, {-1, rtt, Answered, 8}, {-1, rtt, Answered, 16},
			{-1, rtt, Overloaded, 32}, {-1, rtt, Answered, 16}, {-1, rtt, Answered, 17}, {-1, rtt, Answered, 18},
		}},
		{"holds still on 429s: the rate's signal", 32, []step{
			{-1, rtt, Answered, 4}, {-1, rtt, Throttled, 8}, {-1, rtt, Throttled, 8}, {-1, rtt, Answered, 8}, {-1, rtt, Answered, 16},
		}},
		{"ignores requests without an answer", 32, []step{
			{-1, rtt, Answered, 4}, {-1, 50 * rtt, Failed, 4}, {-1, rtt, Answered, 8}, {-1, rtt, Answered, 16},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			c := NewConcurrency(tt.max, true, clk)
			for i, s := range tt.steps {
				n := s.n
				if n < 0 {
					n = c.Stats().Limit
				}
				if got := window(t, c, clk, n, s.rtt, s.sig); got != s.want {
					t.Fatalf("step %d (%d requests, %s, signal %d): limit %d, want %d", i, n, s.rtt, s.sig, got, s.want)
				}
			}
			if st := c.Stats(); st.InFlight != 0 || st.Waiting != 0 {
				t.Fatalf("left %+v", st)
			}
		})
	}
}

// TestConcurrencyFindsCapacity runs the controller against a simulated
// sink that serves k requests at once in its base round trip and queues
// the rest (round trip = base × max(1, in flight / k)): throughput stops
// growing at k, so the limit must settle near k, neither at 1 nor at the
// maximum.
func TestConcurrencyFindsCapacity(t *testing.T) {
	t.Parallel()
	for _, k := range []int{3, 8, 20} {
		clk := newFakeClock()
		c := NewConcurrency(64, true, clk)
		base := 50 * time.Millisecond
		var sum int
		const rounds, tail = 300, 100
		for i := range rounds {
			n := c.Stats().Limit
			rtt := time.Duration(float64(base) * max(1, float64(n)/float64(k)))
			got := window(t, c, clk, n, rtt, Answered)
			if i >= rounds-tail {
				sum += got
			}
		}
		mean := float64(sum) / tail
		if mean < float64(k)*0.6 || mean > float64(k)*2 {
			t.Errorf("capacity %d: the limit settled at %.1f on average, want within [0.6k, 2k]", k, mean)
		}
	}
}

func TestConcurrencyNotAdaptiveIsASemaphore(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := NewConcurrency(6, false, clk)
	for range 5 {
		if got := window(t, c, clk, 6, time.Second, Overloaded); got != 6 {
			t.Fatalf("limit %d, want 6 whatever the answers", got)
		}
	}
}

func TestConcurrencyAcquireWaitsAndHandsOver(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(1, false, nil)
	if err := c.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// At the limit: a caller whose context ends holds nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire at the limit: %v, want the deadline", err)
	}
	if st := c.Stats(); st.InFlight != 1 || st.Waiting != 0 {
		t.Fatalf("after the abandoned wait: %+v", st)
	}
	// A waiter gets the slot of the request that ends, in order.
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if err := c.Acquire(context.Background()); err == nil {
				got <- i
				time.Sleep(time.Millisecond)
				c.Done(time.Millisecond, Answered)
			}
		}()
		for c.Stats().Waiting != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	c.Done(time.Millisecond, Answered)
	if a, b := <-got, <-got; a != 0 || b != 1 {
		t.Fatalf("slots handed to %d then %d, want 0 then 1", a, b)
	}
	for c.Stats().InFlight != 0 {
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrencyRecover: after an outage the route starts again at the
// initial limit at least, with a fresh base and slow start; after an
// overload (timeouts, 503) less than overloadMemory ago, no higher than the
// overload left it, and slow start stops there.
func TestConcurrencyRecover(t *testing.T) {
	t.Parallel()
	const rtt = 100 * time.Millisecond
	tests := []struct {
		name string
		// before: the windows that led to the outage
		before []Signal
		// gap: the time from the last window to Recover
		gap time.Duration
		// want: the limit after Recover, then after each of three full
		// windows with a flat round trip
		want [4]int
	}{
		{"an outage without overload: the initial limit, then doubling", []Signal{Answered, Failed, Failed}, time.Second, [4]int{4, 4, 8, 16}},
		{"a limit above the initial one is kept", []Signal{Answered, Answered, Answered, Failed}, time.Second, [4]int{16, 16, 32, 32}},
		{"overloaded down to 1: stays, then grows by one", []Signal{Overloaded, Overloaded, Overloaded, Overloaded}, time.Second, [4]int{1, 1, 2, 3}},
		{"overloaded at 16: slow start up to 8, then by one", []Signal{Answered, Answered, Overloaded, Answered, Failed}, time.Second, [4]int{8, 8, 9, 10}},
		{"an overload long ago is forgotten", []Signal{Overloaded, Overloaded, Overloaded, Overloaded}, 2 * overloadMemory, [4]int{4, 4, 8, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			c := NewConcurrency(32, true, clk)
			for _, sig := range tt.before {
				window(t, c, clk, c.Stats().Limit, rtt, sig)
			}
			clk.Advance(tt.gap)
			c.Recover()
			st := c.Stats()
			if st.RTT != 0 {
				t.Fatalf("after Recover: base %s, want none", st.RTT)
			}
			got := [4]int{st.Limit}
			for i := 1; i < 4; i++ {
				got[i] = window(t, c, clk, c.Stats().Limit, rtt, Answered)
			}
			if got != tt.want {
				t.Fatalf("limits %v, want %v", got, tt.want)
			}
		})
	}
}

package ratelimit

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the start of every fake timeline.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock jumps forward by d when a timer of d is created, and the timer
// fires at once: Wait's sleeps take no real time and the timeline is exact.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	nows int // Now calls, to prove the fast path never reads the clock
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nows++
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() bool { return false }
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *fakeClock) NowCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nows
}

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// Package clock is the time source that breaker and ratelimit take as an
// option, so that their tests run on an explicit timeline instead of
// sleeping.
package clock

import "time"

// Clock tells the time and makes timers. Implementations must be safe for
// concurrent use. It also satisfies backoff.Clock (Now only).
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// stop function that releases the timer early (it reports whether
	// the timer was stopped before firing, like time.Timer.Stop).
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// System is the real clock: time.Now and time.NewTimer. Its zero value is
// ready to use.
type System struct{}

var _ Clock = System{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer starts a time.Timer.
func (System) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

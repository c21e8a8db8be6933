package ratelimit

import "time"

// AIMD tuning. The numbers are the documented behaviour of Throttled,
// Success and Delivered; they are constants, not options, until a sink
// shows a need to tune them.
const (
	// decreaseFactor multiplies the rate on a throttle signal.
	decreaseFactor = 0.5
	// minDecreaseInterval: at most one decrease per this interval (or per
	// normal latency, when that is longer), so that the 429s of the
	// batches already in flight count as one signal.
	minDecreaseInterval = time.Second
	// stepFraction and minStep: the cap grows by max(2 % of the reference
	// rate, 10 events/s) per second of healthy answers.
	stepFraction = 0.02
	minStep      = 10
	// unlimitedGrowth: with an unlimited configured rate the cap grows by
	// this fraction of itself per second of healthy answers.
	unlimitedGrowth = 0.1
	// goodFraction: and by at least this fraction of the rate it had
	// before the first decrease, so a storm that pushed it to the floor
	// does not leave it crawling back from there.
	goodFraction = 0.05
	// nearFraction and probeFraction: once an unlimited route's cap is
	// back within nearFraction of the rate at which the sink last
	// throttled (and up to farFraction above it: past that the sink must
	// have grown), it grows by only probeFraction of that rate per second:
	// quickly back to the sink's capacity, then slowly past it (as CUBIC
	// does around its last loss), so that a sink with a hard capacity
	// sees few 429s.
	nearFraction  = 0.95
	farFraction   = 1.1
	probeFraction = 0.02
	// minEstimateSpan: before the first full window of deliveries, a
	// throttle signal once this span of deliveries is measured takes the
	// rate delivered so far as the rate to lower (while throttled, about
	// the sink's capacity), so that a route starting against a sink that
	// throttles at once does not run uncapped for a whole window.
	minEstimateSpan = 250 * time.Millisecond
	// maxIncreaseSpan: one success adds at most one second's worth of
	// growth, however long ago the previous one was.
	maxIncreaseSpan = time.Second
	// liftFactor: with an unlimited configured rate the cap is removed
	// once it is this many times the delivered rate.
	liftFactor = 2

	// A latency above slowFactor × normal and above slowMin counts as a
	// throttle signal, once latencyWarmup answers made "normal" known. It
	// is a weak signal (a busy CPU on our side looks the same), so it
	// lowers the rate by slowFraction of a full decrease: 12.5 %.
	slowFactor    = 4
	slowMin       = time.Second
	slowFraction  = 0.25
	latencyWarmup = 5
	latencyAlpha  = 0.1

	// The delivered rate is sampled over windows of deliveredWindow and
	// smoothed with deliveredAlpha.
	deliveredWindow = time.Second
	deliveredAlpha  = 0.3
)

// aimd is the adaptive cap as a pure state machine: every decision takes
// the time and the configured rate of the current mode (0 = unlimited), so
// it is tested with tables of explicit times. It is not safe for
// concurrent use; the Limiter guards it with its mutex.
type aimd struct {
	cfg *Config

	capRate float64 // events/s; 0 = no cap
	// good is the rate in effect when the cap was first set (the rate
	// the sink last coped with); unlimited routes grow back toward it in
	// steps of at least goodFraction of it.
	good float64
	// lastDrop is the rate in effect just before the latest decrease:
	// about where the sink's capacity was found.
	lastDrop float64

	lastDecrease time.Time
	lastIncrease time.Time

	latency  float64 // EWMA of normal latency, seconds
	latencyN int

	delivered    float64 // EWMA of delivered events/s
	hasDelivered bool
	winStart     time.Time
	winEvents    int64
}

// effective is min(configured, cap), with 0 meaning unlimited.
func (a *aimd) effective(configured float64) float64 {
	switch {
	case a.capRate == 0:
		return configured
	case configured == 0:
		return a.capRate
	default:
		return min(configured, a.capRate)
	}
}

// normalize lifts a cap that no longer limits anything (the mode changed to
// a rate at or below it). It reports whether the cap was lifted.
func (a *aimd) normalize(configured float64) bool {
	if a.capRate > 0 && configured > 0 && a.capRate >= configured {
		a.capRate = 0
		return true
	}
	return false
}

func (a *aimd) decreaseInterval() time.Duration {
	normal := time.Duration(a.latency * float64(time.Second))
	return max(minDecreaseInterval, normal)
}

// throttle handles a throttle signal at now for a fraction (0, 1] of the
// events of one answer. It reports whether the cap changed. The new cap is
// max(floor, current rate × (1 − 0.5 × fraction)): a whole request refused
// halves the rate, 2 % of a batch's items answered 429 lowers it by 1 %
// (as DCTCP scales its window by the share of marked packets), so that a
// sink shedding a few items under load is eased, not starved. The current
// rate is the effective rate or, when that is unlimited, the measured
// delivered rate; with nothing measured yet there is no rate to lower and
// the signal only counts.
func (a *aimd) throttle(now time.Time, configured, fraction float64) bool {
	if !a.lastDecrease.IsZero() && now.Sub(a.lastDecrease) < a.decreaseInterval() {
		return false
	}
	floor := a.cfg.floor(configured)
	cur := a.effective(configured)
	if cur == 0 {
		switch {
		case a.hasDelivered:
			cur = a.delivered
		case a.winEvents > 0 && now.Sub(a.winStart) >= minEstimateSpan:
			cur = float64(a.winEvents) / now.Sub(a.winStart).Seconds()
		default:
			return false
		}
	}
	if a.capRate == 0 {
		a.good = cur
	}
	fraction = min(max(fraction, 0.01), 1)
	next := max(cur*(1-(1-decreaseFactor)*fraction), floor)
	if next < cur {
		a.lastDrop = cur
	}
	a.lastDecrease = now
	a.lastIncrease = now
	old := a.capRate
	a.capRate = next
	return old != next
}

// observeLatency folds d into the normal latency and reports whether d is
// slow enough to be a throttle signal. Slow answers are folded in too, so
// that a sink whose normal latency really changed stops looking slow after
// a few answers instead of pinning the rate at the floor.
func (a *aimd) observeLatency(d time.Duration) bool {
	if d <= 0 {
		return false
	}
	s := d.Seconds()
	slow := a.latencyN >= latencyWarmup && s > slowFactor*a.latency && d > slowMin
	if a.latencyN == 0 {
		a.latency = s
	} else {
		a.latency += latencyAlpha * (s - a.latency)
	}
	a.latencyN++
	return slow
}

// success handles a healthy answer at now that took latency. It reports
// whether the answer was slow (and so counted as a throttle signal) and
// whether the cap changed in a way worth announcing: a decrease, or the cap
// being lifted. Small increases are not announced.
func (a *aimd) success(now time.Time, latency time.Duration, configured float64) (slow, changed bool) {
	if a.observeLatency(latency) {
		return true, a.throttle(now, configured, slowFraction)
	}
	if a.capRate == 0 {
		return false, false
	}
	span := min(max(now.Sub(a.lastIncrease), 0), maxIncreaseSpan)
	if now.After(a.lastIncrease) {
		a.lastIncrease = now
	}
	// With a configured rate the step is a fraction of it (additive).
	// Unlimited routes have no scale: the cap grows by a fraction of
	// itself, so a cap that a burst of 429s pushed low comes back in
	// seconds, not minutes.
	step := max(stepFraction*configured, minStep)
	if configured == 0 {
		step = max(unlimitedGrowth*a.capRate, goodFraction*a.good, minStep)
		if a.capRate >= nearFraction*a.lastDrop && a.capRate <= farFraction*a.lastDrop {
			step = max(probeFraction*a.lastDrop, minStep)
		}
	}
	a.capRate += step * span.Seconds()
	if configured > 0 && a.capRate >= configured {
		a.capRate = 0
		return false, true
	}
	if configured == 0 && a.hasDelivered && a.capRate >= liftFactor*a.delivered {
		a.capRate = 0
		return false, true
	}
	return false, false
}

// observeDelivered counts events delivered at now into the delivered-rate
// EWMA, sampled once per deliveredWindow.
func (a *aimd) observeDelivered(now time.Time, events int) {
	if a.winStart.IsZero() || now.Before(a.winStart) {
		a.winStart = now
	}
	a.winEvents += int64(events)
	el := now.Sub(a.winStart)
	if el < deliveredWindow {
		return
	}
	sample := float64(a.winEvents) / el.Seconds()
	if a.hasDelivered {
		a.delivered += deliveredAlpha * (sample - a.delivered)
	} else {
		a.delivered = sample
		a.hasDelivered = true
	}
	a.winStart = now
	a.winEvents = 0
}

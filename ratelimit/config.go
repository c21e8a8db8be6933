package ratelimit

import (
	"errors"
	"fmt"
	"math"
)

// Config is the rate limit of one route. Its zero value means "unlimited,
// no catch-up mode, no AIMD". Rates are per second; 0 means unlimited.
// This package has no defaults: siembridge's live in package config, which
// fills routes[].rate in (config.DefaultAdaptiveFloor, DefaultCatchupLag)
// before a Config is built from it. A zero below means what it says.
type Config struct {
	// EventsPerSecond in live mode. 0 = unlimited.
	EventsPerSecond float64
	// BytesPerSecond in live mode. 0 = unlimited.
	BytesPerSecond float64

	// Burst is the events bucket size. 0 = derived:
	// max(BatchEvents, rate/10, 1), recomputed for the rate in effect (the
	// mode's rate, or the adaptive cap when that is lower).
	Burst int
	// BurstBytes is the bytes bucket size. 0 = derived:
	// max(BatchBytes, rate/10, 1) for the bytes rate of the current mode.
	BurstBytes int

	// BatchEvents and BatchBytes are the largest batch the route sends
	// (batch.max_events, batch.max_bytes). They only feed the derived
	// bursts, so that a full batch always fits in one bucket. 0 = unknown.
	// A batch larger than the burst is still served at run time, split
	// into burst-sized chunks; MaxBatch lets the config layer reject it
	// up front instead.
	BatchEvents int
	BatchBytes  int

	// CatchupLag: when ObserveLag reports more than this many events
	// behind, the limiter switches to catch-up mode; it switches back
	// below 90 % of it (see ObserveLag). 0 = catch-up mode disabled.
	CatchupLag int64
	// CatchupEventsPerSecond in catch-up mode. 0 = unlimited.
	CatchupEventsPerSecond float64
	// CatchupBytesPerSecond in catch-up mode. 0 = unlimited.
	CatchupBytesPerSecond float64

	// Adaptive turns AIMD on: the events rate halves when the sink
	// throttles and grows back linearly while it is healthy. Default off.
	Adaptive bool
	// Floor is the lowest events/s AIMD goes down to; required (> 0)
	// with Adaptive. It never exceeds the configured rate of the mode.
	Floor float64
}

// maxBurst bounds a derived burst so that a huge rate cannot overflow int.
const maxBurst = 1 << 30

// Validate reports the first invalid field. Field names are the YAML keys
// of the rate section, so the config layer can prefix its own path
// ("routes[1].rate.").
func (c Config) Validate() error {
	rates := []struct {
		name string
		v    float64
	}{
		{"events_per_second", c.EventsPerSecond},
		{"bytes_per_second", c.BytesPerSecond},
		{"catchup_events_per_second", c.CatchupEventsPerSecond},
		{"catchup_bytes_per_second", c.CatchupBytesPerSecond},
		{"adaptive_floor", c.Floor},
	}
	for _, r := range rates {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) || r.v < 0 {
			return fmt.Errorf("%s: must be a finite number >= 0, got %v", r.name, r.v)
		}
	}
	if c.Adaptive && c.Floor == 0 {
		return errors.New("adaptive_floor: must be > 0 when adaptive is on")
	}
	ints := []struct {
		name string
		v    int64
	}{
		{"burst", int64(c.Burst)},
		{"burst_bytes", int64(c.BurstBytes)},
		{"batch_events", int64(c.BatchEvents)},
		{"batch_bytes", int64(c.BatchBytes)},
		{"catchup_lag", c.CatchupLag},
	}
	for _, f := range ints {
		if f.v < 0 {
			return fmt.Errorf("%s: must be >= 0, got %d", f.name, f.v)
		}
	}
	return nil
}

// ErrBatchTooLarge is wrapped by MaxBatch when a batch cannot fit in a
// bucket.
var ErrBatchTooLarge = errors.New("batch larger than the rate limit burst")

// MaxBatch reports whether a batch of the given size fits in the buckets
// in every mode, so that it is granted in one piece. The config layer calls
// it with batch.max_events and batch.max_bytes; an error names the field to
// raise. (At run time an oversized batch is not an error: Wait splits it.)
func (c Config) MaxBatch(events, bytes int) error {
	modes := []Mode{Live}
	if c.CatchupLag > 0 {
		modes = append(modes, Catchup)
	}
	for _, m := range modes {
		ev, by := c.rates(m)
		if ev > 0 {
			if b := c.eventBurst(ev); events > b {
				return fmt.Errorf("burst: %d events in %s mode is smaller than a batch of %d: %w", b, m, events, ErrBatchTooLarge)
			}
		}
		if by > 0 {
			if b := c.byteBurst(by); bytes > b {
				return fmt.Errorf("burst_bytes: %d bytes in %s mode is smaller than a batch of %d bytes: %w", b, m, bytes, ErrBatchTooLarge)
			}
		}
	}
	return nil
}

// rates returns the configured events/s and bytes/s of mode m (0 =
// unlimited).
func (c Config) rates(m Mode) (events, bytes float64) {
	if m == Catchup {
		return c.CatchupEventsPerSecond, c.CatchupBytesPerSecond
	}
	return c.EventsPerSecond, c.BytesPerSecond
}

// floor returns the AIMD floor for a configured rate (0 = unlimited).
func (c Config) floor(configured float64) float64 {
	f := c.Floor
	if configured > 0 && f > configured {
		f = configured
	}
	return f
}

// eventBurst is the events bucket size for a rate in effect.
func (c Config) eventBurst(rate float64) int {
	if c.Burst > 0 {
		return c.Burst
	}
	return derivedBurst(c.BatchEvents, rate)
}

// byteBurst is the bytes bucket size for a rate in effect.
func (c Config) byteBurst(rate float64) int {
	if c.BurstBytes > 0 {
		return c.BurstBytes
	}
	return derivedBurst(c.BatchBytes, rate)
}

// derivedBurst is max(batch, rate/10, 1): a tenth of a second of traffic,
// and never less than one full batch.
func derivedBurst(batch int, rate float64) int {
	b := max(batch, 1)
	tenth := math.Ceil(rate / 10)
	if tenth > maxBurst {
		return maxBurst
	}
	return max(b, int(tenth))
}

package deliver

import (
	"fmt"
	"log/slog"

	"github.com/siembridge/siembridge/breaker"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/ratelimit"
	"github.com/siembridge/siembridge/sinks"
)

// Route is a route's stage with the parts it is made of, as ForRoute
// builds them from the route's configuration.
type Route struct {
	Stage   *Stage
	Limiter *ratelimit.Limiter
	Breaker *breaker.Breaker
	// DeadLetter is the route's dead-letter topic writer; its Producer is
	// set by the caller once it is connected to Kafka.
	DeadLetter *KafkaDeadLetter
}

// RouteOptions are what ForRoute needs besides the configuration.
type RouteOptions struct {
	Log   *slog.Logger // with the route's name; required
	Hooks Hooks        // nil: none
	// OnBreaker is called after every change of the sink's state (see
	// breaker.OnChange); nil: none. The adaptive rate is reset when the
	// sink comes back up in any case.
	OnBreaker func(breaker.State)
	// Filter selects the events to send (Config.Filter); nil: all.
	Filter func(*event.Event) bool
}

// ForRoute builds the stage of route rc, which sends to sink.
func ForRoute(rc config.Route, sink sinks.Sink, o RouteOptions) (Route, error) {
	lim, err := ratelimit.New(limiterConfig(rc), ratelimit.WithLogger(o.Log))
	if err != nil {
		return Route{}, fmt.Errorf("rate: %w", err)
	}
	var stage *Stage // set below; the breaker's hook runs only after
	brk, err := breaker.New(breaker.Config{
		Failures:     rc.Breaker.Failures,
		InitialProbe: rc.Breaker.InitialProbeInterval,
		MaxProbe:     rc.Breaker.MaxProbeInterval,
	}, breaker.WithLogger(o.Log.With("sink", rc.Sink.Type)), breaker.OnChange(func(st breaker.State) {
		if st == breaker.Up {
			lim.ResetAdaptive()
			if stage != nil {
				stage.Concurrency().Recover()
			}
		}
		if o.OnBreaker != nil {
			o.OnBreaker(st)
		}
	}))
	if err != nil {
		return Route{}, err
	}
	dlq := &KafkaDeadLetter{Topic: rc.DeadLetterTopic(), Route: rc.Name, SinkType: rc.Sink.Type, Retry: rc.Retry, Log: o.Log}
	opts := []Option{WithLogger(o.Log)}
	if o.Hooks != nil {
		opts = append(opts, WithHooks(o.Hooks))
	}
	vol, err := NewVolume(rc)
	if err != nil {
		return Route{}, err
	}
	stage = New(Config{Route: rc.Name, SinkType: rc.Sink.Type, Retry: rc.Retry, Workers: rc.Workers,
		AdaptiveConcurrency: rc.ConcurrencyAdaptive(), MaxBatch: rc.Batch.MaxEvents, Filter: o.Filter, Volume: vol},
		sink, lim, brk, dlq, opts...)
	return Route{Stage: stage, Limiter: lim, Breaker: brk, DeadLetter: dlq}, nil
}

// limiterConfig maps a route's rate and batch settings to the limiter's.
func limiterConfig(rc config.Route) ratelimit.Config {
	adaptive := rc.Rate.Adaptive == nil || *rc.Rate.Adaptive
	return ratelimit.Config{
		EventsPerSecond:        rc.Rate.EventsPerSecond,
		BytesPerSecond:         float64(rc.Rate.BytesPerSecond),
		Burst:                  rc.Rate.Burst,
		BatchEvents:            rc.Batch.MaxEvents,
		BatchBytes:             int(rc.Batch.MaxBytes),
		CatchupLag:             rc.Rate.CatchupLag,
		CatchupEventsPerSecond: rc.Rate.CatchupEventsPerSecond,
		CatchupBytesPerSecond:  float64(rc.Rate.CatchupBytesPerSecond),
		Adaptive:               adaptive,
		Floor:                  rc.Rate.AdaptiveFloor,
	}
}

// AcceptsUnchecked reports whether s takes events whose JSON was not
// checked (sinks.UncheckedAcceptor). A route with a filter, or whose
// sampling or shaping reads fields (ReadsFields), passes filtered true:
// its events are checked whatever the sink.
func AcceptsUnchecked(s sinks.Sink, filtered bool) bool {
	u, ok := s.(sinks.UncheckedAcceptor)
	return ok && !filtered && u.AcceptsUnchecked()
}

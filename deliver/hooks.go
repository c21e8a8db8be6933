package deliver

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

// Hooks receives the stage's events for metrics. Every method is called
// from delivery goroutines and must be cheap and safe for concurrent use.
// Embed NopHooks to implement only some of them.
type Hooks interface {
	// OnRequest: one Send to the sink finished after latency with the
	// batch's size; err is what Send returned.
	OnRequest(route string, events, bytes int, latency time.Duration, err error)
	// OnDelivered: events of bytes were acknowledged by the sink.
	OnDelivered(route string, events, bytes int)
	// OnRetried: events of bytes will be sent again.
	OnRetried(route string, events, bytes int)
	// OnDeadLettered: events of bytes were written to the dead-letter topic.
	OnDeadLettered(route string, events, bytes int)
	// OnRateWait: the rate limiter held a batch for d.
	OnRateWait(route string, d time.Duration)
}

// NopHooks does nothing; embed it to implement part of Hooks.
type NopHooks struct{}

func (NopHooks) OnRequest(string, int, int, time.Duration, error) {}
func (NopHooks) OnDelivered(string, int, int)                     {}
func (NopHooks) OnRetried(string, int, int)                       {}
func (NopHooks) OnDeadLettered(string, int, int)                  {}
func (NopHooks) OnRateWait(string, time.Duration)                 {}

var _ Hooks = NopHooks{}

// Counters are a stage's totals since it was made, safe to read at any
// time.
type Counters struct {
	Delivered, DeliveredBytes atomic.Int64
	// Retried counts events sent again (one per event and attempt).
	Retried      atomic.Int64
	DeadLettered atomic.Int64
	// Filtered events were not for this route's sink; they count as done.
	Filtered, FilteredBytes atomic.Int64
	// SampledOut events were left out by routes[].sample; they count as
	// done.
	SampledOut, SampledOutBytes atomic.Int64
	// Shaped events had their fields changed; NotJSON events were not
	// JSON objects and passed unshaped; RenameErrors counts events with a
	// rename_fields error (see shape.Result).
	Shaped, NotJSON, RenameErrors atomic.Int64
	// VolumeInBytes are the sizes of the events entering the route's
	// filter, sampling and shaping (counted only on a route with any of
	// them); VolumeOutBytes those of the events leaving them, shaped, on
	// their way to the rate limit and the sink. In minus out is what the
	// route saved.
	VolumeInBytes, VolumeOutBytes atomic.Int64
	// Requests counts Send calls; FailedRequests those that failed as a
	// whole (not answered, refused, 5xx, fatal).
	Requests, FailedRequests atomic.Int64
}

func batchError(err error) *sinks.BatchError {
	var be *sinks.BatchError
	if errors.As(err, &be) {
		return be
	}
	return nil
}

// statusOf is the sink's status code carried by a request error, 0 if
// none (for dead-letter headers).
func statusOf(err error) int {
	var re *sinks.RequestError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}

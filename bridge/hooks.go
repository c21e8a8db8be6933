package bridge

import "time"

// Hooks receives the bridge's events for metrics. Every method is called
// from delivery goroutines and must be cheap and safe for concurrent use.
// Embed NopHooks to implement only some of them.
type Hooks interface {
	// OnConsumed: n records of size bytes were read from a partition.
	OnConsumed(route, topic string, partition int32, n, bytes int)
	// OnRequest: one Send to the sink finished after latency with the
	// batch's size; err is what Send returned.
	OnRequest(route string, events, bytes int, latency time.Duration, err error)
	// OnDelivered: events of bytes were acknowledged by the sink.
	OnDelivered(route string, events, bytes int)
	// OnRetried: events of bytes will be sent again.
	OnRetried(route string, events, bytes int)
	// OnDeadLettered: events of bytes were written to the dead-letter topic.
	OnDeadLettered(route string, events, bytes int)
	// OnCommitted: the offset to commit for a partition advanced.
	OnCommitted(route, topic string, partition int32, offset int64)
	// OnRateWait: the rate limiter held a batch for d.
	OnRateWait(route string, d time.Duration)
}

// NopHooks does nothing; embed it to implement part of Hooks.
type NopHooks struct{}

func (NopHooks) OnConsumed(string, string, int32, int, int)       {}
func (NopHooks) OnRequest(string, int, int, time.Duration, error) {}
func (NopHooks) OnDelivered(string, int, int)                     {}
func (NopHooks) OnRetried(string, int, int)                       {}
func (NopHooks) OnDeadLettered(string, int, int)                  {}
func (NopHooks) OnCommitted(string, string, int32, int64)         {}
func (NopHooks) OnRateWait(string, time.Duration)                 {}

var _ Hooks = NopHooks{}

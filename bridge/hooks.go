package bridge

import "github.com/siembridge/siembridge/deliver"

// Hooks receives the bridge's events for metrics: the delivery stage's
// and the consumer's. Every method is called from pipeline goroutines and
// must be cheap and safe for concurrent use. Embed NopHooks to implement
// only some of them.
type Hooks interface {
	deliver.Hooks
	// OnConsumed: n records of size bytes were read from a partition.
	OnConsumed(route, topic string, partition int32, n, bytes int)
	// OnCommitted: the offset to commit for a partition advanced.
	OnCommitted(route, topic string, partition int32, offset int64)
}

// NopHooks does nothing; embed it to implement part of Hooks.
type NopHooks struct{ deliver.NopHooks }

func (NopHooks) OnConsumed(string, string, int32, int, int) {}
func (NopHooks) OnCommitted(string, string, int32, int64)   {}

var _ Hooks = NopHooks{}

// Package null is a sink that accepts every event and keeps nothing: the
// ceiling of siembridge's own throughput in benchmarks, and a dry run.
package null

import (
	"context"
	"sync/atomic"

	"github.com/siembridge/siembridge/event"
)

// Sink discards events. It is safe for concurrent use.
type Sink struct {
	events, bytes atomic.Int64
}

// New returns a null sink.
func New() *Sink { return &Sink{} }

// Send accepts every event at once.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := 0
	for _, e := range batch {
		n += e.Size()
	}
	s.events.Add(int64(len(batch)))
	s.bytes.Add(int64(n))
	return nil
}

// Probe always succeeds.
func (s *Sink) Probe(context.Context) error { return nil }

// Close does nothing.
func (s *Sink) Close() error { return nil }

// Count returns the events and bytes accepted so far.
func (s *Sink) Count() (events, bytes int64) { return s.events.Load(), s.bytes.Load() }

package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/null"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// nullSinks builds the null sinks the tests' configurations name.
func nullSinks(c config.Sink, _ *slog.Logger) (sinks.Sink, error) {
	if c.Type != "null" {
		return nil, fmt.Errorf("test factory: type %q", c.Type)
	}
	return null.New(), nil
}

// recordingSink keeps what it was sent.
type recordingSink struct {
	mu     sync.Mutex
	events []*event.Event
}

func (s *recordingSink) Send(_ context.Context, batch []*event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, batch...)
	return nil
}
func (s *recordingSink) Probe(context.Context) error { return nil }
func (s *recordingSink) Close() error                { return nil }

func (s *recordingSink) offsets() map[int32][]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32][]int64{}
	for _, ev := range s.events {
		out[ev.Partition] = append(out[ev.Partition], ev.Offset)
	}
	return out
}

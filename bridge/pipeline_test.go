package bridge

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// slowSink answers every request after a delay — the first request of
// each partition after a longer one, so that later batches finish first —
// and records the requests of each partition in flight at once and what
// it delivered.
type slowSink struct {
	delay, firstDelay time.Duration

	mu        sync.Mutex
	inFlight  map[int32]int
	maxFlight map[int32]int
	first     map[int32]bool
	delivered map[int32]map[int64]bool
	order     map[int32][]int64
	// badCommit is the first commit seen past an event not delivered.
	badCommit string
}

func newSlowSink(delay, firstDelay time.Duration) *slowSink {
	return &slowSink{delay: delay, firstDelay: firstDelay, inFlight: map[int32]int{}, maxFlight: map[int32]int{},
		first: map[int32]bool{}, delivered: map[int32]map[int64]bool{}, order: map[int32][]int64{}}
}

func (s *slowSink) Send(ctx context.Context, batch []*event.Event) error {
	p := batch[0].Partition
	s.mu.Lock()
	s.inFlight[p]++
	s.maxFlight[p] = max(s.maxFlight[p], s.inFlight[p])
	d := s.delay
	if !s.first[p] {
		s.first[p], d = true, s.firstDelay
	}
	s.mu.Unlock()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight[p]--
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.delivered[p] == nil {
		s.delivered[p] = map[int64]bool{}
	}
	for _, ev := range batch {
		s.delivered[p][ev.Offset] = true
		s.order[p] = append(s.order[p], ev.Offset)
	}
	return nil
}

func (s *slowSink) Probe(context.Context) error { return nil }
func (s *slowSink) Close() error                { return nil }

func (s *slowSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.delivered {
		n += len(d)
	}
	return n
}

// commitCheck fails the sink's record when a commit passes an event the
// sink does not have.
type commitCheck struct {
	NopHooks
	s *slowSink
}

func (h commitCheck) OnCommitted(_, _ string, partition int32, next int64) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	for off := range next {
		if !h.s.delivered[partition][off] && h.s.badCommit == "" {
			h.s.badCommit = fmt.Sprintf("partition %d committed %d before offset %d was delivered", partition, next, off)
		}
	}
}

// TestPipelining: a partition has up to max_in_flight_per_partition
// batches at the sink at once (one, in Kafka order, when the route is
// ordered); a batch finishing before an earlier one never moves the
// commit past the earlier one; every event arrives once.
func TestPipelining(t *testing.T) {
	const partitions, perPartition = 2, 600
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		{"default: 4 in flight per partition", "", 4},
		{"set to 2", "    max_in_flight_per_partition: 2\n", 2},
		{"ordered: one, in order", "    ordered: true\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := kafkatest.Start(partitions, []string{"events"})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			produce(t, cluster.Brokers(), partitions, perPartition)
			cfg := lifecycleConfig(t, cluster.Brokers(), tc.extra)
			sink := newSlowSink(30*time.Millisecond, 300*time.Millisecond)
			b, err := New(cfg, WithLogger(quiet), WithSink("r", sink), WithHooks(commitCheck{s: sink}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()
			waitUntil(t, 30*time.Second, "every event delivered", func() bool { return sink.count() == partitions*perPartition })
			waitUntil(t, 10*time.Second, "the commit at the end", func() bool {
				st := b.Stats()
				return len(st.Routes) == 1 && st.Routes[0].Lag == 0 && st.Routes[0].BufferedEvents == 0
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if sink.badCommit != "" {
				t.Fatal(sink.badCommit)
			}
			for p := range int32(partitions) {
				if got := sink.maxFlight[p]; got != tc.want {
					t.Errorf("partition %d: at most %d requests in flight at once, want %d", p, got, tc.want)
				}
				if got := len(sink.order[p]); got != perPartition {
					t.Errorf("partition %d: %d events delivered, want %d once each", p, got, perPartition)
				}
				if ordered := slices.IsSorted(sink.order[p]); tc.want == 1 && !ordered {
					t.Errorf("partition %d: an ordered route delivered out of Kafka order", p)
				} else if tc.want > 1 && ordered {
					t.Errorf("partition %d: in order although the first batch took 10 times longer: not pipelined", p)
				}
			}
		})
	}
}

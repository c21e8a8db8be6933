package bridge

import (
	"bytes"
	"context"
	"fmt"
	"github.com/siembridge/siembridge/kafka"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/siembridge/siembridge/config"
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
	total     int // requests in flight over all partitions
	maxTotal  int
	maxBytes  int // the most event bytes in flight at once
	bytes     int
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
	s.total++
	s.maxTotal = max(s.maxTotal, s.total)
	n := 0
	for _, ev := range batch {
		n += ev.Size()
	}
	s.bytes += n
	s.maxBytes = max(s.maxBytes, s.bytes)
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
	s.total--
	s.bytes -= n
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
		// want is the bound; least what must be reached at least (the
		// route's adaptive concurrency, shared by the partitions, may
		// keep the default's 8 from being reached at once).
		want, least int
	}{
		{"default: up to 8 in flight per partition", "", 8, 5},
		{"set to 2", "    max_in_flight_per_partition: 2\n", 2, 2},
		{"ordered: one, in order", "    ordered: true\n", 1, 1},
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
				if got := sink.maxFlight[p]; got > tc.want || got < tc.least {
					t.Errorf("partition %d: at most %d requests in flight at once, want %d to %d", p, got, tc.least, tc.want)
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

// TestInFlightBytesBound: the batches on their way to the sink are at
// most a quarter of buffer.max_bytes over the route, whatever the
// partitions' pipelines allow; the keys and values of the events are
// copies, not slices of sarama's fetch response.
func TestInFlightBytesBound(t *testing.T) {
	const partitions, perPartition = 2, 400
	cluster, err := kafkatest.Start(partitions, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	var recs []kafkatest.Record
	for p := range int32(partitions) {
		for i := range perPartition {
			recs = append(recs, kafkatest.Record{Topic: "events", Partition: p, Key: []byte("k"),
				Value: []byte(fmt.Sprintf(`{"@timestamp":"2026-11-29T10:00:00Z","i":%d,"pad":%q}`, i, pad)), Timestamp: time.Now()})
		}
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	// Batches of 16 KiB (16 events); a buffer of 128 KiB lets 32 KiB —
	// two batches — be in flight, where the pipelines would take 8.
	cfg := bufferConfig(t, cluster.Brokers(), "{max_events: 50, max_bytes: 16KiB, max_wait: 20ms}", "{max_events: 20000, max_bytes: 128KiB}")
	sink := newSlowSink(20*time.Millisecond, 20*time.Millisecond)
	_, stop := startLifecycleBridge(t, cfg, sink)
	defer stop()
	waitUntil(t, 30*time.Second, "every event delivered", func() bool { return sink.count() == partitions*perPartition })
	stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if limit := 32 << 10; sink.maxBytes > limit {
		t.Errorf("%d bytes of events in flight at once, want ≤ a quarter of the buffer, %d", sink.maxBytes, limit)
	}
	if sink.maxTotal < 2 {
		t.Errorf("at most %d request in flight: the bound let less than a quarter of the buffer through", sink.maxTotal)
	}
}

// TestOwnCopies: own returns equal bytes that share nothing with its
// argument (a slice of sarama's fetch response), keeps nil and empty
// apart, and packs small records into one block.
func TestOwnCopies(t *testing.T) {
	var c claimRun
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"small", []byte(`{"a":1}`)},
		{"large", bytes.Repeat([]byte("x"), arenaBytes)},
	} {
		got := c.own(tc.in)
		if !bytes.Equal(got, tc.in) || (got == nil) != (tc.in == nil) {
			t.Errorf("%s: own = %q, want %q", tc.name, got, tc.in)
		}
		if len(tc.in) > 0 {
			tc.in[0] ^= 0xff
			if got[0] == tc.in[0] {
				t.Errorf("%s: the copy changed with the original", tc.name)
			}
		}
	}
	// Small copies share a block, but one must not be able to grow into
	// the next.
	a := c.own([]byte("first"))
	if cap(a) != len(a) {
		t.Errorf("a small copy has capacity %d beyond its length %d", cap(a), len(a))
	}
}

// TestPauseMark: a route pauses early by what its Kafka client may still
// hand out once paused, so that the events in memory stay within
// buffer.max_bytes, and never below half of it.
func TestPauseMark(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name            string
		maxBytes, ahead int64
		want            int64
	}{
		{"a quarter of the buffer ahead (the plan's request limit)", 64 * mib, 16 * mib, 48 * mib},
		{"nothing ahead", 64 * mib, 0, 64 * mib},
		{"a request limit above the buffer: half of it", 8 * mib, 16 * mib, 4 * mib},
		{"more than half ahead: half of it", 32 * mib, 20 * mib, 16 * mib},
	} {
		if got := pauseMark(tc.maxBytes, tc.ahead); got != tc.want {
			t.Errorf("%s: pauseMark(%d, %d) = %d, want %d", tc.name, tc.maxBytes, tc.ahead, got, tc.want)
		}
	}
	// The plan the route applies: a 64 MiB buffer fetches at most 16 MiB
	// a request, so the route pauses at 48 MiB.
	plan := kafka.PlanFetch(64*mib, 64, 1*mib, 64*mib)
	if got := pauseMark(64*mib, plan.Ahead()); got != 48*mib {
		t.Errorf("64 MiB buffer over 64 partitions: pauses at %d MiB, want 48", got/mib)
	}
}

// weakSink is a slowSink that keeps a weak pointer to every event it is
// sent, to tell which of them are still in memory.
type weakSink struct {
	*slowSink
	wmu  sync.Mutex
	sent map[int64]weak.Pointer[event.Event]
}

func (s *weakSink) Send(ctx context.Context, batch []*event.Event) error {
	s.wmu.Lock()
	for _, ev := range batch {
		s.sent[ev.Offset] = weak.Make(ev)
	}
	s.wmu.Unlock()
	return s.slowSink.Send(ctx, batch)
}

// TestDeliveredEventsLetGo: once its batch is delivered, no event stays
// in memory while the claim goes on, whatever order its batches finished
// in — but those sharing an allocation with the events read last. The
// buffer stops counting them then; events kept beyond that were memory
// the bound did not see (64 partitions in the bench held half again the
// buffer).
func TestDeliveredEventsLetGo(t *testing.T) {
	const perPartition = 1000
	for _, tc := range []struct{ name, extra string }{
		{"pipelined, later batches finishing first", ""},
		{"ordered", "    ordered: true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := kafkatest.Start(1, []string{"events"})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			produce(t, cluster.Brokers(), 1, perPartition)
			sink := &weakSink{slowSink: newSlowSink(5*time.Millisecond, 200*time.Millisecond), sent: map[int64]weak.Pointer[event.Event]{}}
			b, stop := startLifecycleBridge(t, lifecycleConfig(t, cluster.Brokers(), tc.extra), sink)
			defer stop()
			waitUntil(t, 30*time.Second, "every event delivered and committed", func() bool {
				st := b.Stats()
				return sink.count() == perPartition && len(st.Routes) == 1 && st.Routes[0].Lag == 0 && st.Routes[0].BufferedEvents == 0
			})
			runtime.GC()
			runtime.GC()
			sink.wmu.Lock()
			defer sink.wmu.Unlock()
			var kept []int64
			for off, w := range sink.sent {
				// The last slab of events is the claim's own until it
				// fills.
				if off < perPartition-slabEvents && w.Value() != nil {
					kept = append(kept, off)
				}
			}
			slices.Sort(kept)
			if len(kept) > 0 {
				t.Errorf("%d delivered events still in memory, offsets %d to %d", len(kept), kept[0], kept[len(kept)-1])
			}
		})
	}
}

// TestBatchLimits: a batch is at most half of a partition's share of the
// buffer (by events, and by bytes of the mark the route pauses at, each
// event counting at least its overhead), and never more than
// batch.max_events and batch.max_bytes.
func TestBatchLimits(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                  string
		claimed               int
		bufEvents             int
		pause                 int64 // the route's pause mark, bytes
		batchEvents           int
		batchBytes            int64
		wantEvents, wantBytes int
	}{
		{"defaults, 4 partitions: the batch settings", 4, 100000, 56 * mib, 1000, 5 * mib, 1000, 5 * mib},
		{"defaults, 16 partitions: the events of the batch settings", 16, 100000, 56 * mib, 1000, 5 * mib, 1000, 56 * mib / 32},
		{"defaults, 64 partitions: half a share of the bytes", 64, 100000, 56 * mib, 1000, 5 * mib, 781, 56 * mib / 128},
		{"events bind first", 8, 4000, 56 * mib, 1000, 5 * mib, 250, 56 * mib / 16},
		{"no partition claimed counts as one", 0, 100000, 4 * mib, 1000, 5 * mib, 1000, 2 * mib},
		{"a share below one event: one event", 1000, 1000, 1 * mib, 1000, 5 * mib, 1, 1 * mib / 2000},
		{"small events: as many as their overhead fits", 16, 100000, 256 << 10, 1000, 5 * mib, 42, 8 << 10},
		{"a tiny buffer: at least a byte", 4, 1, 4, 1, 1 * mib, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &route{cfg: config.Route{
				Batch:  config.Batch{MaxEvents: tc.batchEvents, MaxBytes: config.ByteSize(tc.batchBytes)},
				Buffer: config.Buffer{MaxEvents: tc.bufEvents, MaxBytes: config.ByteSize(tc.pause)},
			}}
			r.pauseBytes.Store(tc.pause)
			events, bytes := r.batchLimits(tc.claimed)
			if events != tc.wantEvents || bytes != tc.wantBytes {
				t.Errorf("batchLimits(%d) = %d events, %d bytes; want %d, %d", tc.claimed, events, bytes, tc.wantEvents, tc.wantBytes)
			}
		})
	}
}

// TestManyPartitionsSmallBuffer: with more partitions than the buffer
// holds full batches of, batches are cut to fit, and the events flow
// without waiting for batch.max_wait (set far beyond the test's wait).
// Cut at batch.max_events, no batch would fill: nothing would be sent for
// a minute.
func TestManyPartitionsSmallBuffer(t *testing.T) {
	const partitions, perPartition = 16, 300
	cluster, err := kafkatest.Start(partitions, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	produce(t, cluster.Brokers(), partitions, perPartition)
	// Events of ~60 bytes + 192 of overhead: a 512 KiB buffer holds about
	// 2000 events, 130 a partition — a batch of 1000 would never fill.
	cfg := bufferConfig(t, cluster.Brokers(), "{max_events: 1000, max_bytes: 256KiB, max_wait: 1m}", "{max_events: 100000, max_bytes: 512KiB}")
	sink := newSlowSink(time.Millisecond, time.Millisecond)
	_, stop := startLifecycleBridge(t, cfg, sink)
	defer stop()
	// The last partial batch of each partition waits for max_wait; all
	// the others go at once.
	waitUntil(t, 30*time.Second, "nine in ten events delivered before batch.max_wait", func() bool { return sink.count() >= partitions*perPartition*9/10 })
}

// bufferConfig is a route of "events" into the null sink with the given
// batch and buffer settings (YAML flow mappings).
func bufferConfig(t *testing.T, brokers []string, batch, buffer string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: r
    topics: [events]
    sink: {type: null}
    batch: %s
    buffer: %s
    commit_interval: 100ms
shutdown_timeout: 5s
`, brokers[0], batch, buffer)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

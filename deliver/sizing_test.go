package deliver

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siembridge/siembridge/breaker"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/ratelimit"
	"github.com/siembridge/siembridge/sinks"
)

// burstSink takes at most burst events of a request and answers the rest
// 429 item by item, as a cluster whose write queue is smaller than our
// batch does however slowly the batches come. burst 0 takes everything.
type burstSink struct {
	mu        sync.Mutex
	burst     int
	sizes     []int
	throttled []int // per request
	delivered map[int64]int
	// rtt is added to the clock per request.
	clk *stepClock
	rtt time.Duration
}

func (s *burstSink) Send(_ context.Context, batch []*event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(batch))
	if s.clk != nil {
		s.clk.mu.Lock()
		s.clk.now = s.clk.now.Add(s.rtt)
		s.clk.mu.Unlock()
	}
	be := &sinks.BatchError{}
	for i, ev := range batch {
		if s.burst > 0 && i >= s.burst {
			be.Items = append(be.Items, sinks.ItemError{Index: i, Outcome: sinks.Throttled, Status: 429, Reason: "es_rejected_execution_exception"})
			continue
		}
		s.delivered[ev.Offset]++
	}
	s.throttled = append(s.throttled, len(be.Items))
	if len(be.Items) == 0 {
		return nil
	}
	return be
}

func (s *burstSink) Probe(context.Context) error { return nil }
func (s *burstSink) Close() error                { return nil }

func newSizingStage(t *testing.T, sink sinks.Sink, clk *stepClock, maxBatch int) *Stage {
	t.Helper()
	lim, err := ratelimit.New(ratelimit.Config{BatchEvents: maxBatch, BatchBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	brk, err := breaker.New(breaker.Config{Failures: 5, InitialProbe: time.Millisecond, MaxProbe: time.Millisecond}, breaker.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Route: "r", Retry: config.Retry{InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond},
		Workers: 1, MaxBatch: maxBatch}, sink, lim, brk, &memDLQ{}, WithLogger(quiet), WithClock(clk))
}

func batchAt(first, n int) []*event.Event {
	evs := events(n)
	for i, ev := range evs {
		ev.Offset = int64(first + i)
	}
	return evs
}

// TestRequestSizing: a sink whose burst is smaller than the batch gets
// requests cut to what it takes — after the first second, no request
// much above its burst and few 429s — every event once; a sink that
// takes everything gets whole batches again.
func TestRequestSizing(t *testing.T) {
	const batch, burst, batches = 1000, 300, 8
	clk := &stepClock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	sink := &burstSink{burst: burst, delivered: map[int64]int{}, clk: clk, rtt: 100 * time.Millisecond}
	st := newSizingStage(t, sink, clk, batch)
	for b := range batches {
		if err := st.Deliver(context.Background(), context.Background(), batchAt(b*batch, batch)); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.delivered) != batch*batches {
		t.Fatalf("%d events delivered, want %d", len(sink.delivered), batch*batches)
	}
	if sink.sizes[0] != batch {
		t.Fatalf("first request %d events, want the whole batch %d", sink.sizes[0], batch)
	}
	// The first second (10 requests of 100 ms) finds the size; after it
	// requests stay near the burst and 429s are the probing above it.
	const settle = 10
	delivered, throttled := 0, 0
	for i, n := range sink.sizes[settle:] {
		if n > burst+burst/8+1 {
			t.Fatalf("request %d carried %d events, the sink takes %d; sizes %v", settle+i, n, burst, sink.sizes)
		}
		delivered += n - sink.throttled[settle+i]
		throttled += sink.throttled[settle+i]
	}
	if throttled*10 > delivered {
		t.Errorf("after the first second %d items answered 429 for %d delivered, want ≤ 10 %%; sizes %v", throttled, delivered, sink.sizes)
	}
	if got := st.RequestEvents(); got < burst/2 || got > burst+burst/8+1 {
		t.Errorf("request size %d after the run, want about the burst %d", got, burst)
	}

	// The sink scales up: the requests grow back to whole batches.
	sink.mu.Lock()
	sink.burst, sink.sizes = 0, nil
	sink.mu.Unlock()
	for b := range 3 * batches {
		if err := st.Deliver(context.Background(), context.Background(), batchAt((batches+b)*batch, batch)); err != nil {
			t.Fatal(err)
		}
	}
	if last := sink.sizes[len(sink.sizes)-1]; last != batch || st.RequestEvents() != batch {
		t.Errorf("last request %d events, size %d; want whole batches of %d again; sizes %v", last, st.RequestEvents(), batch, sink.sizes)
	}
	for off, n := range sink.delivered {
		if n != 1 {
			t.Fatalf("offset %d delivered %d times", off, n)
		}
	}
}

// ackSink acknowledges a request only when the test says so, and counts
// the requests whose acknowledgement is outstanding.
type ackSink struct {
	release chan struct{}
	posted  atomic.Int32
}

func (s *ackSink) Send(ctx context.Context, batch []*event.Event) error {
	ack, err := s.SendPending(ctx, batch)
	if err != nil {
		return err
	}
	return ack(ctx)
}

func (s *ackSink) SendPending(context.Context, []*event.Event) (func(context.Context) error, error) {
	s.posted.Add(1)
	return func(ctx context.Context) error {
		select {
		case <-s.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

func (s *ackSink) Probe(context.Context) error { return nil }
func (s *ackSink) Close() error                { return nil }

// TestAcknowledgerHoldsNoSlot: with one worker, a sink that acknowledges
// later (Splunk HEC's indexer acks) still gets every partition's request
// posted while the first acknowledgement is outstanding.
func TestAcknowledgerHoldsNoSlot(t *testing.T) {
	sink := &ackSink{release: make(chan struct{})}
	lim, _ := ratelimit.New(ratelimit.Config{BatchEvents: 10, BatchBytes: 1 << 20})
	brk, _ := breaker.New(breaker.Config{Failures: 5, InitialProbe: time.Millisecond, MaxProbe: time.Millisecond})
	st := New(Config{Route: "r", Retry: config.Retry{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}, Workers: 1},
		sink, lim, brk, &memDLQ{}, WithLogger(quiet))
	const partitions = 3
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Deliver(context.Background(), context.Background(), batchAt(p*10, 10))
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for sink.posted.Load() < partitions && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := sink.posted.Load(); got != partitions {
		t.Errorf("%d requests posted while acknowledgements were outstanding, want %d: the wait holds the worker", got, partitions)
	}
	if st := st.Concurrency().Stats(); st.InFlight != 0 {
		t.Errorf("%d slots held while only acknowledgements are awaited", st.InFlight)
	}
	close(sink.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := st.Counters().Delivered.Load(); d != partitions*10 {
		t.Fatalf("delivered %d, want %d", d, partitions*10)
	}
}

// downSink refuses connections until up is set.
type downSink struct {
	up    atomic.Bool
	sends atomic.Int32
}

func (s *downSink) Send(context.Context, []*event.Event) error {
	s.sends.Add(1)
	if !s.up.Load() {
		return &sinks.RequestError{Outcome: sinks.Retry, Err: errConnRefused}
	}
	return nil
}

func (s *downSink) Probe(context.Context) error {
	if !s.up.Load() {
		return errConnRefused
	}
	return nil
}
func (s *downSink) Close() error { return nil }

var errConnRefused = &sinks.RequestError{Outcome: sinks.Retry, Err: context.DeadlineExceeded}

// TestRetryWakesWhenTheSinkRecovers: a batch backing off after a failed
// request is sent as soon as the breaker sees the sink back, not at the
// end of a backoff grown during the outage.
func TestRetryWakesWhenTheSinkRecovers(t *testing.T) {
	sink := &downSink{}
	lim, _ := ratelimit.New(ratelimit.Config{BatchEvents: 10, BatchBytes: 1 << 20})
	// The breaker trips after 2 failures and probes every 20 ms; the
	// retry backoff is an hour.
	brk, _ := breaker.New(breaker.Config{Failures: 2, InitialProbe: 20 * time.Millisecond, MaxProbe: 20 * time.Millisecond})
	st := New(Config{Route: "r", Retry: config.Retry{InitialInterval: time.Hour, MaxInterval: time.Hour}, Workers: 4},
		sink, lim, brk, &memDLQ{}, WithLogger(quiet))
	done := make(chan error, 2)
	for p := range 2 {
		go func() { done <- st.Deliver(context.Background(), context.Background(), batchAt(p*10, 10)) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for brk.State() != breaker.Down && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if brk.State() != breaker.Down {
		t.Fatal("the breaker never tripped")
	}
	sink.up.Store(true)
	probe, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := brk.WaitUp(probe, sink.Probe); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a batch still sleeps in its backoff after the sink came back")
		}
	}
}

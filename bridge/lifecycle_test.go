package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/sinks"
)

// switchSink is a sink that is down (connection refused, probes fail)
// while down is set, and keeps what it was sent otherwise.
type switchSink struct {
	down   atomic.Bool
	probes atomic.Int64
	mu     sync.Mutex
	got    map[int32]map[int64]bool
}

func newSwitchSink() *switchSink { return &switchSink{got: map[int32]map[int64]bool{}} }

func (s *switchSink) Send(_ context.Context, batch []*event.Event) error {
	if s.down.Load() {
		return &sinks.RequestError{Err: errors.New("dial tcp: connection refused")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range batch {
		if s.got[ev.Partition] == nil {
			s.got[ev.Partition] = map[int64]bool{}
		}
		s.got[ev.Partition][ev.Offset] = true
	}
	return nil
}

func (s *switchSink) Probe(context.Context) error {
	s.probes.Add(1)
	if s.down.Load() {
		return errors.New("dial tcp: connection refused")
	}
	return nil
}

func (s *switchSink) Close() error { return nil }

func (s *switchSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.got {
		n += len(m)
	}
	return n
}

// fakeGroup is the pause bookkeeping of a sarama.ConsumerGroup: which
// partitions are paused. Pause takes a moment before it records, as a real
// call that goes through sarama's locks does, so that a check-then-pause
// race shows.
type fakeGroup struct {
	sarama.ConsumerGroup // nil: only the pause methods are used
	mu                   sync.Mutex
	paused               map[string]map[int32]bool
	known                map[string][]int32
}

func (g *fakeGroup) Pause(parts map[string][]int32) {
	time.Sleep(50 * time.Microsecond)
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			g.paused[t][p] = true
		}
	}
}

func (g *fakeGroup) Resume(parts map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			g.paused[t][p] = false
		}
	}
}

func (g *fakeGroup) PauseAll()  { g.Pause(g.known) }
func (g *fakeGroup) ResumeAll() { g.Resume(g.known) }

func (g *fakeGroup) isPaused(topic string, p int32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused[topic][p]
}

// TestPauseClaimIsAtomicWithResume: a partition claimed while the route
// resumes must not stay paused on its own. Before pauseClaim took the
// pause lock, the claim read "paused", the route resumed everything, and
// the claim's Pause landed after: the partition stayed paused with the
// route running, until the next pause cycle.
func TestPauseClaimIsAtomicWithResume(t *testing.T) {
	cfg, err := config.Parse([]byte(`
kafka: {brokers: ["127.0.0.1:1"]}
routes:
  - name: r
    topics: [events]
    sink: {type: null}
    batch: {max_events: 10, max_bytes: 1MiB}
    buffer: {max_events: 10, max_bytes: 1MiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, WithLogger(quiet), WithSinkFactory(nullSinks))
	if err != nil {
		t.Fatal(err)
	}
	defer b.closeSinks()
	r := b.routes[0]
	g := &fakeGroup{paused: map[string]map[int32]bool{"events": {}}, known: map[string][]int32{"events": {0}}}
	r.group = g

	for i := range 300 {
		r.addBuffer(10, 100) // at the bound: paused
		if !r.paused.Load() || !g.isPaused("events", 0) {
			t.Fatalf("round %d: not paused at the bound", i)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); r.pauseClaim("events", 0) }() // a new claim
		go func() { defer wg.Done(); r.releaseBuffer(10, 100) }()  // drained: resume
		wg.Wait()
		if !r.paused.Load() && g.isPaused("events", 0) {
			t.Fatalf("round %d: the route runs but the new claim's partition stays paused", i)
		}
		if r.paused.Load() {
			t.Fatalf("round %d: route still paused with an empty buffer", i)
		}
	}
}

// TestRouteRetriesGroupCreation: a consumer group that cannot be created
// at start (brokers gone between connect and join, an authorization
// failure) must not end the route for good. The route retries with
// backoff, says why it cannot run (Healthy false, RunError), and delivers
// once the group can be created.
func TestRouteRetriesGroupCreation(t *testing.T) {
	cluster, err := kafkatest.Start(1, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	produce(t, cluster.Brokers(), 1, 50)
	cfg := lifecycleConfig(t, cluster.Brokers(), "")
	sink := newSwitchSink()
	b, err := New(cfg, WithLogger(quiet), WithSink("r", sink))
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Int64
	fail.Store(3)
	sawUnhealthy := make(chan string, 1)
	real := b.newConsumerGroup
	b.newConsumerGroup = func(addrs []string, group string, sc *sarama.Config) (sarama.ConsumerGroup, error) {
		if fail.Add(-1) >= 0 {
			return nil, sarama.ErrOutOfBrokers
		}
		return real(addrs, group, sc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	go func() {
		for ctx.Err() == nil {
			st := b.Stats()
			if !st.Healthy && len(st.Routes) == 1 && st.Routes[0].RunError != "" {
				sawUnhealthy <- st.Routes[0].RunError
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for sink.count() < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 50 after the group could be created; stats %+v", sink.count(), b.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case msg := <-sawUnhealthy:
		if want := "cannot create consumer group siembridge-r: " + sarama.ErrOutOfBrokers.Error(); msg != want {
			t.Errorf("RunError = %q, want %q", msg, want)
		}
	case <-time.After(time.Second):
		t.Error("the route never reported that it could not run")
	}
	if !b.Healthy() {
		t.Errorf("still unhealthy after the group was created: %+v", b.Stats().Routes[0].RunError)
	}
}

// TestProbesWhileDownWithoutPendingBatch: a rebalance while the sink is
// down gives a member new claims that start paused and never read a
// record, so no batch is pending and no sender probes. The route's own
// prober must bring the sink back up and the partition must drain.
func TestProbesWhileDownWithoutPendingBatch(t *testing.T) {
	const perPartition = 200
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	produce(t, cluster.Brokers(), 2, perPartition)

	sink1 := newSwitchSink()
	sink1.down.Store(true)
	b1, stop1 := startLifecycleBridge(t, lifecycleConfig(t, cluster.Brokers(), ""), sink1)
	defer stop1()
	waitUntil(t, 30*time.Second, "member 1 down and paused", func() bool {
		st := b1.Stats().Routes[0]
		return st.SinkState == "down" && st.Paused
	})

	// Member 2 joins: the group rebalances, member 1 keeps one partition
	// in a new claim that starts paused.
	sink2 := newSwitchSink()
	b2, stop2 := startLifecycleBridge(t, lifecycleConfig(t, cluster.Brokers(), ""), sink2)
	defer stop2()
	waitUntil(t, 30*time.Second, "member 2 delivered its partition", func() bool { return sink2.count() == perPartition })
	waitUntil(t, 30*time.Second, "member 1 rejoined with one claim", func() bool {
		st := b1.Stats().Routes[0]
		return st.Joined && len(st.Partitions) == 1
	})
	_ = b2

	probes := sink1.probes.Load()
	sink1.down.Store(false)
	waitUntil(t, 20*time.Second, "member 1's partition delivered after the sink came back", func() bool {
		return sink1.count() == perPartition
	})
	if sink1.probes.Load() == probes {
		t.Errorf("no probe after the rebalance")
	}
}

func lifecycleConfig(t *testing.T, brokers []string, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
kafka:
  brokers: [%q]
  heartbeat_interval: 200ms
  session_timeout: 6s
  rebalance_timeout: 5s
routes:
  - name: r
    topics: [events]
    sink: {type: null}
    batch: {max_events: 50, max_wait: 20ms}
    retry: {initial_interval: 10ms, max_interval: 100ms}
    breaker: {failures: 2, initial_probe_interval: 50ms, max_probe_interval: 200ms}
    commit_interval: 100ms
%s
shutdown_timeout: 5s
`, brokers[0], extra)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startLifecycleBridge(t *testing.T, cfg *config.Config, sink sinks.Sink) (*Bridge, func()) {
	t.Helper()
	b, err := New(cfg, WithLogger(quiet), WithSink("r", sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	return b, func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return within 20s")
			}
		})
	}
}

// produce writes perPartition JSON events to each partition of "events".
func produce(t *testing.T, brokers []string, partitions int32, perPartition int) {
	t.Helper()
	prod, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ts := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	for p := range partitions {
		for i := range perPartition {
			v := fmt.Sprintf(`{"@timestamp":"2026-11-29T10:00:00Z","p":%d,"i":%d}`, p, i)
			recs = append(recs, kafkatest.Record{Topic: "events", Partition: p, Value: []byte(v), Timestamp: ts})
		}
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

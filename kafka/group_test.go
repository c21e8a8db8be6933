package kafka

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

func TestTopicResolver(t *testing.T) {
	re, err := config.CompileTopicsRegex(`logs\..*`)
	if err != nil {
		t.Fatal(err)
	}
	listed := []string{"logs.fw", "logs.edr", "metrics", "__consumer_offsets", "logs.dlq", "xlogs.a"}
	r := TopicResolver{Fixed: []string{"audit", "logs.fw"}, Regex: re, Exclude: []string{"logs.dlq"},
		List: func() ([]string, error) { return listed, nil }}
	got, err := r.Resolve()
	if want := []string{"audit", "logs.edr", "logs.fw"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Resolve: %v %v, want %v", got, err, want)
	}
	r.List = func() ([]string, error) { return nil, errors.New("no brokers") }
	if _, err := r.Resolve(); err == nil {
		t.Fatal("a failed listing resolved")
	}
}

// recordingHandler collects the values it consumes and marks them.
type recordingHandler struct {
	mu   sync.Mutex
	seen map[string][]string // topic → values
}

func (h *recordingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *recordingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *recordingHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			h.seen[m.Topic] = append(h.seen[m.Topic], string(m.Value))
			h.mu.Unlock()
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (h *recordingHandler) count(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen[topic])
}

// TestTopicsRegexFollowsNewTopics runs a real consumer group through
// NewGroup with topics_regex: a matching topic created while it runs is
// consumed after the next refresh, non-matching ones and the dead-letter
// topic are not.
func TestTopicsRegexFollowsNewTopics(t *testing.T) {
	c, err := kafkatest.Start(1, []string{"logs.fw", "other", "logs.r-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := config.Kafka{Brokers: c.Brokers(), Version: "3.6.0", TopicMetadataRefreshInterval: 100 * time.Millisecond,
		PartitionAssignmentStrategy: "cooperative-sticky", SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	rt := config.Route{Name: "r", TopicsRegex: `logs\..*`, DeadLetter: config.DeadLetter{Topic: "logs.r-dlq"}}
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	g, err := NewGroup(sarama.NewConsumerGroup, k, rt, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := kafkatest.NewProducer(c.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(topic string) {
		t.Helper()
		if err := p.Send(kafkatest.Record{Topic: topic, Value: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tp := range []string{"logs.fw", "other", "logs.r-dlq"} {
		send(tp)
	}

	h := &recordingHandler{seen: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, nil, h); err != nil && ctx.Err() == nil {
				t.Errorf("consume: %v", err)
				return
			}
		}
	})
	defer func() {
		cancel()
		wg.Wait()
		if err := g.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	waitFor(t, func() bool { return h.count("logs.fw") == 1 }, "the first matching topic")
	send("logs.edr") // auto-created: a new matching topic
	waitFor(t, func() bool { return h.count("logs.edr") == 1 }, "the topic created later")
	if h.count("other") != 0 || h.count("logs.r-dlq") != 0 {
		t.Fatalf("consumed what does not match or is the dead-letter topic: %v", h.seen)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNewGroupFreshStrategy: each group gets its own strategy instance,
// never the one in the shared configuration.
func TestNewGroupFreshStrategy(t *testing.T) {
	k := config.Kafka{Brokers: []string{"k:9092"}, Version: "3.6.0", PartitionAssignmentStrategy: "cooperative-sticky"}
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	var got []sarama.BalanceStrategy
	fake := func(addrs []string, group string, c *sarama.Config) (sarama.ConsumerGroup, error) {
		got = append(got, c.Consumer.Group.Rebalance.GroupStrategies...)
		return nil, errors.New("not connecting")
	}
	for range 2 {
		if _, err := NewGroup(fake, k, config.Route{Name: "r", Topics: []string{"t"}}, sc, nil); err == nil {
			t.Fatal("the fake's error was lost")
		}
	}
	shared := sc.Consumer.Group.Rebalance.GroupStrategies[0]
	if len(got) != 2 || got[0] == got[1] || got[0] == shared || got[1] == shared || got[0].Name() != sarama.CooperativeStickyBalanceStrategyName {
		t.Fatalf("strategies %v (shared %p)", got, shared)
	}
}

// TestNewGroupPlansMatchedPartitions: a regex route's prefetch is sized
// from the partitions its expression matches when the group is created,
// not from its (empty) fixed topic list.
func TestNewGroupPlansMatchedPartitions(t *testing.T) {
	c, err := kafkatest.Start(32, []string{"wide.a", "wide.b"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := config.Kafka{Brokers: c.Brokers(), Version: "3.6.0"}
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	const buffer = 32 << 20
	PlanFetch(buffer, 1, 512<<10, 8<<20).Apply(sc) // what the route set for no fixed topic
	rt := config.Route{Name: "w", TopicsRegex: `wide\..*`, Buffer: config.Buffer{MaxBytes: buffer}}
	var got *sarama.Config
	fake := func(addrs []string, group string, c *sarama.Config) (sarama.ConsumerGroup, error) {
		got = c
		return nil, errors.New("not connecting")
	}
	if _, err := NewGroup(fake, k, rt, sc, nil); err == nil {
		t.Fatal("the fake's error was lost")
	}
	want := PlanFetch(buffer, 64, 512<<10, 8<<20)
	if got == nil || got.Consumer.Fetch.Default != want.partitionFetch || got.ChannelBufferSize != want.channel {
		t.Fatalf("fetch %d channel %d, want %d and %d (64 partitions)", got.Consumer.Fetch.Default, got.ChannelBufferSize, want.partitionFetch, want.channel)
	}
	if sc.Consumer.Fetch.Default != 512<<10 {
		t.Fatal("the caller's configuration was changed")
	}
}

// blockingGroup is the sarama.ConsumerGroup boundary: Consume records its
// topics and blocks until ctx ends.
type blockingGroup struct {
	sarama.ConsumerGroup
	calls chan []string
}

func (g *blockingGroup) Consume(ctx context.Context, topics []string, _ sarama.ConsumerGroupHandler) error {
	g.calls <- topics
	<-ctx.Done()
	return nil
}

// TestRegexGroupConsume: no match waits a refresh interval and returns;
// a changed match ends the running Consume so the caller rejoins with the
// new set; an unchanged one keeps it running.
func TestRegexGroupConsume(t *testing.T) {
	re, _ := config.CompileTopicsRegex(`a\..*`)
	var mu sync.Mutex
	listed := []string{"b"}
	inner := &blockingGroup{calls: make(chan []string, 4)}
	g := &regexGroup{ConsumerGroup: inner, interval: 30 * time.Millisecond, closeClient: func() error { return nil },
		log: slog.New(slog.DiscardHandler),
		topics: TopicResolver{Regex: re, List: func() ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(listed), nil
		}}}
	start := time.Now()
	if err := g.Consume(context.Background(), nil, nil); err != nil || time.Since(start) < 30*time.Millisecond || len(inner.calls) != 0 {
		t.Fatalf("no match: %v after %s, %d inner calls", err, time.Since(start), len(inner.calls))
	}
	mu.Lock()
	listed = []string{"a.1", "b"}
	mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- g.Consume(context.Background(), nil, nil) }()
	if got := <-inner.calls; !slices.Equal(got, []string{"a.1"}) {
		t.Fatalf("consumed %v", got)
	}
	select {
	case err := <-done:
		t.Fatalf("returned while the set was unchanged: %v", err)
	case <-time.After(150 * time.Millisecond):
	}
	mu.Lock()
	listed = []string{"a.1", "a.2"}
	mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a changed set did not end Consume")
	}
}

func TestRouteTopics(t *testing.T) {
	c, err := kafkatest.Start(1, []string{"app.a", "app.b", "app.dlq", "budget.app", "db"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client, err := sarama.NewClient(c.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tc := range []struct {
		rt   config.Route
		want []string
	}{
		{config.Route{Name: "r", Topics: []string{"db"}}, []string{"db"}},
		{config.Route{Name: "r", TopicsRegex: `app\..*`, DeadLetter: config.DeadLetter{Topic: "app.dlq"}}, []string{"app.a", "app.b"}},
		{config.Route{Name: "r", Topics: []string{"db"}, TopicsRegex: `app\.a`}, []string{"app.a", "db"}},
		// The route's budget state is not its input.
		{config.Route{Name: "r", TopicsRegex: `(app|budget)\..*`, DeadLetter: config.DeadLetter{Topic: "app.dlq"}, Budget: &config.Budget{Topic: "budget.app"}}, []string{"app.a", "app.b"}},
	} {
		got, err := RouteTopics(client, tc.rt)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.rt, got, err, tc.want)
		}
	}
}

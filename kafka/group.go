package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
)

// NewGroupFunc has the shape of sarama.NewConsumerGroup.
type NewGroupFunc func(addrs []string, groupID string, sc *sarama.Config) (sarama.ConsumerGroup, error)

// NewGroup creates the consumer group of route rt with newGroup
// (sarama.NewConsumerGroup, or a test's fake) and what sarama does not do
// by itself:
//
//   - The group gets its own balance strategy: sarama's cooperative-sticky
//     strategy keeps state about its group and must not be shared, while sc
//     is usually a shallow copy of a configuration shared by every route.
//   - With routes[].topics_regex, the returned group consumes the route's
//     topics plus every topic whose name matches, resolved from the
//     brokers' metadata at each Consume call and every
//     kafka.topic_metadata_refresh_interval while it runs. When the set
//     changes, Consume returns nil so that the caller's loop (which calls
//     Consume again, as sarama asks) rejoins the group with the new set.
//     The topics passed to Consume are then ignored in favour of rt's.
//
// sarama's consumer groups take a fixed topic list, so the regex is
// resolved here rather than by the group coordinator, as Kafka's Java
// consumer does too. log may be nil. Close the group when done; it closes
// the metadata client as well.
func NewGroup(newGroup NewGroupFunc, k config.Kafka, rt config.Route, sc *sarama.Config, log *slog.Logger) (sarama.ConsumerGroup, error) {
	c := *sc
	s, err := NewBalanceStrategy(k.PartitionAssignmentStrategy)
	if err != nil {
		return nil, err
	}
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{s}
	if rt.TopicsRegex == "" {
		return newGroup(k.Brokers, rt.GroupID(), &c)
	}
	re, err := config.CompileTopicsRegex(rt.TopicsRegex)
	if err != nil {
		return nil, fmt.Errorf("routes %s: topics_regex: %w", rt.Name, err)
	}
	client, err := sarama.NewClient(k.Brokers, &c)
	if err != nil {
		return nil, err
	}
	topics := TopicResolver{Fixed: rt.Topics, Regex: re, Exclude: excludedTopics(rt), List: metadataTopics(client)}
	planMatched(&c, client, topics, rt)
	g, err := newGroup(k.Brokers, rt.GroupID(), &c)
	if err != nil {
		client.Close()
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := k.TopicMetadataRefreshInterval
	if interval <= 0 {
		interval = config.DefaultTopicMetadataRefreshInterval
	}
	return &regexGroup{
		ConsumerGroup: g,
		topics:        topics,
		interval:      interval,
		closeClient:   client.Close,
		log:           log,
	}, nil
}

// RouteTopics returns the topics route rt consumes now: rt.Topics, plus,
// with topics_regex, every topic in client's metadata that matches it (as
// TopicResolver picks them), sorted. Commands that work on a route's
// partitions (status, rewind, replay, export) should call it rather than
// read rt.Topics, which is empty for a route with only a regex. It does not
// refresh client's metadata.
func RouteTopics(client sarama.Client, rt config.Route) ([]string, error) {
	if rt.TopicsRegex == "" {
		return rt.Topics, nil
	}
	re, err := config.CompileTopicsRegex(rt.TopicsRegex)
	if err != nil {
		return nil, err
	}
	return TopicResolver{Fixed: rt.Topics, Regex: re, Exclude: excludedTopics(rt), List: client.Topics}.Resolve()
}

// excludedTopics are the topics the route writes, which its topics_regex
// must not match: its dead-letter topic and its budget's state topic.
func excludedTopics(rt config.Route) []string {
	ex := []string{rt.DeadLetterTopic()}
	if rt.Budget != nil && rt.Budget.Topic != "" {
		ex = append(ex, rt.Budget.Topic)
	}
	return ex
}

// planMatched lowers the prefetch of sc (see PlanFetch) to cover the
// partitions of every topic the route matches now: the route sized it from
// its fixed topics only. Topics that appear later are not counted until
// the route's group is created again. It only ever lowers the fetch sizes
// sc holds, and leaves sc as it is when the topics cannot be listed or the
// buffer is unknown.
func planMatched(sc *sarama.Config, client sarama.Client, topics TopicResolver, rt config.Route) {
	if rt.Buffer.MaxBytes <= 0 {
		return
	}
	matched, err := topics.Resolve()
	if err != nil || len(matched) == 0 {
		return
	}
	PlanFetch(int64(rt.Buffer.MaxBytes), TopicPartitions(client, matched), sc.Consumer.Fetch.Default, sc.Consumer.Fetch.MaxBytes).Apply(sc)
}

// metadataTopics lists the cluster's topics, fresh from the brokers.
func metadataTopics(client sarama.Client) func() ([]string, error) {
	return func() ([]string, error) {
		if err := client.RefreshMetadata(); err != nil {
			return nil, err
		}
		return client.Topics()
	}
}

// TopicResolver is the topic set of a route with topics_regex.
type TopicResolver struct {
	Fixed   []string       // routes[].topics, always included
	Regex   *regexp.Regexp // matches whole names (config.CompileTopicsRegex)
	Exclude []string       // never included when matched (the dead-letter and budget topics)
	List    func() ([]string, error)
}

// Resolve returns Fixed plus every listed topic Regex matches, except
// internal topics (names starting with "__") and Exclude, sorted and
// without repeats.
func (r TopicResolver) Resolve() ([]string, error) {
	all, err := r.List()
	if err != nil {
		return nil, fmt.Errorf("listing topics for topics_regex: %w", err)
	}
	out := slices.Clone(r.Fixed)
	for _, t := range all {
		if r.Regex.MatchString(t) && !strings.HasPrefix(t, "__") && !slices.Contains(r.Exclude, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// regexGroup is a consumer group whose topics follow a TopicResolver.
type regexGroup struct {
	sarama.ConsumerGroup
	topics      TopicResolver
	interval    time.Duration
	closeClient func() error
	log         *slog.Logger

	mu      sync.Mutex
	current []string // the topics of the last Consume, for logging
}

// Consume resolves the topics and consumes them until ctx ends, the inner
// Consume returns, or the resolved set changes (then it returns nil). With
// no topic to consume it waits one refresh interval and returns nil. A
// failed resolution is returned as the error.
func (g *regexGroup) Consume(ctx context.Context, _ []string, h sarama.ConsumerGroupHandler) error {
	topics, err := g.topics.Resolve()
	if err != nil {
		return err
	}
	g.noteTopics(topics)
	if len(topics) == 0 {
		t := time.NewTimer(g.interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { g.watch(cctx, cancel, topics) })
	err = g.ConsumerGroup.Consume(cctx, topics, h)
	cancel()
	wg.Wait()
	return err
}

// watch resolves the topics every interval until ctx ends, and calls
// changed when they differ from topics. A failed resolution keeps the
// current set (the brokers may be briefly unreachable).
func (g *regexGroup) watch(ctx context.Context, changed func(), topics []string) {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := g.topics.Resolve()
		if err != nil {
			g.log.Warn("topics_regex: cannot refresh the topic list; keeping the current one", "err", err)
			continue
		}
		if !slices.Equal(now, topics) {
			changed()
			return
		}
	}
}

// noteTopics logs the topic set when it differs from the last one.
func (g *regexGroup) noteTopics(topics []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Equal(g.current, topics) && g.current != nil {
		return
	}
	if len(topics) == 0 {
		g.log.Warn("topics_regex: no topic matches yet; waiting", "regex", g.topics.Regex.String())
	} else {
		g.log.Info("topics_regex: consuming", "topics", strings.Join(topics, ","))
	}
	g.current = slices.Clone(topics)
	if g.current == nil {
		g.current = []string{}
	}
}

// Close closes the group and the metadata client.
func (g *regexGroup) Close() error {
	err := g.ConsumerGroup.Close()
	if cerr := g.closeClient(); err == nil {
		err = cerr
	}
	return err
}

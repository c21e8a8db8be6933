package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"
	"golang.org/x/sync/semaphore"

	"github.com/siembridge/siembridge/breaker"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/ratelimit"
	"github.com/siembridge/siembridge/sinks"
)

// route is one consumer group feeding one sink through a delivery stage.
type route struct {
	b    *Bridge
	cfg  config.Route
	log  *slog.Logger
	sink sinks.Sink
	// skim: the sink checks JSON itself, so events are made with
	// event.Skim (see sinks.UncheckedAcceptor).
	skim  bool
	stage *deliver.Stage
	lim   *ratelimit.Limiter
	brk   *breaker.Breaker
	dlq   *deliver.KafkaDeadLetter

	group sarama.ConsumerGroup

	// Bounded memory: events and bytes consumed but not yet released.
	bufEvents, bufBytes atomic.Int64
	// pauseBytes is where the route pauses for bytes (see pauseMark); 0
	// before the consumer group is configured: buffer.max_bytes.
	pauseBytes  atomic.Int64
	pauseMu     sync.Mutex
	paused      atomic.Bool
	pauseReason string
	// flight bounds the bytes of the batches on their way to the sink
	// over all partitions (see flightBytes): each is encoded into a
	// request body beside its events.
	flight *semaphore.Weighted

	joined   atomic.Bool
	draining atomic.Bool
	// runErr is why the route cannot run right now (its consumer group
	// could not be created), nil while it runs. /healthz fails on it.
	runErr atomic.Pointer[string]
	// softCtx ends waits (rate limit, breaker, backoff, the batch queue)
	// when the route stops: on shutdown only requests already in flight
	// finish. hardCtx ends those in-flight requests too; it is cancelled
	// when the shutdown timeout expires or on Abort.
	softCtx    context.Context
	softCancel context.CancelFunc
	hardCtx    context.Context
	hardCancel context.CancelFunc
	// downCh wakes the prober when the breaker goes down.
	downCh chan struct{}

	partsMu sync.Mutex
	parts   map[topicPartition]*partition

	// budget is the route's daily budget, nil without one (budget.go).
	budget *routeBudget

	stats routeCounters
}

// flightBytes is the most batch bytes a route has in flight: a quarter of
// buffer.max_bytes, at least one batch. The events are in the buffer
// already; their request bodies are not, and with several batches of every
// partition in flight they would otherwise add up to the whole buffer
// again (gctune's headroom counts on a quarter).
func (r *route) flightBytes() int64 {
	return max(int64(r.cfg.Buffer.MaxBytes)/4, int64(r.cfg.Batch.MaxBytes))
}

type topicPartition struct {
	topic     string
	partition int32
}

func (r *route) init() error {
	r.log = r.b.log.With("route", r.cfg.Name)
	r.parts = make(map[topicPartition]*partition)
	r.downCh = make(chan struct{}, 1)
	r.flight = semaphore.NewWeighted(r.flightBytes())
	r.softCtx, r.softCancel = context.WithCancel(context.Background())
	r.hardCtx, r.hardCancel = context.WithCancel(context.Background())
	if r.sink == nil {
		if r.b.newSink == nil {
			return errors.New("sink: no sink constructor (bridge.WithSinkFactory)")
		}
		s, err := r.b.newSink(r.cfg.Sink, r.log)
		if err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		r.sink = s
	}
	filter, err := routeFilter(r.cfg)
	if err != nil {
		return err
	}
	r.skim = deliver.AcceptsUnchecked(r.sink, filter != nil || deliver.ReadsFields(r.cfg))
	if err := r.initBudget(); err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	var hooks deliver.Hooks = r.b.hooks
	if r.budget != nil {
		hooks = budgetHooks{Hooks: r.b.hooks, b: r.budget.b}
	}
	parts, err := deliver.ForRoute(r.cfg, r.sink, deliver.RouteOptions{
		Log: r.log, Hooks: hooks, Filter: filter,
		OnBreaker: func(st breaker.State) {
			r.updatePause()
			if st == breaker.Down {
				select {
				case r.downCh <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	r.stage, r.lim, r.brk, r.dlq = parts.Stage, parts.Limiter, parts.Breaker, parts.DeadLetter
	return nil
}

func (r *route) sinkDown() bool { return r.brk.State() == breaker.Down }

// run consumes until ctx ends, then stops and leaves the group: on
// shutdown no new batch is cut or started, only requests already in flight
// finish (bounded by the shutdown timeout, or cut at once by Abort), what
// they delivered is committed, and the rest stays in Kafka.
func (r *route) run(ctx context.Context) error {
	defer r.hardCancel()
	defer r.softCancel()
	group, err := r.newGroup(ctx)
	if err != nil {
		return nil // ctx ended before the group could be created
	}
	r.pauseMu.Lock()
	r.group = group
	r.pauseMu.Unlock()

	consumeCtx, stopConsume := context.WithCancel(context.Background())
	defer stopConsume()
	// The budget's ledger outlives consumption: its last exchange counts
	// what the requests in flight delivered.
	ledgerCtx, stopLedger := context.WithCancel(context.Background())
	defer stopLedger()
	waitLedger := r.runLedger(consumeCtx, ledgerCtx)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.logGroupErrors() }()
	go func() { defer wg.Done(); r.monitor(consumeCtx) }()
	go func() { defer wg.Done(); r.probeWhileDown(consumeCtx) }()

	// Shutdown: stop fetching and stop every wait; requests in flight
	// finish within the timeout, then they are cut off. The handler
	// commits in Cleanup.
	stopDrain := context.AfterFunc(ctx, func() {
		r.draining.Store(true)
		r.softCancel()
		r.log.Info("stopping: finishing the requests in flight", "timeout", r.b.cfg.ShutdownTimeout)
		r.group.PauseAll()
		stopConsume()
		t := time.AfterFunc(r.b.cfg.ShutdownTimeout, r.hardCancel)
		context.AfterFunc(r.hardCtx, func() { t.Stop() })
	})
	defer stopDrain()

	h := &handler{r: r}
	bo := backoff.NewExponentialBackOff()
	bo.MaxElapsedTime = 0
	bo.MaxInterval = 10 * time.Second
	for consumeCtx.Err() == nil {
		err := group.Consume(consumeCtx, r.cfg.Topics, h)
		if consumeCtx.Err() != nil {
			break
		}
		if err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			r.log.Warn("consume failed, rejoining", "err", err)
			select {
			case <-time.After(bo.NextBackOff()):
			case <-consumeCtx.Done():
			}
			continue
		}
		bo.Reset()
	}
	err = group.Close()
	wg.Wait()
	stopLedger()
	waitLedger()
	r.joined.Store(false)
	c := r.stage.Counters()
	r.log.Info("stopped", "delivered", c.Delivered.Load(), "dead_lettered", c.DeadLettered.Load())
	if err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
		return err
	}
	return nil
}

// newGroup creates the route's consumer group, retrying with backoff until
// it succeeds or ctx ends (then it returns ctx.Err()). While it fails the
// route cannot run: runErr says why (and /healthz fails).
func (r *route) newGroup(ctx context.Context) (sarama.ConsumerGroup, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 500 * time.Millisecond
	bo.MaxInterval = 15 * time.Second
	bo.MaxElapsedTime = 0
	for {
		group, err := kafka.NewGroup(r.b.newConsumerGroup, r.b.cfg.Kafka, r.cfg, r.saramaConfig(), r.log)
		if err == nil {
			if r.runErr.Swap(nil) != nil {
				r.log.Info("consumer group created", "group", r.groupID())
			}
			return group, nil
		}
		msg := "cannot create consumer group " + r.groupID() + ": " + err.Error()
		if prev := r.runErr.Swap(&msg); prev == nil || *prev != msg {
			r.log.Error("route cannot run, retrying", "group", r.groupID(), "err", err)
		}
		if err := sleep(ctx, bo.NextBackOff()); err != nil {
			return nil, err
		}
	}
}

// probeWhileDown probes the sink whenever the breaker is down, until ctx
// ends. Senders of pending batches probe too (WaitUp lets exactly one
// caller probe), but a partition paused while the sink is down may have no
// pending batch at all, for example every claim after a rebalance: without
// this prober nothing would ever bring the sink back up.
func (r *route) probeWhileDown(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.downCh:
		}
		if err := r.brk.WaitUp(ctx, r.sink.Probe); err != nil && ctx.Err() == nil {
			r.log.Warn("probing the sink", "err", err)
		}
	}
}

// abort cuts requests in flight and every wait at once.
func (r *route) abort() {
	r.softCancel()
	r.hardCancel()
}

func (r *route) groupID() string { return r.cfg.GroupID() }

func (r *route) saramaConfig() *sarama.Config {
	sc := *r.b.sc // shallow copy; only scalar fields change below
	if r.cfg.Start == "newest" {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	} else {
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	plan := r.fetchPlan() // sarama's prefetch sized from the buffer (kafka.PlanFetch)
	plan.Apply(&sc)
	r.pauseBytes.Store(pauseMark(int64(r.cfg.Buffer.MaxBytes), plan.Ahead()))
	return &sc
}

func (r *route) logGroupErrors() {
	var last string
	for err := range r.group.Errors() {
		if msg := err.Error(); msg != last {
			r.log.Warn("consumer group error", "err", err)
			last = msg
		}
	}
}

// EventOverhead is what an event held in memory costs besides its key and
// value: the event itself (168 bytes), its place in a batch and its share
// of the claim's copy block. The route's buffer counts it in its bytes, so
// buffer.max_bytes bounds the memory of the events held rather than the
// size of their documents alone: 100000 events of 700 bytes hold 19 MiB
// more than their 67 MiB of documents.
const EventOverhead = 192

// addBuffer accounts for consumed events of bytes key and value bytes and
// pauses the partitions at the bound.
func (r *route) addBuffer(events, bytes int64) {
	e, b := r.bufEvents.Add(events), r.bufBytes.Add(bytes+events*EventOverhead)
	if !r.paused.Load() && (e >= int64(r.cfg.Buffer.MaxEvents) || b >= r.maxBytes()) {
		r.updatePause()
	}
}

// pauseMark is where a route whose buffer is maxBytes pauses for bytes:
// early by what the Kafka client may still hand out once its partitions
// are paused (ahead: the fetch response being handed out, which pausing
// does not take back), so that the events in memory stay within maxBytes
// rather than overshoot it by a response. At 64 partitions that overshoot
// was a fifth of the buffer, and the garbage collector, working under a
// memory limit sized from the buffer, ran every few milliseconds. Never
// below half of maxBytes.
func pauseMark(maxBytes, ahead int64) int64 {
	return max(maxBytes-ahead, maxBytes/2)
}

// batchesPerShare is how many batches fit in a partition's share of the
// buffer at least (see batchLimits).
const batchesPerShare = 2

// batchLimits are the events and bytes of one batch of a route that
// claimed partitions: batch.max_events and batch.max_bytes, but no more
// than a batchesPerShare'th of a partition's share of the buffer. A batch
// is sent when it is full, and the buffer pauses the partitions when it
// is; with many partitions and batches larger than their shares (64
// partitions, 1000 events of 700 bytes each), the partitions filled the
// buffer with batches none of which was full, and the sink waited for
// batch.max_wait.
//
// The batch's bytes are its documents', while the buffer also counts
// EventOverhead for each event: the events are capped at what their
// overhead alone lets into the bytes, so that small events do not make a
// batch larger than its share.
func (r *route) batchLimits(claimed int) (events, bytes int) {
	d := int64(batchesPerShare * max(1, claimed))
	share := r.maxBytes() / d
	e := min(int64(r.cfg.Batch.MaxEvents), int64(r.cfg.Buffer.MaxEvents)/d, share/EventOverhead)
	return int(max(1, e)), int(max(1, min(int64(r.cfg.Batch.MaxBytes), share)))
}

// maxBytes is the byte bound the route pauses at (see pauseMark).
func (r *route) maxBytes() int64 {
	if b := r.pauseBytes.Load(); b > 0 {
		return b
	}
	return int64(r.cfg.Buffer.MaxBytes)
}

// releaseBuffer accounts for events that left memory (delivered,
// dead-lettered or dropped on revoke) and resumes below the low-water mark.
func (r *route) releaseBuffer(events, bytes int64) {
	r.bufEvents.Add(-events)
	r.bufBytes.Add(-bytes - events*EventOverhead)
	if r.paused.Load() {
		r.updatePause()
	}
}

// pauseClaim pauses a newly claimed partition when the route is paused.
// It holds pauseMu so that it cannot interleave with updatePause: checking
// the flag, then a ResumeAll, then the Pause would leave the partition
// paused while the route is not, until the next pause cycle.
func (r *route) pauseClaim(topic string, partition int32) {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	if r.paused.Load() {
		r.group.Pause(map[string][]int32{topic: {partition}})
	}
}

// updatePause pauses the route's partitions while the buffer is above its
// bound (until it falls below half of it) or the sink is down, and resumes
// them otherwise. It logs one line per change.
func (r *route) updatePause() {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	e, b := r.bufEvents.Load(), r.bufBytes.Load()
	maxE, maxB := int64(r.cfg.Buffer.MaxEvents), r.maxBytes()
	var reason string
	switch {
	case r.sinkDown():
		reason = "sink down"
	case e >= maxE || b >= maxB:
		reason = "buffer full"
	case r.paused.Load() && r.pauseReason == "buffer full" && (e > maxE/2 || b > maxB/2):
		reason = "buffer full"
	case r.budget != nil && r.budget.hold.Load():
		reason = "budget spent"
	}
	if (reason != "") == r.paused.Load() && reason == r.pauseReason {
		return
	}
	if r.group == nil {
		return
	}
	if reason != "" {
		if !r.paused.Load() {
			r.group.PauseAll()
		}
		r.log.Info("paused", "reason", reason, "buffered_events", e, "buffered_bytes", b)
	} else {
		r.group.ResumeAll()
		r.log.Info("resumed", "buffered_events", e, "buffered_bytes", b)
	}
	r.pauseReason = reason
	r.paused.Store(reason != "")
}

// monitor refreshes log-end offsets once a second: lag drives the rate
// limiter's catch-up mode and the stats.
func (r *route) monitor(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var total int64
		for _, p := range r.partitions() {
			end, err := r.b.client.GetOffset(p.topic, p.partition, sarama.OffsetNewest)
			if err != nil {
				continue
			}
			p.logEnd.Store(end)
			total += p.lag()
		}
		r.stats.lag.Store(total)
		if total > r.stats.maxLag.Load() {
			r.stats.maxLag.Store(total)
		}
		r.lim.ObserveLag(total)
		r.budgetTick()
	}
}

func (r *route) partitions() []*partition {
	r.partsMu.Lock()
	defer r.partsMu.Unlock()
	out := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		if p.active.Load() {
			out = append(out, p)
		}
	}
	return out
}

// routeCounters are the route's totals since start that its stage does
// not keep.
type routeCounters struct {
	consumed, consumedBytes atomic.Int64
	lag, maxLag             atomic.Int64
}

// routeFilter is the route's filter (routes[].filter), nil when it has
// none.
func routeFilter(rc config.Route) (func(*event.Event) bool, error) {
	f, err := filter.New(rc.Filter)
	if err != nil || f == nil {
		return nil, err
	}
	return f.Accepts, nil
}

// fetchPlan is the route's plan for the partitions of its topics, counted
// with the bridge's client (which Run connects before the routes start):
// the listed topics and those its topics_regex matches now.
func (r *route) fetchPlan() kafka.FetchPlan {
	parts := len(r.cfg.Topics)
	if r.b.client != nil {
		parts = kafka.TopicPartitions(r.b.client, r.routeTopics())
	}
	return kafka.PlanFetch(int64(r.cfg.Buffer.MaxBytes), parts, r.b.sc.Consumer.Fetch.Default, r.b.sc.Consumer.Fetch.MaxBytes)
}

// routeTopics is the route's topics resolved with the bridge's client
// (topics_regex matched against its metadata now); the listed topics alone
// when that fails (a warning says why).
func (r *route) routeTopics() []string {
	topics, err := kafka.RouteTopics(r.b.client, r.cfg)
	if err != nil {
		r.log.Warn("cannot resolve topics_regex; counting the listed topics only", "err", err)
		return r.cfg.Topics
	}
	return topics
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Package bridge consumes Kafka topics and feeds sinks with at-least-once
// delivery: one consumer group per route, one in-order pipeline per
// partition, offsets committed only up to the contiguous watermark of what
// the sink acknowledged or the dead-letter topic holds, and memory bounded
// by pausing partitions.
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

	"github.com/siembridge/siembridge/clock"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/sinks"
)

// Bridge runs every route of a configuration. Create it with New, run it
// with Run; it is not reusable after Run returns.
type Bridge struct {
	cfg   *config.Config
	sc    *sarama.Config
	log   *slog.Logger
	hooks Hooks

	routes []*route

	client   sarama.Client // shared: dead-letter producer and log-end offsets
	producer sarama.SyncProducer
	started  atomic.Bool
	ready    atomic.Bool

	// newSink builds a route's sink from its configuration.
	newSink SinkFactory
	// budgetClock is the routes' budgets' time source; nil: the system's.
	budgetClock clock.Clock
	// newConsumerGroup is sarama.NewConsumerGroup.
	newConsumerGroup func(addrs []string, groupID string, config *sarama.Config) (sarama.ConsumerGroup, error)
}

// Option customises a Bridge.
type Option func(*Bridge)

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(b *Bridge) { b.log = l } }

// WithHooks sets the metrics hooks. Default: none.
func WithHooks(h Hooks) Option { return func(b *Bridge) { b.hooks = h } }

// SinkFactory builds the sink a route's configuration names; the bridge
// closes it. registry.New is the one that knows every sink type.
type SinkFactory func(c config.Sink, log *slog.Logger) (sinks.Sink, error)

// WithSinkFactory sets how routes build their sinks (the bridge imports no
// concrete sink). Required unless every route's sink is given by WithSink.
func WithSinkFactory(f SinkFactory) Option { return func(b *Bridge) { b.newSink = f } }

// WithSink replaces the sink that the named route's configuration would
// build (tests and benchmarks use it). The bridge closes it.
func WithSink(route string, s sinks.Sink) Option {
	return func(b *Bridge) {
		for _, r := range b.routes {
			if r.cfg.Name == route {
				r.sink = s
			}
		}
	}
}

// New checks cfg (which must have passed config.Validate) and builds the
// routes and their sinks. It does not connect to Kafka; Run does.
func New(cfg *config.Config, opts ...Option) (*Bridge, error) {
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, sc: sc, log: slog.Default(), hooks: NopHooks{}, newConsumerGroup: sarama.NewConsumerGroup}
	for i := range cfg.Routes {
		b.routes = append(b.routes, &route{b: b, cfg: cfg.Routes[i]})
	}
	for _, o := range opts {
		o(b)
	}
	kafka.WarnInsecure(b.log, cfg.Kafka)
	for i, r := range b.routes {
		if err := r.init(); err != nil {
			b.closeSinks()
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	return b, nil
}

func (b *Bridge) closeSinks() {
	for _, r := range b.routes {
		if r.sink != nil {
			if err := r.sink.Close(); err != nil {
				b.log.Warn("closing sink", "route", r.cfg.Name, "err", err)
			}
		}
	}
}

// Run connects to Kafka (retrying until ctx ends), runs every route and
// blocks until ctx is cancelled. It then stops fetching, lets in-flight
// batches finish within the configured shutdown timeout, commits what was
// delivered, leaves the consumer groups and returns nil. It returns an
// error only when it could not start.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("bridge: Run called twice")
	}
	defer b.closeSinks()
	if err := b.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer b.client.Close()
	defer b.producer.Close()

	var wg sync.WaitGroup
	errs := make(chan error, len(b.routes))
	for _, r := range b.routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(ctx); err != nil {
				errs <- fmt.Errorf("route %s: %w", r.cfg.Name, err)
			}
		}()
	}
	b.ready.Store(true)
	wg.Wait()
	b.ready.Store(false)
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// connect opens the shared client and the dead-letter producer, retrying
// with backoff while the brokers are unreachable.
func (b *Bridge) connect(ctx context.Context) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 500 * time.Millisecond
	bo.MaxInterval = 15 * time.Second
	bo.MaxElapsedTime = 0
	logged := false
	return backoff.Retry(func() error {
		client, err := sarama.NewClient(b.cfg.Kafka.Brokers, b.sc)
		if err != nil {
			if !logged {
				b.log.Warn("kafka unreachable, retrying", "brokers", b.cfg.Kafka.Brokers, "err", err)
				logged = true
			}
			return err
		}
		producer, err := sarama.NewSyncProducerFromClient(client)
		if err != nil {
			client.Close()
			return err
		}
		b.client, b.producer = client, producer
		for _, r := range b.routes {
			r.dlq.Producer = producer // before the routes start
		}
		if logged {
			b.log.Info("kafka reachable", "brokers", b.cfg.Kafka.Brokers)
		}
		return nil
	}, backoff.WithContext(bo, ctx))
}

// Abort cuts the requests in flight and every wait of a Run that is
// stopping, so that it commits what was delivered and returns at once
// rather than after the shutdown timeout (a second SIGTERM). Events whose
// outcome is unknown stay uncommitted. Call it only after the context
// given to Run ended: on a running bridge it would stop every delivery.
// Safe for concurrent use.
func (b *Bridge) Abort() {
	for _, r := range b.routes {
		r.abort()
	}
}

// Healthy reports whether every route can run: false while a route's
// consumer group cannot be created.
func (b *Bridge) Healthy() bool {
	for _, r := range b.routes {
		if r.runErr.Load() != nil {
			return false
		}
	}
	return true
}

// Ready reports whether every route has joined its group and no sink is
// down.
func (b *Bridge) Ready() bool {
	if !b.ready.Load() {
		return false
	}
	for _, r := range b.routes {
		if !r.joined.Load() || r.sinkDown() || r.stage.Degraded() != "" {
			return false
		}
	}
	return true
}

// Package metrics exports siembridge to Prometheus and serves the HTTP
// endpoints an operator watches: /metrics, /healthz, /readyz, /api/status
// and a live status page.
//
// Nothing here is global: the caller owns the prometheus.Registry, builds
// the bridge hooks with New, hands them to bridge.WithHooks, and starts a
// Server once the bridge exists. Metric names follow
// siembridge_<name>_<unit>[_total]; events that will be retried are counted
// as retried, never as dropped (nothing is dropped).
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/sinks"
)

// Namespace prefixes every metric name.
const Namespace = "siembridge"

// Request outcomes, the values of the outcome label of
// siembridge_sink_request_duration_seconds.
const (
	OutcomeOK        = "ok"        // every event delivered
	OutcomePartial   = "partial"   // the sink answered; some items retried or rejected
	OutcomeThrottled = "throttled" // the whole request was pushed back (429, 503, busy, timeout)
	OutcomeRejected  = "rejected"  // the whole batch can never be accepted (dead-letter)
	OutcomeFatal     = "fatal"     // the sink refuses us (credentials); it is marked down
	OutcomeError     = "error"     // transport error, 5xx, a request too large (split)
)

// Hooks implements bridge.Hooks with Prometheus counters and histograms.
// Create it with New. It is safe for concurrent use; the per-route series
// are resolved once per route and cached, so a hook call costs a map lookup
// and a few atomic adds.
type Hooks struct {
	consumedEvents, consumedBytes   *prometheus.CounterVec
	deliveredEvents, deliveredBytes *prometheus.CounterVec
	retriedEvents, retriedBytes     *prometheus.CounterVec
	deadEvents, deadBytes           *prometheus.CounterVec
	rateWait                        *prometheus.CounterVec
	requestDuration                 *prometheus.HistogramVec
	batchEvents                     *prometheus.HistogramVec
	committed                       *prometheus.GaugeVec

	// routes maps a route name to its *routeSeries; partitions maps a
	// partitionKey to its committed-offset gauge. Both only grow, bounded
	// by the configuration (routes) and the claimed partitions.
	routes     sync.Map
	partitions sync.Map
}

var _ bridge.Hooks = (*Hooks)(nil)

// routeSeries are the label-resolved series of one route.
type routeSeries struct {
	consumedEvents, consumedBytes   prometheus.Counter
	deliveredEvents, deliveredBytes prometheus.Counter
	retriedEvents, retriedBytes     prometheus.Counter
	deadEvents, deadBytes           prometheus.Counter
	rateWait                        prometheus.Counter
	batchEvents                     prometheus.Observer
	// requests by outcome, resolved on first use (outcomes are few).
	requests sync.Map // string → prometheus.Observer
}

type partitionKey struct {
	route, topic string
	partition    int32
}

// Histogram buckets.
var (
	// RequestDurationBuckets, seconds: from a fast local sink to the
	// longest timeout a SIEM is given.
	RequestDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	// BatchEventsBuckets: events per request.
	BatchEventsBuckets = []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
)

// New creates the bridge hooks and registers their metrics on reg. It
// fails if reg already holds metrics of the same names (New was called
// twice with the same registry).
func New(reg prometheus.Registerer) (*Hooks, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registerer")
	}
	route := []string{"route"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, route)
	}
	h := &Hooks{
		consumedEvents:  counter("events_consumed_total", "Events read from Kafka."),
		consumedBytes:   counter("bytes_consumed_total", "Bytes of the events read from Kafka."),
		deliveredEvents: counter("events_delivered_total", "Events acknowledged by the sink."),
		deliveredBytes:  counter("bytes_delivered_total", "Bytes of the events acknowledged by the sink."),
		retriedEvents:   counter("events_retried_total", "Events sent again after a retryable failure (a retried event is not dropped)."),
		retriedBytes:    counter("bytes_retried_total", "Bytes of the events sent again after a retryable failure."),
		deadEvents:      counter("events_dead_lettered_total", "Events the sink rejected for good, written to the dead-letter topic."),
		deadBytes:       counter("bytes_dead_lettered_total", "Bytes of the events written to the dead-letter topic."),
		rateWait:        counter("rate_limiter_wait_seconds_total", "Time batches were held by the rate limiter."),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "sink_request_duration_seconds",
			Help:    "Duration of one request to the sink, by outcome (" + OutcomeOK + ", " + OutcomePartial + ", " + OutcomeThrottled + ", " + OutcomeRejected + ", " + OutcomeFatal + ", " + OutcomeError + ").",
			Buckets: RequestDurationBuckets,
		}, []string{"route", "outcome"}),
		batchEvents: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "batch_events",
			Help:    "Events per request to the sink.",
			Buckets: BatchEventsBuckets,
		}, route),
		committed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "committed_offset",
			Help: "Next offset to commit per partition: every record below it was delivered or dead-lettered.",
		}, []string{"route", "topic", "partition"}),
	}
	for _, c := range []prometheus.Collector{
		h.consumedEvents, h.consumedBytes, h.deliveredEvents, h.deliveredBytes,
		h.retriedEvents, h.retriedBytes, h.deadEvents, h.deadBytes,
		h.rateWait, h.requestDuration, h.batchEvents, h.committed,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors, ready for New and NewServer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// series returns the cached series of route, resolving them on first use.
func (h *Hooks) series(route string) *routeSeries {
	if s, ok := h.routes.Load(route); ok {
		return s.(*routeSeries)
	}
	s := &routeSeries{
		consumedEvents:  h.consumedEvents.WithLabelValues(route),
		consumedBytes:   h.consumedBytes.WithLabelValues(route),
		deliveredEvents: h.deliveredEvents.WithLabelValues(route),
		deliveredBytes:  h.deliveredBytes.WithLabelValues(route),
		retriedEvents:   h.retriedEvents.WithLabelValues(route),
		retriedBytes:    h.retriedBytes.WithLabelValues(route),
		deadEvents:      h.deadEvents.WithLabelValues(route),
		deadBytes:       h.deadBytes.WithLabelValues(route),
		rateWait:        h.rateWait.WithLabelValues(route),
		batchEvents:     h.batchEvents.WithLabelValues(route),
	}
	// Two first calls may race; both built the same children (the vecs
	// dedupe them), one wins the map.
	actual, _ := h.routes.LoadOrStore(route, s)
	return actual.(*routeSeries)
}

// OnConsumed counts records read from Kafka.
func (h *Hooks) OnConsumed(route, _ string, _ int32, n, bytes int) {
	s := h.series(route)
	s.consumedEvents.Add(float64(n))
	s.consumedBytes.Add(float64(bytes))
}

// OnRequest observes the duration of one request by outcome, and the batch
// size.
func (h *Hooks) OnRequest(route string, events, _ int, latency time.Duration, err error) {
	s := h.series(route)
	outcome := Outcome(err)
	o, ok := s.requests.Load(outcome)
	if !ok {
		o, _ = s.requests.LoadOrStore(outcome, h.requestDuration.WithLabelValues(route, outcome))
	}
	o.(prometheus.Observer).Observe(latency.Seconds())
	s.batchEvents.Observe(float64(events))
}

// OnDelivered counts events acknowledged by the sink.
func (h *Hooks) OnDelivered(route string, events, bytes int) {
	s := h.series(route)
	s.deliveredEvents.Add(float64(events))
	s.deliveredBytes.Add(float64(bytes))
}

// OnRetried counts events that will be sent again.
func (h *Hooks) OnRetried(route string, events, bytes int) {
	s := h.series(route)
	s.retriedEvents.Add(float64(events))
	s.retriedBytes.Add(float64(bytes))
}

// OnDeadLettered counts events written to the dead-letter topic.
func (h *Hooks) OnDeadLettered(route string, events, bytes int) {
	s := h.series(route)
	s.deadEvents.Add(float64(events))
	s.deadBytes.Add(float64(bytes))
}

// OnCommitted sets the partition's committed-offset gauge.
func (h *Hooks) OnCommitted(route, topic string, partition int32, offset int64) {
	k := partitionKey{route, topic, partition}
	g, ok := h.partitions.Load(k)
	if !ok {
		g, _ = h.partitions.LoadOrStore(k, h.committed.WithLabelValues(route, topic, strconv.FormatInt(int64(partition), 10)))
	}
	g.(prometheus.Gauge).Set(float64(offset))
}

// OnRateWait adds the time a batch was held by the rate limiter.
func (h *Hooks) OnRateWait(route string, d time.Duration) {
	h.series(route).rateWait.Add(d.Seconds())
}

// Outcome names the result of one Send for the outcome label: a
// *sinks.BatchError is partial, anything else is named after sinks.Of.
// A request too large for the sink (split by the bridge) is an error.
func Outcome(err error) string {
	var be *sinks.BatchError
	if errors.As(err, &be) {
		return OutcomePartial
	}
	switch sinks.Of(err) {
	case sinks.Delivered:
		return OutcomeOK
	case sinks.Fatal:
		return OutcomeFatal
	case sinks.Reject:
		return OutcomeRejected
	case sinks.Throttled, sinks.Unavailable:
		return OutcomeThrottled
	}
	return OutcomeError
}

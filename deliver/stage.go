// Package deliver is the delivery stage of a route: it takes a run of
// events of one partition and blocks until every one of them is delivered
// to the sink or written to the dead-letter topic. It owns nothing but
// delivery — the breaker wait, the rate limit, the bound on requests in
// flight, one Send per attempt, the classification of the answer by its
// sinks.Outcome, retries with backoff of only the failed events, the
// dead-letter topic, and the sink's degraded state — and knows nothing of
// consumer groups, offsets or replay jobs: the live pipeline (bridge) and
// replay both feed it.
package deliver

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/siembridge/siembridge/breaker"
	"github.com/siembridge/siembridge/clock"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/ratelimit"
	"github.com/siembridge/siembridge/sinks"
)

// Config of a Stage.
type Config struct {
	// Route names the route in logs, hooks and dead-letter headers.
	Route string
	// SinkType names the sink in logs and dead-letter headers.
	SinkType string
	// Retry is the backoff between attempts of the same events (jittered,
	// never giving up).
	Retry config.Retry
	// Workers bounds the Send calls in flight across every caller of
	// Deliver. Values below 1 mean 1.
	Workers int
	// AdaptiveConcurrency lets the bound in effect move below Workers
	// with the sink's round-trip time (ratelimit.Concurrency).
	AdaptiveConcurrency bool
	// MaxBatch is the largest batch a caller hands Deliver (the route's
	// batch.max_events): the size of one request while the sink throttles
	// no items. When the sink answers a large share of a request's items
	// 429 the stage sends smaller requests — a sink whose burst is
	// smaller than a batch refuses part of every batch however slowly it
	// is sent — and grows them back while it does not. 0: requests are as
	// large as the batches.
	MaxBatch int
	// Filter, when set, selects the events to send; the others count as
	// done (Counters.Filtered) and cost no rate budget.
	Filter func(*event.Event) bool
	// Volume, when set, samples and shapes the events Filter selected
	// (see Volume); events sampled out count as done.
	Volume *Volume
}

// Stage delivers batches for one route. Create it with New. Deliver is
// safe for concurrent use (one caller per partition); the Stage owns no
// goroutine and needs no Close (the sink, limiter, breaker and dead-letter
// writer belong to the caller).
type Stage struct {
	cfg   Config
	sink  sinks.Sink
	lim   *ratelimit.Limiter
	brk   *breaker.Breaker
	dlq   DeadLetter
	hooks Hooks
	log   *slog.Logger
	clock clock.Clock
	conc  *ratelimit.Concurrency
	// chunk is the most events one request carries now (see
	// Config.MaxBatch); 0 = no bound. Written under sizeMu.
	chunk   atomic.Int64
	sizeMu  sync.Mutex
	resized time.Time // the last change of chunk, or an answer that kept it
	// badSize is the size of the last request answered with many items
	// throttled: growth slows down near it. 0 once a request of that size
	// went through clean.
	badSize int

	counters Counters

	// blocked counts Deliver calls whose last answer had blocked events;
	// the sink is degraded while it is above 0.
	blocked       atomic.Int64
	blockedMu     sync.Mutex
	blockedReason string
}

// Option configures a Stage.
type Option func(*Stage)

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Stage) { s.log = l } }

// WithHooks sets the metrics hooks. Default: none.
func WithHooks(h Hooks) Option { return func(s *Stage) { s.hooks = h } }

// WithClock replaces the system clock for the backoff between attempts
// and the timings given to the limiter and hooks (tests). Default: time.
func WithClock(c clock.Clock) Option { return func(s *Stage) { s.clock = c } }

// New returns a stage that sends to sink through lim and brk and writes
// rejected events to dlq.
func New(cfg Config, sink sinks.Sink, lim *ratelimit.Limiter, brk *breaker.Breaker, dlq DeadLetter, opts ...Option) *Stage {
	s := &Stage{cfg: cfg, sink: sink, lim: lim, brk: brk, dlq: dlq, hooks: NopHooks{}, log: slog.Default(), clock: clock.System{}}
	for _, o := range opts {
		o(s)
	}
	s.conc = ratelimit.NewConcurrency(cfg.Workers, cfg.AdaptiveConcurrency, s.clock)
	s.chunk.Store(int64(max(0, cfg.MaxBatch)))
	return s
}

// Concurrency returns the stage's bound on requests in flight.
func (s *Stage) Concurrency() *ratelimit.Concurrency { return s.conc }

// RequestEvents returns the most events one request carries now: the
// route's batch size, or less while the sink throttles items. 0: no bound.
func (s *Stage) RequestEvents() int { return int(s.chunk.Load()) }

// Counters returns the stage's totals since New.
func (s *Stage) Counters() *Counters { return &s.counters }

// Degraded returns why the sink is degraded — it refuses events for a
// reason of its own (sinks.Blocked) and they are held — or "" when it is
// not.
func (s *Stage) Degraded() string {
	if s.blocked.Load() == 0 {
		return ""
	}
	s.blockedMu.Lock()
	defer s.blockedMu.Unlock()
	return s.blockedReason
}

// Deliver blocks until every event of evs (a run of one partition, in
// order) was delivered, filtered out or written to the dead-letter topic.
// It returns an error only when a context ends, and then nothing of evs may
// be taken as done. wait ends every wait — for the breaker, the rate
// limiter, a worker slot, the backoff before a retry and the dead-letter
// topic — and send ends a request in flight: on shutdown wait ends first,
// so that a request already sent gets its answer, and nothing new is sent.
// send must end no later than wait.
func (s *Stage) Deliver(wait, send context.Context, evs []*event.Event) error {
	return s.DeliverAdmitted(wait, send, evs, nil)
}

// DeliverAdmitted is Deliver with admit (when not nil) asked, after the
// filter, sampling and shaping, which of the events selected for the sink
// to send now: the route's daily budget (bridge/budget.go). The events it
// leaves out count as done for this call; the caller keeps their offsets
// from being committed, or counts them as dropped. admit gets a run of
// evs in order, returns a subsequence of it and must not block.
func (s *Stage) DeliverAdmitted(wait, send context.Context, evs []*event.Event, admit func([]*event.Event) []*event.Event) error {
	if s.cfg.Filter != nil || s.cfg.Volume != nil {
		evs = s.selectEvents(evs)
	}
	if admit != nil {
		evs = admit(evs)
	}
	var held blockedHold
	defer held.release(s)
	return s.deliver(wait, send, evs, &held)
}

// deliver sends pending in requests of at most the current request size
// (RequestEvents), the events to retry of each answer first, so that they
// keep their place before the rest.
func (s *Stage) deliver(wait, send context.Context, pending []*event.Event, held *blockedHold) error {
	bo := s.newBackOff()
	for len(pending) > 0 {
		cur, rest := pending, []*event.Event(nil)
		if c := int(s.chunk.Load()); c > 0 && c < len(pending) {
			cur, rest = pending[:c], pending[c:]
		}
		resp, err := s.attempt(wait, send, cur)
		if err != nil {
			return err
		}
		if resp.outcome == sinks.TooLarge && len(cur) > 1 {
			// Over a size limit of the sink or a proxy in front of it:
			// the halves one after the other, in order. A single event
			// still too large is the sink's Reject.
			half := len(cur) / 2
			if err := s.deliver(wait, send, cur[:half], held); err != nil {
				return err
			}
			pending = pending[half:]
			bo.Reset()
			continue
		}
		held.set(s, resp.blocked)
		s.account(cur, resp)
		if len(resp.rejects) > 0 {
			if err := s.deadLetter(wait, resp.rejects); err != nil {
				return err
			}
		}
		if len(resp.retry) == 0 {
			pending = rest
			continue
		}
		pending = append(resp.retry, rest...)
		s.counters.Retried.Add(int64(len(resp.retry)))
		s.hooks.OnRetried(s.cfg.Route, len(resp.retry), sizeOf(resp.retry))
		d := bo.NextBackOff()
		if resp.retryAfter > d {
			d = min(resp.retryAfter, s.cfg.Retry.MaxInterval)
		}
		if err := s.sleep(wait, d, resp.recovered); err != nil {
			return err
		}
		if resp.recovered != nil {
			select {
			case <-resp.recovered:
				bo.Reset() // the outage is over: a fresh start
			default:
			}
		}
	}
	return nil
}

// answer is one attempt's result, by event.
type answer struct {
	outcome    sinks.Outcome // of the request as a whole
	retry      []*event.Event
	rejects    []Rejected
	blocked    string // the first blocked event's reason, "" when none
	retryAfter time.Duration
	bytes      int
	at         time.Time
	// recovered, for a request that failed as a whole, is the breaker's
	// Recovered channel taken before the request: the wait before the
	// retry ends when the sink comes back.
	recovered <-chan struct{}
}

// attempt waits for the sink to be up, for the rate limit and for a worker
// slot, makes one Send and classifies its answer.
func (s *Stage) attempt(wait, send context.Context, pending []*event.Event) (answer, error) {
	if err := s.brk.WaitUp(wait, s.sink.Probe); err != nil {
		return answer{}, err
	}
	bytes := sizeOf(pending)
	start := s.clock.Now()
	if err := s.lim.Wait(wait, len(pending), bytes); err != nil {
		return answer{}, err
	}
	if w := s.clock.Now().Sub(start); w > time.Millisecond {
		s.hooks.OnRateWait(s.cfg.Route, w)
	}
	if err := s.conc.Acquire(wait); err != nil {
		return answer{}, err
	}
	recovered := s.brk.Recovered()
	start = s.clock.Now()
	err := s.send(send, pending, start)
	now := s.clock.Now()
	latency := now.Sub(start)
	s.counters.Requests.Add(1)
	s.hooks.OnRequest(s.cfg.Route, len(pending), bytes, latency, err)
	if send.Err() != nil {
		return answer{}, send.Err() // the outcome is unknown: deliver again later
	}
	a := s.classify(pending, err, now, latency)
	a.bytes, a.at = bytes, now
	if a.outcome != sinks.Delivered {
		a.recovered = recovered
	}
	return a, nil
}

// send makes one Send of pending, holding a slot of the concurrency for
// the request only: a sink that acknowledges later (sinks.Acknowledger)
// gives the slot back when the request is answered and is waited for
// outside it.
func (s *Stage) send(ctx context.Context, pending []*event.Event, start time.Time) error {
	ak, ok := s.sink.(sinks.Acknowledger)
	if !ok {
		err := s.sink.Send(ctx, pending)
		s.conc.Done(s.clock.Now().Sub(start), signalOf(ctx, err))
		return err
	}
	ack, err := ak.SendPending(ctx, pending)
	s.conc.Done(s.clock.Now().Sub(start), signalOf(ctx, err))
	if err != nil || ack == nil {
		return err
	}
	return ack(ctx)
}

// signalOf is what an answer tells the concurrency controller.
func signalOf(ctx context.Context, err error) ratelimit.Signal {
	if ctx.Err() != nil {
		return ratelimit.Failed
	}
	switch sinks.Of(err) {
	case sinks.Delivered:
		if be := batchError(err); be != nil && be.Count(sinks.Throttled) > 0 {
			return ratelimit.Throttled
		}
		return ratelimit.Answered
	case sinks.Throttled:
		return ratelimit.Throttled
	case sinks.Unavailable:
		return ratelimit.Overloaded
	case sinks.Reject, sinks.TooLarge:
		return ratelimit.Answered
	default: // Retry, Fatal: an outage is the breaker's business
		return ratelimit.Failed
	}
}

// classify splits pending by the outcomes of one Send and tells the
// breaker and the adaptive rate. It is the one place that acts on a
// sinks.Outcome.
func (s *Stage) classify(pending []*event.Event, err error, now time.Time, latency time.Duration) answer {
	a := answer{outcome: sinks.Of(err), retryAfter: sinks.RetryAfter(err)}
	switch a.outcome {
	case sinks.Delivered:
		s.brk.Success() // the sink answered, even if some items failed
		be := batchError(err)
		throttled := 0
		if be != nil {
			throttled = be.Count(sinks.Throttled)
		}
		s.resize(now, len(pending), throttled)
		if throttled > 0 {
			// Ease off in proportion to the share of items pushed back.
			s.lim.ThrottledFraction(now, float64(throttled)/float64(len(pending)))
		} else {
			s.lim.Success(now, latency)
		}
		if be == nil {
			return a
		}
		for _, it := range be.Items {
			if it.Index < 0 || it.Index >= len(pending) {
				continue
			}
			ev := pending[it.Index]
			switch it.Outcome {
			case sinks.Delivered:
			case sinks.Reject:
				a.rejects = append(a.rejects, Rejected{Event: ev, Status: it.Status, Reason: it.Reason})
			case sinks.Blocked:
				if a.blocked == "" {
					a.blocked = "status " + strconv.Itoa(it.Status) + ": " + it.Reason
				}
				a.retry = append(a.retry, ev)
			default:
				a.retry = append(a.retry, ev)
			}
		}
	case sinks.Reject:
		s.brk.Success()
		status := statusOf(err)
		for _, ev := range pending {
			a.rejects = append(a.rejects, Rejected{Event: ev, Status: status, Reason: err.Error()})
		}
	case sinks.TooLarge:
		s.brk.Success() // the caller splits the batch
		if len(pending) == 1 {
			// Nothing left to split: the event itself is too large.
			a.rejects = []Rejected{{Event: pending[0], Status: statusOf(err), Reason: err.Error()}}
		}
	case sinks.Throttled:
		// Alive but busy: slow down, but this is no outage.
		s.brk.Success()
		s.lim.Throttled(now)
		a.retry = pending
	case sinks.Fatal:
		s.counters.FailedRequests.Add(1)
		s.brk.Trip(err)
		a.retry = pending
	case sinks.Unavailable:
		s.counters.FailedRequests.Add(1)
		s.brk.Failure(err)
		s.lim.Throttled(now)
		a.retry = pending
	default: // Retry
		s.counters.FailedRequests.Add(1)
		s.brk.Failure(err)
		a.retry = pending
	}
	return a
}

// account counts what an attempt delivered: every event that is neither
// retried nor rejected.
func (s *Stage) account(pending []*event.Event, a answer) {
	n := len(pending) - len(a.retry) - len(a.rejects)
	if n <= 0 {
		return
	}
	nb := a.bytes - sizeOf(a.retry)
	for _, rj := range a.rejects {
		nb -= rj.Event.Size()
	}
	s.counters.Delivered.Add(int64(n))
	s.counters.DeliveredBytes.Add(int64(nb))
	s.hooks.OnDelivered(s.cfg.Route, n, nb)
	s.lim.Delivered(a.at, n)
}

// deadLetter writes rejects; it returns an error only when ctx ends.
func (s *Stage) deadLetter(ctx context.Context, rejects []Rejected) error {
	if err := s.dlq.Write(ctx, rejects); err != nil {
		return err
	}
	bytes := 0
	for _, rj := range rejects {
		bytes += rj.Event.Size()
	}
	s.counters.DeadLettered.Add(int64(len(rejects)))
	s.hooks.OnDeadLettered(s.cfg.Route, len(rejects), bytes)
	return nil
}

// newBackOff returns a fresh jittered exponential backoff for one retry
// loop; it never gives up on its own (the event must not be lost).
func (s *Stage) newBackOff() backoff.BackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = s.cfg.Retry.InitialInterval
	bo.MaxInterval = s.cfg.Retry.MaxInterval
	bo.RandomizationFactor = 0.5
	bo.MaxElapsedTime = 0
	bo.Clock = s.clock
	bo.Reset()
	return bo
}

// sleep waits d, or until wake is closed (nil: never), or ctx ends.
func (s *Stage) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	ch, stop := s.clock.NewTimer(d)
	defer stop()
	select {
	case <-ch:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Request sizing (Config.MaxBatch). An answer with more than
// shrinkFraction of its items throttled halves the request size, but not
// below what the sink took of it (at least one event); at most once per
// resizeInterval, so that the answers to requests already in flight count
// as one signal. Each resizeInterval of answers without throttled items
// to requests of the full size grows it by an eighth (at least one event), up to MaxBatch — by a
// thirty-second within 10 % of the size last refused, so that a sink with
// a hard burst is probed gently. While it is
// below MaxBatch it also bounds the rate limiter's burst
// (Limiter.SetRequestBurst), so requests are spaced by their size.
const (
	shrinkFraction = 0.1
	resizeInterval = 250 * time.Millisecond
)

// resize adapts the request size to an answer at now of sent events with
// throttled items 429.
func (s *Stage) resize(now time.Time, sent, throttled int) {
	maxBatch := s.cfg.MaxBatch
	if maxBatch <= 0 {
		return
	}
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	cur := int(s.chunk.Load())
	next := cur
	switch {
	case float64(throttled) > shrinkFraction*float64(sent):
		if now.Sub(s.resized) < resizeInterval {
			return
		}
		next = min(cur, max(cur/2, sent-throttled, 1))
		s.badSize = sent
	case throttled == 0:
		if sent >= s.badSize {
			s.badSize = 0 // the sink takes that much now
		}
		if cur >= maxBatch || sent < cur || now.Sub(s.resized) < resizeInterval {
			return // a request smaller than the size tells nothing of it
		}
		step := max(1, cur/8)
		if s.badSize > 0 && cur*10 >= s.badSize*9 {
			step = max(1, cur/32) // near where the sink refused: probe gently
		}
		next = min(maxBatch, cur+step)
	default:
		return
	}
	s.resized = now
	if next == cur {
		return
	}
	s.chunk.Store(int64(next))
	if next < maxBatch {
		s.lim.SetRequestBurst(next)
	} else {
		s.lim.SetRequestBurst(0)
	}
}

// blockedHold is one Deliver call's share of the stage's degraded state:
// it holds one count of Stage.blocked while its last answer had blocked
// events.
type blockedHold struct{ held bool }

// set records the latest answer: reason "" when nothing was blocked.
func (h *blockedHold) set(s *Stage, reason string) {
	if reason == "" {
		h.release(s)
		return
	}
	s.blockedMu.Lock()
	s.blockedReason = reason
	s.blockedMu.Unlock()
	if h.held {
		return
	}
	h.held = true
	if s.blocked.Add(1) == 1 {
		s.log.Error("sink degraded: it refuses events for a reason of its own; they are retried, not dead-lettered, until an operator fixes it",
			"sink", s.cfg.SinkType, "reason", reason)
	}
}

// release gives the count back, when held.
func (h *blockedHold) release(s *Stage) {
	if !h.held {
		return
	}
	h.held = false
	if s.blocked.Add(-1) == 0 {
		s.log.Info("sink no longer degraded", "sink", s.cfg.SinkType)
	}
}

func sizeOf(evs []*event.Event) int {
	n := 0
	for _, ev := range evs {
		n += ev.Size()
	}
	return n
}

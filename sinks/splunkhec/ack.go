package splunkhec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

// ackPoller polls /services/collector/ack of one target (one HEC URL, one
// data channel) for every batch that target took and that waits for an
// acknowledgement, in one request per interval: HEC answers a list of ack
// IDs at once, and a route has several batches in flight. An ack ID belongs
// to the channel on the indexer that issued it, so it is only ever asked of
// that target, with its cookies. The poller is owned by the Sink: one
// goroutine per target, started by New and ended by stop.
//
// A waiter is registered when HEC answers an ackId (SendPending) and
// settled when HEC reports the ID indexed, when ack_timeout passed since
// (whether or not anyone waits: a waiter nobody collects does not stay), or
// when the sink closes.
//
// It also remembers whether HEC refuses acknowledgement (ackAnswer). While
// it does, Send posts nothing to the target (nothing at all when every
// target refuses: a fatal error), and Probe fails for it until the ack
// endpoint answers again: without that, Probe (which checks the event
// endpoint) would pass, the bridge would send the same batch again, its ack
// would be refused again, and HEC would index one more copy of it on every
// probe cycle. While refused, the poller itself asks again every
// url_cooldown, so that a target refused among several that work comes
// back without the sink ever being probed.
type ackPoller struct {
	s        *Sink
	t        *target
	interval time.Duration

	// inUse: the last answer to an event request carried an ackId, so the
	// token acknowledges and Probe checks the ack endpoint too. (A token
	// without acknowledgement answers no ackId and refuses /ack; Send then
	// counts the 200, and Probe must not fail on /ack.)
	inUse atomic.Bool
	// refusal is the fatal error of the last refused ack request, nil while
	// acks are answered. Set by poll and Probe, cleared by the next ack
	// request HEC answers.
	refusal atomic.Pointer[sinks.RequestError]

	mu      sync.Mutex
	waiters map[int64]*ackWaiter
	stopped bool

	ctx    context.Context // cancelled by stop; bounds poll requests
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// ackWaiter is one batch waiting for its ack ID. ch is closed when the
// outcome is known; err is set before, nil meaning acknowledged.
type ackWaiter struct {
	id       int64
	deadline time.Time // ack_timeout after HEC took the batch
	ch       chan struct{}
	err      error
}

func newAckPoller(s *Sink, t *target, interval time.Duration) *ackPoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &ackPoller{
		s: s, t: t, interval: interval,
		waiters: make(map[int64]*ackWaiter),
		ctx:     ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	go p.run()
	return p
}

// register starts waiting for id, which HEC answered for a batch; the
// waiter times out at deadline. It fails with sinks.ErrClosed after stop.
func (p *ackPoller) register(id int64, deadline time.Time) (*ackWaiter, error) {
	w := &ackWaiter{id: id, deadline: deadline, ch: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, sinks.ErrClosed
	}
	if old := p.waiters[id]; old != nil {
		// HEC numbers acks per channel from 0 and forgets them when it
		// restarts: a reused ID means the old one's ack is lost.
		old.err = &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("%s: ack id %d was issued again (HEC restarted?); its acknowledgement is lost", p.t.errPrefix(), id)}
		close(old.ch)
	}
	p.waiters[id] = w
	return w, nil
}

// await blocks until w is settled (acknowledged, failed, timed out) or
// ctx ends. A timeout is a retryable *sinks.RequestError (unavailable): the
// batch is sent again, which may index it twice (findable by the kafka_*
// indexed fields) but never loses it. When ctx ends first, w is dropped
// and the context's error returned: nobody will collect it. Safe to call
// when w was settled long before.
func (p *ackPoller) await(ctx context.Context, w *ackWaiter) error {
	select {
	case <-w.ch:
		return w.err
	default:
	}
	t := time.NewTimer(time.Until(w.deadline))
	defer t.Stop()
	select {
	case <-w.ch:
		return w.err
	case <-t.C:
		if p.forget(w, p.timeoutError(w)) {
			return w.err
		}
	case <-ctx.Done():
		if p.forget(w, fmt.Errorf("%s: waiting for ack id %d: %w", p.t.errPrefix(), w.id, ctx.Err())) {
			return w.err
		}
	}
	<-w.ch // decided meanwhile
	return w.err
}

func (p *ackPoller) timeoutError(w *ackWaiter) error {
	return &sinks.RequestError{Outcome: sinks.Unavailable,
		Err: fmt.Errorf("%s: ack id %d not acknowledged within ack_timeout %s; the batch is sent again", p.t.errPrefix(), w.id, p.s.ackTimeout)}
}

// forget settles w with err and removes it, unless its outcome was already
// decided; it reports whether it did.
func (p *ackPoller) forget(w *ackWaiter, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-w.ch:
		return false
	default:
	}
	if p.waiters[w.id] == w {
		delete(p.waiters, w.id)
	}
	w.err = err
	close(w.ch)
	return true
}

func (p *ackPoller) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var ids []int64
	var lastCheck time.Time
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		ids = p.pending(ids[:0], now)
		switch {
		case len(ids) > 0:
			p.poll(ids)
		case p.refusal.Load() != nil && now.Sub(lastCheck) >= p.s.cooldown:
			lastCheck = now
			if err := p.check(p.ctx); err == nil {
				p.t.markUp(p.s)
			}
		}
	}
}

// pending appends the IDs still waiting to ids, after settling those whose
// deadline passed as timed out.
func (p *ackPoller) pending(ids []int64, now time.Time) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.waiters {
		if now.Before(w.deadline) {
			ids = append(ids, id)
			continue
		}
		w.err = p.timeoutError(w)
		close(w.ch)
		delete(p.waiters, id)
	}
	return ids
}

// poll asks HEC about ids once and settles the waiters it can.
func (p *ackPoller) poll(ids []int64) {
	body, err := json.Marshal(struct {
		Acks []int64 `json:"acks"`
	}{ids})
	if err != nil { // cannot happen for a slice of integers
		p.s.log.Error("splunk hec: encoding ack request", "err", err)
		return
	}
	status, header, resp, err := p.s.do(p.ctx, p.t, ackPath, body, false)
	if err != nil {
		if p.ctx.Err() == nil {
			// Transient: the waiters keep waiting until ack_timeout.
			p.s.log.Debug("splunk hec: ack poll failed", "url", p.t.base, "err", err)
		}
		return
	}
	acks, err := ackAnswer(status, header, resp, time.Now())
	if err == nil {
		p.answered()
		p.settle(acks)
		return
	}
	var re *sinks.RequestError
	if errors.As(err, &re) && re.Outcome == sinks.Fatal {
		// No ack will come: fail the waiters now instead of at
		// ack_timeout, and keep the target out of use (the sink down
		// when it is the only one) until /ack answers.
		p.refuse(re)
		var werr error = re
		if p.s.usableBesides(p.t) {
			werr = &sinks.RequestError{Outcome: sinks.Retry,
				Err: fmt.Errorf("[%s] %w; the batch is sent again to another URL", p.t.base, re)}
		}
		p.failAll(werr)
		return
	}
	p.s.log.Debug("splunk hec: ack poll failed", "url", p.t.base, "err", err)
}

// check asks HEC about an ack ID it never issued (probeAckID), for Probe:
// nil when the ack endpoint answers, the refusal (fatal) or a retryable
// error otherwise.
func (p *ackPoller) check(ctx context.Context) error {
	body := []byte(`{"acks":[` + strconv.FormatInt(probeAckID, 10) + `]}`)
	status, header, resp, err := p.s.do(ctx, p.t, ackPath, body, false)
	if err != nil {
		return transportError(ctx, p.t.label, "ack check", err)
	}
	if _, err := ackAnswer(status, header, resp, time.Now()); err != nil {
		var re *sinks.RequestError
		if errors.As(err, &re) && re.Outcome == sinks.Fatal {
			p.refuse(re)
		}
		return err
	}
	p.answered()
	return nil
}

// refused returns a copy of the current refusal, nil when there is none.
func (p *ackPoller) refused() error {
	re := p.refusal.Load()
	if re == nil {
		return nil
	}
	c := *re // a copy: no caller can change the stored one
	return &c
}

// refuse records that HEC refuses acknowledgement, logging when that
// starts.
func (p *ackPoller) refuse(re *sinks.RequestError) {
	if p.refusal.Swap(re) == nil {
		what := "the sink is down"
		if len(p.s.targets) > 1 {
			what = "this URL is not used (the sink is down when no URL is left)"
		}
		p.s.log.Error("splunk hec: "+what+" until HEC answers on "+ackPath+"; the events of batches waiting for an acknowledgement are sent again",
			"url", p.t.base, "err", re)
	}
}

// answered records that HEC answered an ack request, logging when that
// ends a refusal.
func (p *ackPoller) answered() {
	if p.refusal.Swap(nil) != nil {
		p.s.log.Info("splunk hec: indexer acknowledgement answered again", "url", p.t.base)
	}
}

func (p *ackPoller) settle(acks map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, ok := range acks {
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			continue
		}
		if w := p.waiters[id]; w != nil {
			delete(p.waiters, id)
			close(w.ch)
		}
	}
}

func (p *ackPoller) failAll(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.waiters {
		w.err = err
		close(w.ch)
		delete(p.waiters, id)
	}
}

// stop ends the goroutine and fails every waiter with sinks.ErrClosed.
func (p *ackPoller) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	<-p.done
	p.failAll(sinks.ErrClosed)
}

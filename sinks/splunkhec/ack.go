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

// ackPoller polls /services/collector/ack for every Send of a sink that
// waits for an acknowledgement, in one request per interval: HEC answers a
// list of ack IDs at once, and a route has several batches in flight. It is
// owned by the Sink: one goroutine, started by New and ended by stop.
//
// It also remembers whether HEC refuses acknowledgement (ackAnswer). While
// it does, Send posts nothing and fails as fatal, and Probe fails until the
// ack endpoint answers again: without that, Probe (which checks the event
// endpoint) would pass, the bridge would send the same batch again, its ack
// would be refused again, and HEC would index one more copy of it on every
// probe cycle.
type ackPoller struct {
	s        *Sink
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

// ackWaiter is one Send waiting for its ack ID. ch is closed when the
// outcome is known; err is set before, nil meaning acknowledged.
type ackWaiter struct {
	ch  chan struct{}
	err error
}

func newAckPoller(s *Sink, interval time.Duration) *ackPoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &ackPoller{
		s: s, interval: interval,
		waiters: make(map[int64]*ackWaiter),
		ctx:     ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	go p.run()
	return p
}

// wait blocks until HEC acknowledged id, timeout passed or ctx ended. A
// timeout is a retryable *sinks.RequestError: the batch is sent again,
// which may index it twice (findable by the kafka_* indexed fields) but
// never loses it.
func (p *ackPoller) wait(ctx context.Context, id int64, timeout time.Duration) error {
	w := &ackWaiter{ch: make(chan struct{})}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return sinks.ErrClosed
	}
	if old := p.waiters[id]; old != nil {
		// HEC numbers acks per channel from 0 and forgets them when it
		// restarts: a reused ID means the old one's ack is lost.
		old.err = &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("splunk hec: ack id %d was issued again (HEC restarted?); its acknowledgement is lost", id)}
		close(old.ch)
	}
	p.waiters[id] = w
	p.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ch:
		return w.err
	case <-t.C:
		if p.forget(id, w) {
			return &sinks.RequestError{Outcome: sinks.Unavailable,
				Err: fmt.Errorf("splunk hec: ack id %d not acknowledged within ack_timeout %s; the batch is sent again", id, timeout)}
		}
	case <-ctx.Done():
		if p.forget(id, w) {
			return fmt.Errorf("splunk hec: waiting for ack id %d: %w", id, ctx.Err())
		}
	}
	<-w.ch // decided meanwhile
	return w.err
}

// forget removes w unless its outcome was decided; it reports whether it
// removed it.
func (p *ackPoller) forget(id int64, w *ackWaiter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-w.ch:
		return false
	default:
	}
	if p.waiters[id] == w {
		delete(p.waiters, id)
	}
	return true
}

func (p *ackPoller) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var ids []int64
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		ids = ids[:0]
		p.mu.Lock()
		for id := range p.waiters {
			ids = append(ids, id)
		}
		p.mu.Unlock()
		if len(ids) > 0 {
			p.poll(ids)
		}
	}
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
	status, header, resp, err := p.s.do(p.ctx, ackPath, body, false)
	if err != nil {
		if p.ctx.Err() == nil {
			// Transient: the waiters keep waiting until ack_timeout.
			p.s.log.Debug("splunk hec: ack poll failed", "err", err)
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
		// ack_timeout, and keep the sink down until /ack answers.
		p.refuse(re)
		p.failAll(re)
		return
	}
	p.s.log.Debug("splunk hec: ack poll failed", "err", err)
}

// check asks HEC about an ack ID it never issued (probeAckID), for Probe:
// nil when the ack endpoint answers, the refusal (fatal) or a retryable
// error otherwise.
func (p *ackPoller) check(ctx context.Context) error {
	body := []byte(`{"acks":[` + strconv.FormatInt(probeAckID, 10) + `]}`)
	status, header, resp, err := p.s.do(ctx, ackPath, body, false)
	if err != nil {
		return transportError(ctx, "ack check", err)
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
		p.s.log.Error("splunk hec: the sink is down until HEC answers on "+ackPath+"; the events of batches waiting for an acknowledgement are sent again then",
			"url", p.s.base, "err", re)
	}
}

// answered records that HEC answered an ack request, logging when that
// ends a refusal.
func (p *ackPoller) answered() {
	if p.refusal.Swap(nil) != nil {
		p.s.log.Info("splunk hec: indexer acknowledgement answered again", "url", p.s.base)
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

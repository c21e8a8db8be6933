package splunkhec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

// ackPoller polls /services/collector/ack for every Send of a sink that
// waits for an acknowledgement, in one request per interval: HEC answers a
// list of ack IDs at once, and a route has several batches in flight. It is
// owned by the Sink: one goroutine, started by New and ended by stop.
type ackPoller struct {
	s        *Sink
	interval time.Duration

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
		old.err = &sinks.RequestError{Err: fmt.Errorf("splunk hec: ack id %d was issued again (HEC restarted?); its acknowledgement is lost", id)}
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
			return &sinks.RequestError{Throttled: true,
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
	if status == http.StatusOK {
		var r struct {
			Acks map[string]bool `json:"acks"`
		}
		if err := json.Unmarshal(resp, &r); err == nil && r.Acks != nil {
			p.settle(r.Acks)
			return
		}
	}
	_, cerr := classify(status, header, resp, 0, time.Now())
	if cerr == nil {
		cerr = &sinks.RequestError{Status: status, Err: errors.New("splunk hec: ack poll: unexpected answer " + describe(status, response{}, false, resp))}
	}
	if sinks.IsFatal(cerr) {
		// The token or the ack setting is refused: no ack will come, so
		// fail the waiters now instead of at ack_timeout.
		p.failAll(fmt.Errorf("ack poll: %w", cerr))
		return
	}
	p.s.log.Debug("splunk hec: ack poll failed", "err", cerr)
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

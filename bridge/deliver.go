package bridge

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// rejected is an event the sink refused for good, with why.
type rejected struct {
	ev     *event.Event
	status int
	reason string
}

// deliver blocks until every event of b was delivered or written to the
// dead-letter topic. It returns an error only when ctx ends; the events are
// then neither delivered nor released, so their offsets stay uncommitted.
func (r *route) deliver(ctx context.Context, b *batch) error {
	return r.deliverBatch(ctx, ctx, b)
}

// deliverBatch is deliver with two contexts: wait ends every wait (the
// breaker, the rate limiter, a worker slot, the backoff before a retry, the
// dead-letter topic's backoff), send ends a request in flight. On shutdown
// wait ends first, so that a request already sent gets its answer and is
// accounted, and nothing new is sent. send must end no later than wait.
func (r *route) deliverBatch(wait, send context.Context, b *batch) error {
	pending := b.events
	if f, ok := r.sink.(sinks.Filter); ok {
		pending = r.filter(f, pending)
	}
	return r.deliverEvents(wait, send, pending)
}

// deliverEvents is deliverBatch for a run of events of one partition, in
// order.
func (r *route) deliverEvents(ctx, send context.Context, pending []*event.Event) error {
	bo := r.newBackOff()
	var held blockedHold
	defer held.release(r)
	for len(pending) > 0 {
		if err := r.brk.WaitUp(ctx, r.sink.Probe); err != nil {
			return err
		}
		bytes := 0
		for _, ev := range pending {
			bytes += ev.Size()
		}
		waitStart := time.Now()
		if err := r.lim.Wait(ctx, len(pending), bytes); err != nil {
			return err
		}
		if w := time.Since(waitStart); w > time.Millisecond {
			r.b.hooks.OnRateWait(r.cfg.Name, w)
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		start := time.Now()
		err := r.sink.Send(send, pending)
		<-r.sem
		now := time.Now()
		latency := now.Sub(start)
		r.stats.requests.Add(1)
		r.b.hooks.OnRequest(r.cfg.Name, len(pending), bytes, latency, err)
		if send.Err() != nil {
			return send.Err() // the outcome is unknown: deliver again later
		}
		if isTooLarge(err) && len(pending) > 1 {
			// The request body is over a limit of the sink or a proxy in
			// front of it: deliver the halves one after the other (in
			// order). A single event still too large is the sink's
			// permanent reject and goes to the dead-letter topic.
			r.brk.Success()
			half := len(pending) / 2
			if err := r.deliverEvents(ctx, send, pending[:half]); err != nil {
				return err
			}
			pending = pending[half:]
			bo.Reset()
			continue
		}

		retry, rejects, blocked := r.classify(pending, err, now, latency)
		held.set(r, blocked)
		if n := len(pending) - len(retry) - len(rejects); n > 0 {
			nb := bytes - sizeOf(retry) - sizeOfRejects(rejects)
			r.stats.delivered.Add(int64(n))
			r.stats.deliveredBytes.Add(int64(nb))
			r.b.hooks.OnDelivered(r.cfg.Name, n, nb)
			r.lim.Delivered(now, n)
		}
		if len(rejects) > 0 {
			if err := r.deadLetter(ctx, rejects); err != nil {
				return err
			}
		}
		pending = retry
		if len(pending) == 0 {
			break
		}
		r.stats.retried.Add(int64(len(pending)))
		r.b.hooks.OnRetried(r.cfg.Name, len(pending), sizeOf(pending))
		wait := bo.NextBackOff()
		if ra := sinks.RetryAfter(err); ra > wait {
			wait = min(ra, r.cfg.Retry.MaxInterval)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

// classify splits pending by the outcome of Send and informs the breaker
// and the adaptive rate. retry holds the blocked events too; blocked is the
// first blocked item's description, "" when none.
func (r *route) classify(pending []*event.Event, err error, now time.Time, latency time.Duration) (retry []*event.Event, rejects []rejected, blocked string) {
	var be *sinks.BatchError
	switch {
	case err == nil:
		r.brk.Success()
		r.lim.Success(now, latency)
		return nil, nil, ""
	case errors.As(err, &be):
		r.brk.Success() // the sink answered; some items failed
		if be.Throttled {
			// Ease off in proportion to the share of items pushed back.
			r.lim.ThrottledFraction(now, float64(countRetries(be))/float64(len(pending)))
		} else {
			r.lim.Success(now, latency)
		}
		for _, it := range be.Items {
			if it.Index < 0 || it.Index >= len(pending) {
				continue
			}
			switch it.Outcome {
			case sinks.Reject:
				rejects = append(rejects, rejected{ev: pending[it.Index], status: it.Status, reason: it.Reason})
			case sinks.Blocked:
				if blocked == "" {
					blocked = "status " + strconv.Itoa(it.Status) + ": " + it.Reason
				}
				retry = append(retry, pending[it.Index])
			default:
				retry = append(retry, pending[it.Index])
			}
		}
		return retry, rejects, blocked
	case sinks.IsFatal(err):
		r.stats.failedRequests.Add(1)
		r.brk.Trip(err)
		return pending, nil, ""
	case sinks.Classify(err) == sinks.Reject:
		r.brk.Success()
		var re *sinks.RequestError
		errors.As(err, &re)
		for _, ev := range pending {
			rejects = append(rejects, rejected{ev: ev, status: re.Status, reason: err.Error()})
		}
		return nil, rejects, ""
	case isTooManyRequests(err):
		// Alive but busy: slow down, but this is no outage.
		r.brk.Success()
		r.lim.Throttled(now)
		return pending, nil, ""
	default:
		r.stats.failedRequests.Add(1)
		r.brk.Failure(err)
		if sinks.IsThrottled(err) {
			r.lim.Throttled(now)
		}
		return pending, nil, ""
	}
}

// blockedHold is one delivery loop's share of the route's degraded state:
// it holds one count of r.blocked while its last answer had blocked items.
type blockedHold struct{ held bool }

// set records the latest answer: reason "" when nothing was blocked.
func (h *blockedHold) set(r *route, reason string) {
	switch {
	case reason != "" && !h.held:
		h.held = true
		r.blockedMu.Lock()
		r.blockedReason = reason
		r.blockedMu.Unlock()
		if r.blocked.Add(1) == 1 {
			r.log.Error("sink degraded: it refuses events for a reason of its own; they are retried, not dead-lettered, until an operator fixes it",
				"sink", r.cfg.Sink.Type, "reason", reason)
		}
	case reason != "":
		r.blockedMu.Lock()
		r.blockedReason = reason
		r.blockedMu.Unlock()
	case h.held:
		h.release(r)
	}
}

// release gives the count back, when held.
func (h *blockedHold) release(r *route) {
	if !h.held {
		return
	}
	h.held = false
	if r.blocked.Add(-1) == 0 {
		r.log.Info("sink no longer degraded", "sink", r.cfg.Sink.Type)
	}
}

// degraded returns why the sink is degraded, "" when it is not.
func (r *route) degraded() string {
	if r.blocked.Load() == 0 {
		return ""
	}
	r.blockedMu.Lock()
	defer r.blockedMu.Unlock()
	return r.blockedReason
}

// isTooLarge reports a whole request refused as too large (HTTP 413).
func isTooLarge(err error) bool {
	var re *sinks.RequestError
	return errors.As(err, &re) && re.Status == 413
}

func isTooManyRequests(err error) bool {
	var re *sinks.RequestError
	return errors.As(err, &re) && re.Status == 429
}

// filter drops the events the sink does not take; they count as done.
func (r *route) filter(f sinks.Filter, evs []*event.Event) []*event.Event {
	kept := evs[:0:0]
	for _, ev := range evs {
		if f.Accepts(ev) {
			kept = append(kept, ev)
		}
	}
	if n := len(evs) - len(kept); n > 0 {
		r.stats.filtered.Add(int64(n))
	}
	return kept
}

func countRetries(be *sinks.BatchError) int {
	n := 0
	for _, it := range be.Items {
		if it.Outcome == sinks.Retry {
			n++
		}
	}
	return n
}

func sizeOf(evs []*event.Event) int {
	n := 0
	for _, ev := range evs {
		n += ev.Size()
	}
	return n
}

func sizeOfRejects(rs []rejected) int {
	n := 0
	for _, rj := range rs {
		n += rj.ev.Size()
	}
	return n
}

// newBackOff returns a fresh jittered exponential backoff for one retry
// loop; it never gives up on its own (the event must not be lost).
func (r *route) newBackOff() backoff.BackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = r.cfg.Retry.InitialInterval
	bo.MaxInterval = r.cfg.Retry.MaxInterval
	bo.RandomizationFactor = 0.5
	bo.MaxElapsedTime = 0
	bo.Reset()
	return bo
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

// Dead-letter record headers.
const (
	HeaderTopic     = "siembridge.original.topic"
	HeaderPartition = "siembridge.original.partition"
	HeaderOffset    = "siembridge.original.offset"
	HeaderTimestamp = "siembridge.original.timestamp"
	HeaderRoute     = "siembridge.route"
	HeaderSink      = "siembridge.sink"
	HeaderStatus    = "siembridge.status"
	HeaderReason    = "siembridge.reason"
	// HeaderValueOmitted is set when the value was too large for the
	// dead-letter topic and was left out.
	HeaderValueOmitted = "siembridge.value_omitted"
)

// deadLetter writes rejects to the route's dead-letter topic, retrying until
// every one is acknowledged by Kafka or ctx ends: a reject is never dropped.
func (r *route) deadLetter(ctx context.Context, rejects []rejected) error {
	msgs := make([]*sarama.ProducerMessage, len(rejects))
	bytes := 0
	for i, rj := range rejects {
		ev := rj.ev
		bytes += ev.Size()
		msgs[i] = &sarama.ProducerMessage{
			Topic:     r.dlq,
			Key:       byteEncoder(ev.Key),
			Value:     byteEncoder(ev.Value),
			Timestamp: ev.Timestamp,
			Headers: []sarama.RecordHeader{
				{Key: []byte(HeaderTopic), Value: []byte(ev.Topic)},
				{Key: []byte(HeaderPartition), Value: strconv.AppendInt(nil, int64(ev.Partition), 10)},
				{Key: []byte(HeaderOffset), Value: strconv.AppendInt(nil, ev.Offset, 10)},
				{Key: []byte(HeaderTimestamp), Value: []byte(ev.Timestamp.UTC().Format(time.RFC3339Nano))},
				{Key: []byte(HeaderRoute), Value: []byte(r.cfg.Name)},
				{Key: []byte(HeaderSink), Value: []byte(r.cfg.Sink.Type)},
				{Key: []byte(HeaderStatus), Value: strconv.AppendInt(nil, int64(rj.status), 10)},
				{Key: []byte(HeaderReason), Value: []byte(truncate(rj.reason, 1024))},
			},
		}
	}
	bo := r.newBackOff()
	failing := false
	for {
		err := r.b.producer.SendMessages(msgs)
		if err == nil {
			break
		}
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) {
			retry := make([]*sarama.ProducerMessage, 0, len(perrs))
			for _, pe := range perrs {
				if errors.Is(pe.Err, sarama.ErrMessageSizeTooLarge) && pe.Msg.Value != nil {
					// The broker will never take this value; the record
					// still points at the original, which Kafka keeps.
					pe.Msg.Value = nil
					pe.Msg.Headers = append(pe.Msg.Headers, sarama.RecordHeader{
						Key: []byte(HeaderValueOmitted), Value: []byte("value larger than the dead-letter topic accepts; read it at the original topic/partition/offset"),
					})
				}
				retry = append(retry, pe.Msg)
			}
			msgs = retry
		}
		if !failing {
			r.log.Error("dead-letter topic not writable; partition waits", "topic", r.dlq, "events", len(msgs), "err", err)
			failing = true
		}
		if err := sleep(ctx, bo.NextBackOff()); err != nil {
			return err
		}
	}
	if failing {
		r.log.Info("dead-letter topic writable again", "topic", r.dlq)
	}
	r.stats.deadLettered.Add(int64(len(rejects)))
	r.b.hooks.OnDeadLettered(r.cfg.Name, len(rejects), bytes)
	return nil
}

// byteEncoder keeps a nil key nil (sarama.ByteEncoder(nil) would send an
// empty key rather than a null one).
func byteEncoder(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

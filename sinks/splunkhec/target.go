package splunkhec

import (
	"cmp"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// target is one HEC URL: an indexer, or a load balancer in front of
// several. Each has its own data channel, its own cookie jar (a load
// balancer's sticky session belongs to one URL; cookies ignore ports, so
// two URLs on one host must not share a jar) and, with ack, its own
// acknowledgement poller: an ack ID is issued by one indexer for one
// channel and is only ever asked of that target.
type target struct {
	base  string // URL without a trailing slash
	label string // " <base>" in error messages when the sink has several URLs, "" otherwise
	// client talks to base only; its Jar is this target's.
	client *http.Client
	// channel is this target's data channel GUID, sent with every request
	// when ack is on or the endpoint is raw ("" otherwise). Ack IDs are
	// numbered per channel.
	channel string
	acks    *ackPoller // nil without ack
	// downUntil is when a failed target may be used again (UnixNano); 0
	// while it is up.
	downUntil atomic.Int64
}

// errPrefix starts t's error messages: "splunk hec", with the URL in
// front when the sink has several.
func (t *target) errPrefix() string {
	if t.label == "" {
		return "splunk hec"
	}
	return "[" + t.base + "] splunk hec"
}

// usable reports whether t may take a batch at now: not failed recently
// and not refusing acknowledgement.
func (t *target) usable(now int64) bool {
	return t.downUntil.Load() <= now && !t.refusing()
}

func (t *target) refusing() bool { return t.acks != nil && t.acks.refusal.Load() != nil }

// markDown takes t out of use for the sink's url_cooldown after a failed
// request (err), logging when it goes down. With a single URL there is
// nothing to fail over to, and it is left alone: the bridge's breaker
// handles an outage.
func (t *target) markDown(s *Sink, err error) {
	if len(s.targets) == 1 {
		return
	}
	until := time.Now().Add(s.cooldown).UnixNano()
	if t.downUntil.Swap(until) == 0 {
		s.log.Warn("splunk hec: URL failed; using the others for url_cooldown", "url", t.base, "url_cooldown", s.cooldown, "err", err)
	}
}

// markUp puts t back in use, logging when it was down.
func (t *target) markUp(s *Sink) {
	if t.downUntil.Swap(0) != 0 {
		s.log.Info("splunk hec: URL answers again", "url", t.base)
	}
}

// plan returns the targets to try for one batch, in order: the usable ones
// round-robin from the next in turn, then the failed ones, soonest back
// first (when every URL failed recently the batch is still tried on each:
// the breaker, not the sink, decides that the sink is down). Targets that
// refuse acknowledgement are left out; refusal is the first one's refusal,
// for when that leaves none.
func (s *Sink) plan(now int64) (order []*target, refusal error) {
	n := len(s.targets)
	if n == 1 {
		t := s.targets[0]
		if t.refusing() {
			return nil, t.acks.refused()
		}
		return s.targets, nil
	}
	start := int((s.next.Add(1) - 1) % uint64(n))
	order = make([]*target, 0, n)
	var down []*target
	for i := range n {
		t := s.targets[(start+i)%n]
		switch {
		case t.refusing():
			if refusal == nil {
				refusal = t.acks.refused()
			}
		case t.downUntil.Load() <= now:
			order = append(order, t)
		default:
			down = append(down, t)
		}
	}
	slices.SortStableFunc(down, func(a, b *target) int { return cmp.Compare(a.downUntil.Load(), b.downUntil.Load()) })
	return append(order, down...), refusal
}

// usableBesides reports whether a target other than t may take a batch now.
func (s *Sink) usableBesides(t *target) bool {
	now := time.Now().UnixNano()
	for _, o := range s.targets {
		if o != t && o.usable(now) {
			return true
		}
	}
	return false
}

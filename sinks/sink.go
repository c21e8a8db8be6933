// Package sinks defines the small interface every siembridge sink implements
// and the vocabulary in which a sink reports per-event outcomes.
//
// A sink makes exactly one attempt per Send call. It never retries and never
// sleeps: retries, backoff, rate limits, the circuit breaker and the
// dead-letter topic belong to the bridge, so that every sink gets the same
// guarantees from one implementation.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/siembridge/siembridge/event"
)

// Sink delivers batches of events to one destination.
//
// Send is called by one goroutine per partition; implementations must be
// safe for concurrent use. Close must be called once when the sink is no
// longer needed.
type Sink interface {
	// Send makes one attempt to deliver batch and blocks until the sink
	// answered or ctx ended. It returns nil when every event was delivered
	// (a duplicate of an already indexed document counts as delivered).
	// It returns a *BatchError when the request went through but some
	// events were not accepted, and any other error when the request as a
	// whole failed (see RequestError for how to describe that failure).
	Send(ctx context.Context, batch []*event.Event) error

	// Probe checks, cheaply, whether the sink is reachable and accepts our
	// credentials. The bridge calls it while the sink is considered down.
	Probe(ctx context.Context) error

	// Close releases connections and files. It does not send anything.
	Close() error
}

// Acknowledger is implemented by sinks whose receiver confirms a request
// some time after it answered it (Splunk HEC indexer acknowledgement). The
// bridge then holds a worker slot — the bound on requests in flight — only
// for SendPending, and waits for the acknowledgement outside it, so that
// throughput is workers × batch / round trip rather than workers × batch /
// (round trip + acknowledgement latency).
//
// SendPending makes one attempt like Send but returns once the receiver
// answered the request. When err is non-nil it is what Send would have
// returned and ack is nil. Otherwise ack blocks until the events are
// acknowledged (or ctx ends) and returns what Send would have returned;
// ack is called exactly once. A nil ack with a nil err means delivered.
type Acknowledger interface {
	SendPending(ctx context.Context, batch []*event.Event) (ack func(ctx context.Context) error, err error)
}

// UncheckedAcceptor is implemented by sinks whose server parses every
// document and rejects a malformed one item by item (Elasticsearch). When
// AcceptsUnchecked is true the bridge does not check the JSON grammar of
// values that look like objects (event.Skim, the largest cost of the
// bridge otherwise) and the sink may get events with Unchecked set. For
// such an event the server rejects, the sink calls Event.Check on it; when
// that wrapped it (the value was not a valid object), the sink reports the
// item Retry, so that the next attempt sends the wrapping and every event
// ends where a checked one would have. A valid object keeps its Reject.
type UncheckedAcceptor interface {
	AcceptsUnchecked() bool
}

// Outcome is the one class a sink gives an answer: per event (ItemError)
// and per request (RequestError, Of). The bridge, the breaker, the
// adaptive rate and the metrics switch on it; nothing outside a sink looks
// at status codes.
//
//	outcome      per event  per request  the bridge
//	Delivered    yes        yes          done
//	Retry        yes        yes          send again after backoff; a
//	                                     failed request counts toward
//	                                     the breaker
//	Throttled    yes        yes          send again after backoff and
//	                                     lower the adaptive rate; the
//	                                     sink answered (429)
//	Unavailable  -          yes          as Throttled, and the request
//	                                     counts toward the breaker (503,
//	                                     HEC "server busy", timeout)
//	Reject       yes        yes          dead-letter topic (the event is
//	                                     bad: mapping, format, too large)
//	Blocked      yes        -            send again after backoff, never
//	                                     dead-letter; the sink is
//	                                     degraded (permissions, missing
//	                                     index, read-only cluster)
//	Fatal        -          yes          the sink refuses us whatever we
//	                                     send (credentials, not the
//	                                     product): sink down, events kept
//	TooLarge     -          yes          the request is over a size
//	                                     limit: split the batch in halves
type Outcome uint8

const (
	// Delivered: the sink has the event.
	Delivered Outcome = iota
	// Retry: a transient failure (5xx, reset, refused); send it again.
	Retry
	// Throttled: the sink is alive and asks us to slow down (429); send
	// it again and lower the rate.
	Throttled
	// Unavailable: the sink is overloaded or did not answer in time
	// (503, HEC "server busy", a timeout): Throttled that also counts
	// toward the breaker.
	// Request level only.
	Unavailable
	// Reject: a permanent failure for this event (mapping or format
	// error, too large); it goes to the dead-letter topic.
	Reject
	// Blocked: the sink refused the event for a reason of its own, not
	// of the event: missing permission on the index, the index does not
	// exist and may not be created, the cluster is read-only. Sending it
	// again succeeds once an operator fixes the sink. The bridge retries
	// it with backoff, never dead-letters it, and reports the sink
	// degraded with the item's Reason while any event is blocked. Event
	// level only.
	Blocked
	// Fatal: the sink refuses us whatever we send (bad token, forbidden,
	// not the product we expect). The bridge marks the sink down and
	// keeps every event. Request level only.
	Fatal
	// TooLarge: the request body is over a limit of the sink or a proxy
	// in front of it (HTTP 413 for several events); the bridge sends the
	// halves one after the other. Request level only: a single event too
	// large is a Reject.
	TooLarge
)

var outcomeNames = [...]string{
	Delivered: "delivered", Retry: "retry", Throttled: "throttled", Unavailable: "unavailable",
	Reject: "reject", Blocked: "blocked", Fatal: "fatal", TooLarge: "too_large",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ItemError is the failure of one event of a batch.
type ItemError struct {
	Index   int     // position in the batch passed to Send
	Outcome Outcome // Retry, Throttled, Reject or Blocked
	Status  int     // sink status code (HTTP status, HEC code), 0 if none
	Reason  string  // human readable, from the sink when it gave one
}

// BatchError reports the events of a batch that were not delivered. Events
// whose index does not appear in Items were delivered.
type BatchError struct {
	Items []ItemError
	// RetryAfter is the sink's hint (Retry-After) for the retry, 0 if none.
	RetryAfter time.Duration
}

// Count returns how many items have outcome o.
func (e *BatchError) Count(o Outcome) int {
	n := 0
	for _, it := range e.Items {
		if it.Outcome == o {
			n++
		}
	}
	return n
}

func (e *BatchError) Error() string {
	reject, blocked := e.Count(Reject), e.Count(Blocked)
	msg := fmt.Sprintf("%d events to retry, %d rejected", len(e.Items)-reject-blocked, reject)
	if blocked > 0 {
		msg += fmt.Sprintf(", %d blocked by the sink", blocked)
	}
	if len(e.Items) > 0 {
		first := e.Items[0]
		msg += fmt.Sprintf(" (first: status %d: %s)", first.Status, first.Reason)
	}
	return msg
}

// RequestError is a failure of a whole request: nothing of the batch can be
// assumed delivered.
type RequestError struct {
	// Outcome for the whole batch: Retry (the zero value is taken as
	// Retry), Throttled, Unavailable, Reject, Fatal or TooLarge.
	Outcome Outcome
	Status  int   // HTTP status or sink code, 0 for transport errors
	Err     error // the underlying cause
	// RetryAfter is the sink's hint, 0 if none.
	RetryAfter time.Duration
}

func (e *RequestError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("status %d: %v", e.Status, e.Err)
	}
	return e.Err.Error()
}

func (e *RequestError) Unwrap() error { return e.Err }

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("sink closed")

// Of reduces an error returned by Send to the outcome of the request as a
// whole: nil → Delivered; *BatchError → Delivered (the sink answered; see
// its items); *RequestError → its Outcome (Retry for the zero value or
// Delivered, which a failed request cannot be); anything else → Retry.
func Of(err error) Outcome {
	if err == nil {
		return Delivered
	}
	var be *BatchError
	if errors.As(err, &be) {
		return Delivered
	}
	var re *RequestError
	if errors.As(err, &re) && re.Outcome != Delivered {
		return re.Outcome
	}
	return Retry
}

// RetryAfter returns the sink's retry hint carried by err, 0 if none.
func RetryAfter(err error) time.Duration {
	var be *BatchError
	if errors.As(err, &be) {
		return be.RetryAfter
	}
	var re *RequestError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

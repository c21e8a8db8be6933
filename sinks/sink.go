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

// UncheckedAcceptor is implemented by sinks whose server parses every
// document and rejects a malformed one item by item (Elasticsearch). When
// AcceptsUnchecked is true the bridge does not check the JSON grammar of
// values that look like objects (event.Skim, the largest cost of the
// bridge otherwise) and the sink may get events with Unchecked set. For
// such an event the server rejects, the sink must send Event.Checked()
// instead when that differs (the value was not a valid object and is now
// wrapped), so that every event ends where a checked one would have.
type UncheckedAcceptor interface {
	AcceptsUnchecked() bool
}

// Outcome is what happened to one event in one attempt.
type Outcome uint8

const (
	// Delivered: the sink has the event.
	Delivered Outcome = iota
	// Retry: a transient failure (throttling, 5xx, timeout); send it again.
	Retry
	// Reject: a permanent failure for this event (mapping or format
	// error, too large); it goes to the dead-letter topic.
	Reject
	// Blocked: the sink refused the event for a reason of its own, not
	// of the event: missing permission on the index, the index does not
	// exist and may not be created, the cluster is read-only. Sending it
	// again succeeds once an operator fixes the sink. The bridge retries
	// it with backoff, never dead-letters it, and reports the sink
	// degraded with the item's Reason while any event is blocked.
	Blocked
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Reject:
		return "reject"
	case Blocked:
		return "blocked"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ItemError is the failure of one event of a batch.
type ItemError struct {
	Index   int     // position in the batch passed to Send
	Outcome Outcome // Retry, Reject or Blocked
	Status  int     // sink status code (HTTP status, HEC code), 0 if none
	Reason  string  // human readable, from the sink when it gave one
}

// BatchError reports the events of a batch that were not delivered. Events
// whose index does not appear in Items were delivered.
type BatchError struct {
	Items []ItemError
	// Throttled is set when the sink signalled overload (429, 503, HEC
	// "server busy"); the bridge lowers its adaptive rate.
	Throttled bool
	// RetryAfter is the sink's hint (Retry-After) for the retry, 0 if none.
	RetryAfter time.Duration
}

func (e *BatchError) Error() string {
	var retry, reject, blocked int
	for _, it := range e.Items {
		switch it.Outcome {
		case Reject:
			reject++
		case Blocked:
			blocked++
		default:
			retry++
		}
	}
	msg := fmt.Sprintf("%d events to retry, %d rejected", retry, reject)
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
	Status int   // HTTP status or sink code, 0 for transport errors
	Err    error // the underlying cause
	// Permanent means sending the same batch again cannot succeed (for
	// example an event too large for the sink); the bridge rejects the
	// whole batch to the dead-letter topic.
	Permanent bool
	// Fatal means the sink refuses us, whatever we send (bad token,
	// forbidden). The bridge marks the sink down and keeps every event.
	Fatal bool
	// Throttled: the sink signalled overload (429, 503, "server busy").
	Throttled bool
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

// Classify reduces an error returned by Send to what the bridge must do
// with the whole batch: nil → Delivered; *BatchError → see its items;
// *RequestError → Retry, Reject (Permanent) or Retry (Fatal, with the sink
// marked down); anything else → Retry.
func Classify(err error) Outcome {
	if err == nil {
		return Delivered
	}
	var re *RequestError
	if errors.As(err, &re) && re.Permanent && !re.Fatal {
		return Reject
	}
	return Retry
}

// IsFatal reports whether err says the sink refuses us whatever we send.
func IsFatal(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Fatal
}

// IsThrottled reports whether err carries an overload signal from the sink.
func IsThrottled(err error) bool {
	var be *BatchError
	if errors.As(err, &be) {
		return be.Throttled
	}
	var re *RequestError
	return errors.As(err, &re) && re.Throttled
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

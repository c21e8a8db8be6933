package elasticsearch

import (
	"errors"
	"net/http"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// AcceptsUnchecked implements sinks.UncheckedAcceptor: Elasticsearch
// parses every document and rejects a malformed one item by item, so the
// bridge need not check the JSON grammar first, unless the index name is
// made from document fields, which are read from the document here.
func (s *Sink) AcceptsUnchecked() bool { return !s.usesFields }

// recheck finishes a Send for unchecked events (event.Skim) the cluster
// rejected with 400, the status of a document it cannot parse: each is
// checked now, in place (event.Event.Check). When its value is not a valid
// JSON object the event now holds its wrapping and its item becomes Retry,
// so that the bridge's next attempt sends the wrapping and the event ends
// where a checked one would have. A valid object keeps its Reject (a
// mapping error, a duplicate field): that is the cluster's judgement of
// the document, not of its syntax. Other errors pass through. recheck
// sends nothing: one attempt per Send.
func (s *Sink) recheck(batch []*event.Event, err error) error {
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		return err
	}
	wrapped := 0
	for k := range be.Items {
		it := &be.Items[k]
		e := batch[it.Index]
		if it.Outcome != sinks.Reject || it.Status != http.StatusBadRequest || !e.Unchecked {
			continue
		}
		if e.Check(); e.Wrapped {
			it.Outcome = sinks.Retry
			it.Reason = "not valid JSON: sent again wrapped (" + it.Reason + ")"
			wrapped++
		}
	}
	if wrapped > 0 {
		s.log.Debug("documents the cluster cannot parse are not valid JSON; the retry sends their wrapping", "events", wrapped)
	}
	return err
}

package elasticsearch

import (
	"context"
	"errors"
	"net/http"
	"slices"

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
// checked now, and when its value is not a valid JSON object its wrapping
// is sent in one more request, whose outcome replaces the rejection. A
// valid object keeps its rejection (a mapping error, a duplicate field):
// that is the cluster's judgement of the document, not of its syntax.
// Other errors pass through.
func (s *Sink) recheck(ctx context.Context, batch []*event.Event, err error) error {
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		return err
	}
	var (
		redo []*event.Event
		at   []int // batch index of each redo event
	)
	for _, it := range be.Items {
		e := batch[it.Index]
		if it.Outcome != sinks.Reject || it.Status != http.StatusBadRequest || !e.Unchecked {
			continue
		}
		if c := e.Checked(); c.Wrapped {
			redo = append(redo, c)
			at = append(at, it.Index)
		}
	}
	if len(redo) == 0 {
		return err
	}
	s.log.Debug("sending the wrapping of unparseable documents", "events", len(redo))

	// The outcome of each redo event, by batch index; nil means delivered.
	outcome := make(map[int]*sinks.ItemError, len(redo))
	for _, i := range at {
		outcome[i] = nil
	}
	rerr := s.send(ctx, redo)
	var rbe *sinks.BatchError
	var re *sinks.RequestError
	switch {
	case rerr == nil:
	case errors.As(rerr, &rbe):
		for _, it := range rbe.Items {
			it.Index = at[it.Index]
			outcome[it.Index] = &it
		}
		be.Throttled = be.Throttled || rbe.Throttled
		be.RetryAfter = max(be.RetryAfter, rbe.RetryAfter)
	default:
		// The request as a whole failed: retry those events (the next
		// attempt sends them unchecked again and comes back here).
		// Only a permanent failure, one event too large, is a rejection.
		o, status := sinks.Retry, 0
		if errors.As(rerr, &re) {
			status = re.Status
			if re.Permanent {
				o = sinks.Reject
			}
			be.Throttled = be.Throttled || re.Throttled
			be.RetryAfter = max(be.RetryAfter, re.RetryAfter)
		}
		for _, i := range at {
			outcome[i] = &sinks.ItemError{Index: i, Outcome: o, Status: status, Reason: rerr.Error()}
		}
	}

	items := be.Items[:0]
	for _, it := range be.Items {
		if _, redone := outcome[it.Index]; !redone {
			items = append(items, it)
		}
	}
	for _, it := range outcome {
		if it != nil {
			items = append(items, *it)
		}
	}
	if len(items) == 0 {
		return nil
	}
	slices.SortFunc(items, func(a, b sinks.ItemError) int { return a.Index - b.Index })
	be.Items = items
	return be
}

package elasticsearch

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/sinks"
)

// skimmed returns an event made the way the bridge makes them for a sink
// that accepts unchecked events.
func skimmed(offset int64, value string) *event.Event {
	e := new(event.Event)
	e.Init("t", 0, offset, day, nil, []byte(value), true)
	return e
}

// dupReject rejects a document with a repeated "u" key, as Elasticsearch's
// strict duplicate detection does: valid JSON the cluster refuses.
func dupReject(doc []byte) (int, string, string) {
	if bytes.Count(doc, []byte(`"u":`)) > 1 {
		return 400, "x_content_parse_exception", "Duplicate field 'u'"
	}
	return 0, "", ""
}

func TestUncheckedEventsTheClusterCannotParseAreSentWrapped(t *testing.T) {
	const ts = `{"@timestamp":"2025-03-14T10:00:00Z"`
	values := []struct {
		value   string
		outcome string // "as is", "wrapped" or "reject"
	}{
		{ts + `,"a":1}`, "as is"},
		{ts + `,bad}`, "wrapped"},
		{ts + `,"a":1,}`, "wrapped"},
		{ts + ",\"a\":\"x\ty\"}", "wrapped"},
		{ts + `,"u":1,"u":2}`, "reject"},
		{ts + `,"b":[1,2]}`, "as is"},
		{`{"a":1,"@timestamp":"2025-03-14T10:00:00Z"}`, "as is"}, // checked, not skimmed
	}
	f := fake(t, esfake.Options{RejectIf: dupReject})
	s := newSink(t, baseConfig(f.URL()))
	if !s.AcceptsUnchecked() {
		t.Fatal("a sink with a date-only index does not accept unchecked events")
	}
	batch := make([]*event.Event, len(values))
	for i, v := range values {
		batch[i] = skimmed(int64(i), v.value)
		if want := i < len(values)-1; batch[i].Unchecked != want {
			t.Fatalf("event %d: Unchecked = %v, want %v", i, batch[i].Unchecked, want)
		}
	}
	// The first attempt sends every event as it is. The cluster rejects
	// the ones it cannot parse; those that are not valid JSON come back
	// to retry, now checked and wrapped; a valid object keeps its reject.
	be := asBatchError(t, s.Send(t.Context(), batch))
	if f.Requests() != 1 {
		t.Fatalf("%d requests, want one attempt per Send", f.Requests())
	}
	var retry []*event.Event
	for _, it := range be.Items {
		e := batch[it.Index]
		switch want := values[it.Index].outcome; {
		case want == "wrapped" && it.Outcome == sinks.Retry:
			if e.Unchecked || !e.Wrapped || !strings.HasPrefix(it.Reason, "not valid JSON: sent again wrapped") {
				t.Errorf("event %d: %+v, item %+v, want it checked and wrapped", it.Index, e, it)
			}
			retry = append(retry, e)
		case want == "reject" && it.Outcome == sinks.Reject && it.Status == 400:
		default:
			t.Errorf("item %+v, want %s", it, want)
		}
	}
	if len(retry) != 3 || len(be.Items) != 4 {
		t.Fatalf("items %+v, want events 1-3 to retry and event 4 rejected with 400", be.Items)
	}
	// The bridge's retry sends the wrapping.
	if err := s.Send(t.Context(), retry); err != nil {
		t.Fatalf("retry: %v", err)
	}
	docs := f.All()
	for i, v := range values {
		doc, ok := docs[batch[i].ID()]
		switch v.outcome {
		case "as is":
			if !ok || string(doc) != v.value {
				t.Errorf("event %d: stored %q, want the value as it is", i, doc)
			}
		case "wrapped":
			msg, _ := event.Field(doc, "message")
			if !ok || msg != v.value {
				t.Errorf("event %d: stored %q, want the wrapping of %q", i, doc, v.value)
			}
		case "reject":
			if ok {
				t.Errorf("event %d: stored %q, want it rejected", i, doc)
			}
		}
	}
}

func TestUncheckedAllWrappedAndDelivered(t *testing.T) {
	f := fake(t, esfake.Options{})
	s := newSink(t, baseConfig(f.URL()))
	batch := []*event.Event{skimmed(0, `{"@timestamp":1741946400000,nope}`)}
	be := asBatchError(t, s.Send(t.Context(), batch))
	if len(be.Items) != 1 || be.Items[0].Outcome != sinks.Retry || f.Count() != 0 {
		t.Fatalf("first attempt: items %+v, %d stored; want the event to retry", be.Items, f.Count())
	}
	if err := s.Send(t.Context(), batch); err != nil {
		t.Fatalf("Send: %v, want the wrapping delivered", err)
	}
	if f.Count() != 1 || f.Requests() != 2 {
		t.Fatalf("%d documents stored in %d requests, want 1 in 2", f.Count(), f.Requests())
	}
}

// failSecond fails the second _bulk request and no other.
type failSecond struct {
	rt http.RoundTripper
	n  atomic.Int32
}

func (f *failSecond) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/_bulk") && f.n.Add(1) == 2 {
		return nil, errors.New("connection refused")
	}
	return f.rt.RoundTrip(req)
}

func TestUncheckedResendFailureIsRetried(t *testing.T) {
	f := fake(t, esfake.Options{})
	tr := &failSecond{rt: newRecorder(t).rt}
	s := newSink(t, baseConfig(f.URL()), WithTransport(tr))
	batch := []*event.Event{
		skimmed(0, `{"@timestamp":"2025-03-14T10:00:00Z","a":1}`),
		skimmed(1, `{"@timestamp":"2025-03-14T10:00:00Z",bad}`),
	}
	be := asBatchError(t, s.Send(t.Context(), batch))
	if len(be.Items) != 1 || be.Items[0].Index != 1 || be.Items[0].Outcome != sinks.Retry {
		t.Fatalf("items %+v, want event 1 to retry", be.Items)
	}
	if f.Count() != 1 {
		t.Fatalf("%d documents stored, want the valid one", f.Count())
	}
	// The retry of the wrapping fails as a whole: the event stays wrapped
	// and the next retry delivers it.
	retry := batch[1:]
	if o := sinks.Of(s.Send(t.Context(), retry)); o != sinks.Retry {
		t.Fatalf("second attempt: %v, want retry", o)
	}
	if retry[0].Unchecked || !retry[0].Wrapped {
		t.Fatalf("event 1 after a failed retry: %+v, want it checked and wrapped", retry[0])
	}
	if err := s.Send(t.Context(), retry); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	msg, _ := event.Field(f.All()[retry[0].ID()], "message")
	if f.Count() != 2 || msg != string(retry[0].Value) {
		t.Fatalf("%d documents stored, message %q; want the wrapping of event 1 too", f.Count(), msg)
	}
}

func TestAcceptsUncheckedOnlyWithoutFieldReferences(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Index = "logs-%{[event][module]}-%{+yyyy.MM.dd}"
	if newSink(t, cfg).AcceptsUnchecked() {
		t.Fatal("a sink whose index reads document fields accepts unchecked events")
	}
}

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
	err := s.Send(t.Context(), batch)
	be := asBatchError(t, err)
	if len(be.Items) != 1 || be.Items[0].Index != 4 || be.Items[0].Outcome != sinks.Reject || be.Items[0].Status != 400 {
		t.Fatalf("items %+v, want only event 4 rejected with 400", be.Items)
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
	if err := s.Send(t.Context(), batch); err != nil {
		t.Fatalf("Send: %v, want the wrapping delivered", err)
	}
	if f.Count() != 1 {
		t.Fatalf("%d documents stored, want 1", f.Count())
	}
}

// failSecond fails every request after the first.
type failSecond struct {
	rt http.RoundTripper
	n  atomic.Int32
}

func (f *failSecond) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/_bulk") && f.n.Add(1) > 1 {
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
}

func TestAcceptsUncheckedOnlyWithoutFieldReferences(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Index = "logs-%{[event][module]}-%{+yyyy.MM.dd}"
	if newSink(t, cfg).AcceptsUnchecked() {
		t.Fatal("a sink whose index reads document fields accepts unchecked events")
	}
}

package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ sinks.Sink = (*Sink)(nil)

var day = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

func fake(t testing.TB, opts esfake.Options) *esfake.Server {
	t.Helper()
	s := esfake.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func baseConfig(url string) config.Elasticsearch {
	return config.Elasticsearch{
		URLs:          []string{url},
		Index:         "logs-%{+yyyy.MM.dd}",
		Action:        "create",
		Timeout:       5 * time.Second,
		MaxEventBytes: 1 << 20,
	}
}

func newSink(t testing.TB, cfg config.Elasticsearch, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// events returns n events of topic "t" from offset first, each a JSON
// object carrying its offset in "n".
func events(first, n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		off := int64(first + i)
		v := fmt.Sprintf(`{"@timestamp":"2025-03-14T10:00:00Z","n":%d,"msg":"event %d"}`, off, off)
		out[i] = event.New("t", 0, off, day, nil, []byte(v))
	}
	return out
}

func asBatchError(t *testing.T, err error) *sinks.BatchError {
	t.Helper()
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *BatchError", err, err)
	}
	return be
}

func asRequestError(t *testing.T, err error) *sinks.RequestError {
	t.Helper()
	var re *sinks.RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *RequestError", err, err)
	}
	return re
}

func TestSendAllDelivered(t *testing.T) {
	f := fake(t, esfake.Options{})
	s := newSink(t, baseConfig(f.URL()))
	batch := events(0, 50)
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	docs := f.Docs("logs-2025.03.14")
	if len(docs) != 50 {
		t.Fatalf("%d docs in logs-2025.03.14, indices %v", len(docs), f.Indices())
	}
	for _, e := range batch {
		if got := docs[e.ID()]; !bytes.Equal(got, e.Doc) {
			t.Errorf("%s: stored %s want %s", e.ID(), got, e.Doc)
		}
	}
	if f.Requests() != 1 {
		t.Errorf("%d requests", f.Requests())
	}
	if err := s.Send(context.Background(), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestDuplicatesAreDelivered(t *testing.T) {
	f := fake(t, esfake.Options{})
	s := newSink(t, baseConfig(f.URL()))
	if err := s.Send(context.Background(), events(0, 20)); err != nil {
		t.Fatal(err)
	}
	// A replay overlapping the first batch: 20 are 409s, 10 are new.
	if err := s.Send(context.Background(), events(0, 30)); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if f.Count() != 30 || f.Duplicates() != 20 {
		t.Errorf("count %d duplicates %d", f.Count(), f.Duplicates())
	}
}

func TestIndexActionOverwrites(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Action = "index"
	s := newSink(t, cfg)
	for range 2 {
		if err := s.Send(context.Background(), events(0, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if f.Count() != 10 || f.Duplicates() != 10 || f.Version("logs-2025.03.14", "t+0+3") != 2 {
		t.Errorf("count %d duplicates %d", f.Count(), f.Duplicates())
	}
}

func TestItem429sAreRetriedAndOnlyThose(t *testing.T) {
	f := fake(t, esfake.Options{Item429Rate: 0.3, Seed: 42})
	s := newSink(t, baseConfig(f.URL()))
	batch := events(0, 200)
	err := s.Send(context.Background(), batch)
	be := asBatchError(t, err)
	if be.Count(sinks.Throttled) != len(be.Items) || sinks.Of(err) != sinks.Delivered {
		t.Errorf("items %+v, want every one throttled", be.Items)
	}
	stored := f.All()
	retry := map[int]bool{}
	for _, it := range be.Items {
		if it.Outcome != sinks.Throttled || it.Status != 429 || !strings.HasPrefix(it.Reason, "es_rejected_execution_exception: ") {
			t.Errorf("item %+v", it)
		}
		retry[it.Index] = true
	}
	for i, e := range batch {
		if _, ok := stored[e.ID()]; ok == retry[i] {
			t.Errorf("event %d: stored %v, retry %v", i, ok, retry[i])
		}
	}
	if len(retry) == 0 || len(retry) == len(batch) {
		t.Fatalf("%d of %d to retry", len(retry), len(batch))
	}
	// The bridge resends what failed until nothing is left.
	pending := batch
	for round := 0; len(pending) > 0; round++ {
		if round > 50 {
			t.Fatal("never converged")
		}
		err := s.Send(context.Background(), pending)
		if err == nil {
			break
		}
		var next []*event.Event
		for _, it := range asBatchError(t, err).Items {
			next = append(next, pending[it.Index])
		}
		pending = next
	}
	if f.Count() != len(batch) {
		t.Errorf("%d stored", f.Count())
	}
}

func TestRejectsAndTooLargeMapBackByPosition(t *testing.T) {
	f := fake(t, esfake.Options{RejectIf: func(doc []byte) (int, string, string) {
		if bytes.Contains(doc, []byte(`"n":3,`)) {
			return 400, "document_parsing_exception", "[1:42] failed to parse field [n] of type [date] in document with id 't+0+3'. " + strings.Repeat("x", 2000)
		}
		return 0, "", ""
	}})
	cfg := baseConfig(f.URL())
	cfg.MaxEventBytes = 200
	s := newSink(t, cfg)
	batch := events(0, 6)
	big := fmt.Sprintf(`{"n":1,"pad":"%s"}`, strings.Repeat("p", 300))
	batch[1] = event.New("t", 0, 1, day, nil, []byte(big))
	err := s.Send(context.Background(), batch)
	be := asBatchError(t, err)
	if len(be.Items) != 2 || be.Count(sinks.Throttled) != 0 {
		t.Fatalf("items %+v", be.Items)
	}
	tooBig, bad := be.Items[0], be.Items[1]
	if tooBig.Index != 1 || tooBig.Outcome != sinks.Reject || tooBig.Status != 413 ||
		tooBig.Reason != fmt.Sprintf("event of %d bytes exceeds max_event_bytes 200", len(big)) {
		t.Errorf("too big: %+v", tooBig)
	}
	if bad.Index != 3 || bad.Outcome != sinks.Reject || bad.Status != 400 ||
		!strings.HasPrefix(bad.Reason, "document_parsing_exception: [1:42] failed to parse field [n]") || len(bad.Reason) > maxReason+len("…") {
		t.Errorf("bad: %+v (len %d)", bad, len(bad.Reason))
	}
	if f.Count() != 4 {
		t.Errorf("%d stored", f.Count())
	}

	// A batch of only too-large events sends nothing.
	before := f.Requests()
	err = s.Send(context.Background(), []*event.Event{batch[1], batch[1]})
	if be := asBatchError(t, err); len(be.Items) != 2 || be.Items[1].Index != 1 || f.Requests() != before {
		t.Errorf("all too large: %v, requests %d", err, f.Requests()-before)
	}
}

func TestWholeRequestFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    esfake.Mode
		timeout time.Duration
		status  int
		want    sinks.Outcome
		retryIn time.Duration
	}{
		{name: "503", mode: esfake.Fail503, status: 503, want: sinks.Unavailable, retryIn: 2 * time.Second},
		{name: "429", mode: esfake.Fail429, status: 429, want: sinks.Throttled, retryIn: 2 * time.Second},
		{name: "reset", mode: esfake.Reset, want: sinks.Retry},
		{name: "refused", mode: esfake.Refuse, want: sinks.Retry},
		{name: "timeout", mode: esfake.Slow(2 * time.Second), timeout: 100 * time.Millisecond, want: sinks.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fake(t, esfake.Options{RetryAfter: 2 * time.Second})
			cfg := baseConfig(f.URL())
			if tc.timeout > 0 {
				cfg.Timeout = tc.timeout
			}
			s := newSink(t, cfg)
			if err := f.SetMode(tc.mode); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := s.Send(context.Background(), events(0, 5))
			re := asRequestError(t, err)
			if re.Status != tc.status || re.RetryAfter != tc.retryIn {
				t.Errorf("%+v", re)
			}
			if sinks.Of(err) != tc.want {
				t.Errorf("outcome %v, want %v", sinks.Of(err), tc.want)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %v", el)
			}
			if err := f.SetMode(esfake.Healthy); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), events(0, 5)); err != nil {
				t.Errorf("after recovery: %v", err)
			}
		})
	}
}

func TestCallerCancelIsNotThrottling(t *testing.T) {
	f := fake(t, esfake.Options{})
	s := newSink(t, baseConfig(f.URL()))
	if err := f.SetMode(esfake.Slow(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	re := asRequestError(t, s.Send(ctx, events(0, 1)))
	if sinks.Of(re) != sinks.Retry || !errors.Is(re, context.DeadlineExceeded) {
		t.Errorf("%+v", re)
	}
}

func TestRequestTooLarge(t *testing.T) {
	f := fake(t, esfake.Options{MaxContentLength: 300})
	s := newSink(t, baseConfig(f.URL()))
	re := asRequestError(t, s.Send(context.Background(), events(0, 5)))
	if re.Status != 413 || sinks.Of(re) != sinks.TooLarge {
		t.Errorf("several events: %+v", re)
	}
	one := []*event.Event{event.New("t", 0, 9, day, nil, []byte(`{"pad":"`+strings.Repeat("x", 400)+`"}`))}
	re = asRequestError(t, s.Send(context.Background(), one))
	if re.Status != 413 || sinks.Of(re) != sinks.Reject {
		t.Errorf("one event: %+v", re)
	}
}

// recorder is a RoundTripper that records request URLs, headers and
// bodies, and response bodies.
type recorder struct {
	rt        http.RoundTripper
	mu        sync.Mutex
	urls      []*url.URL
	headers   []http.Header
	bodies    [][]byte
	responses [][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	r.mu.Lock()
	u := *req.URL
	r.urls = append(r.urls, &u)
	r.headers = append(r.headers, req.Header.Clone())
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	res, err := r.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(rb))
	r.mu.Lock()
	r.responses = append(r.responses, rb)
	r.mu.Unlock()
	return res, nil
}

func newRecorder(t testing.TB) *recorder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &recorder{rt: tr}
}

func TestGzipAndPipeline(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Gzip = true
	cfg.Pipeline = "geoip"
	rec := newRecorder(t)
	s := newSink(t, cfg, WithTransport(rec))
	if err := s.Send(context.Background(), events(0, 3)); err != nil {
		t.Fatal(err)
	}
	if f.Count() != 3 {
		t.Fatalf("%d stored", f.Count())
	}
	h, body := rec.headers[0], rec.bodies[0]
	if h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != compatMediaType || h.Get("Accept") != compatMediaType {
		t.Errorf("headers %v", h)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"create":{"_index":"logs-2025.03.14","_id":"t+0+0","pipeline":"geoip"}}` + "\n"
	if !bytes.HasPrefix(plain, []byte(want)) {
		t.Errorf("body starts %q", plain[:min(len(plain), 120)])
	}
}

func TestAuthHeadersReachServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fopts esfake.Options
		cfg   func(*config.Elasticsearch)
		fatal bool
	}{
		{"api key", esfake.Options{APIKey: "a2V5OnNlY3JldA=="}, func(c *config.Elasticsearch) { c.APIKey = "a2V5OnNlY3JldA==" }, false},
		{"basic", esfake.Options{Username: "elastic", Password: "changeme"}, func(c *config.Elasticsearch) {
			c.Username, c.Password = "elastic", "changeme"
		}, false},
		{"wrong password", esfake.Options{Username: "elastic", Password: "changeme"}, func(c *config.Elasticsearch) {
			c.Username, c.Password = "elastic", "nope"
		}, true},
		{"no credentials", esfake.Options{APIKey: "k"}, func(*config.Elasticsearch) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fake(t, tc.fopts)
			cfg := baseConfig(f.URL())
			tc.cfg(&cfg)
			s := newSink(t, cfg)
			err := s.Send(context.Background(), events(0, 2))
			perr := s.Probe(context.Background())
			if !tc.fatal {
				if err != nil || perr != nil {
					t.Fatalf("send %v probe %v", err, perr)
				}
				return
			}
			re := asRequestError(t, err)
			if re.Outcome != sinks.Fatal || re.Status != 401 || sinks.Of(perr) != sinks.Fatal || !strings.Contains(re.Error(), "security_exception") {
				t.Errorf("send %+v probe %v", re, perr)
			}
			if f.Count() != 0 {
				t.Errorf("%d stored", f.Count())
			}
		})
	}
}

func TestProductCheck(t *testing.T) {
	f := fake(t, esfake.Options{OmitProductHeader: true})
	s := newSink(t, baseConfig(f.URL()))
	if err := s.Probe(context.Background()); sinks.Of(err) != sinks.Fatal {
		t.Errorf("probe: %v", err)
	}
	if err := s.Send(context.Background(), events(0, 1)); sinks.Of(err) != sinks.Fatal {
		t.Errorf("send: %v", err)
	}
}

func TestProbe(t *testing.T) {
	f := fake(t, esfake.Options{})
	s := newSink(t, baseConfig(f.URL()))
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode esfake.Mode
		want sinks.Outcome
	}{{esfake.Fail503, sinks.Unavailable}, {esfake.Refuse, sinks.Retry}, {esfake.Reset, sinks.Retry}} {
		if err := f.SetMode(tc.mode); err != nil {
			t.Fatal(err)
		}
		err := s.Probe(context.Background())
		re := asRequestError(t, err)
		if sinks.Of(re) != tc.want {
			t.Errorf("%v: %+v, want %v", tc.mode, re, tc.want)
		}
	}
}

// cannedTransport answers every request with a fixed bulk body.
type cannedTransport struct {
	status int
	body   []byte
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status,
		Header:     http.Header{"X-Elastic-Product": {"Elasticsearch"}, "Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(c.body)),
		Request:    req,
	}, nil
}

func TestResponseNotMatchingTheBatchIsRetried(t *testing.T) {
	for name, body := range map[string]string{
		"too few items":   `{"took":1,"errors":false,"items":[{"create":{"status":201}}]}`,
		"too many items":  `{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":201}},{"create":{"status":400}}]}`,
		"garbage":         `<html>proxy error</html>`,
		"truncated":       `{"took":1,"errors":false,"items":[{"create":{"status":201}},{"create":{"sta`,
		"no errors field": `{"took":1,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newSink(t, baseConfig("http://127.0.0.1:1"), WithTransport(cannedTransport{200, []byte(body)}))
			err := s.Send(context.Background(), events(0, 2))
			re := asRequestError(t, err)
			if sinks.Of(err) != sinks.Retry {
				t.Errorf("%+v", re)
			}
		})
	}
}

func TestOtherRequestStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   sinks.Outcome
	}{
		{400, sinks.Fatal}, {404, sinks.Fatal}, {403, sinks.Fatal}, {500, sinks.Retry}, {502, sinks.Retry}, {408, sinks.Retry},
	} {
		body := `{"error":{"root_cause":[],"type":"x_exception","reason":"why"},"status":` + fmt.Sprint(tc.status) + `}`
		s := newSink(t, baseConfig("http://127.0.0.1:1"), WithTransport(cannedTransport{tc.status, []byte(body)}))
		re := asRequestError(t, s.Send(context.Background(), events(0, 2)))
		if re.Status != tc.status || sinks.Of(re) != tc.want || !strings.Contains(re.Error(), "x_exception: why") {
			t.Errorf("%d: %+v", tc.status, re)
		}
	}
}

func TestConcurrentSends(t *testing.T) {
	f := fake(t, esfake.Options{DiscardSources: true})
	s := newSink(t, baseConfig(f.URL()))
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				if err := s.Send(context.Background(), events(g*10000+b*100, 100)); err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 || f.Count() != 8000 {
		t.Errorf("failures %d count %d", failures.Load(), f.Count())
	}
}

func TestClosed(t *testing.T) {
	f := fake(t, esfake.Options{})
	s, err := New(baseConfig(f.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), events(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := s.Send(context.Background(), events(0, 1)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	// What config.Validate checks, New does not check again; what it
	// cannot know is New's to find.
	for name, tc := range map[string]struct {
		mod  func(*config.Elasticsearch)
		opts []Option
	}{
		"no ca file":                    {func(c *config.Elasticsearch) { c.CAFile = "/nonexistent/ca.pem" }, nil},
		"ca_file, custom transport":     {func(c *config.Elasticsearch) { c.InsecureSkipVerify = true }, []Option{WithTransport(cannedTransport{200, nil})}},
		"index template does not parse": {func(c *config.Elasticsearch) { c.Index = "x-%{+yyyy" }, nil},
	} {
		cfg := baseConfig("http://127.0.0.1:9200")
		tc.mod(&cfg)
		if s, err := New(cfg, tc.opts...); err == nil {
			_ = s.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	s := newSink(t, baseConfig("http://127.0.0.1:1"))
	e := event.New("topic.a-b_c", 3, 12345, day, nil, []byte("{\n  \"a\": \"x\\ny\",\n  \"b\": 1\n}"))
	var b sendBuf
	got := string(s.appendEvent(nil, &b, e))
	want := `{"create":{"_index":"logs-2025.03.14","_id":"topic.a-b_c+3+12345"}}` + "\n" +
		`{   "a": "x\ny",   "b": 1 }` + "\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid line %q", l)
		}
	}
}

func TestAppendIDMatchesEventID(t *testing.T) {
	for _, e := range []*event.Event{
		{Topic: "logs", Partition: 0, Offset: 0},
		{Topic: "a.b-c_D9", Partition: 2147483647, Offset: 9223372036854775807},
		{Topic: "neg", Partition: -1, Offset: -1},
		{Topic: `we"ird\topic`, Partition: 1, Offset: 2},
	} {
		got := appendID(nil, e)
		want, _ := json.Marshal(e.ID())
		if !bytes.Equal(got, want) {
			t.Errorf("appendID = %s, want %s", got, want)
		}
	}
}

// The request asks for the filtered response, and gets it from the fake
// as from Elasticsearch.
func TestBulkRequestAsksForFilteredResponse(t *testing.T) {
	f := fake(t, esfake.Options{})
	rec := newRecorder(t)
	s := newSink(t, baseConfig(f.URL()), WithTransport(rec))
	if err := s.Send(context.Background(), events(0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), events(2, 2)); err != nil { // t+0+2 again: a 409
		t.Fatal(err)
	}
	u := rec.urls[0]
	if u.Path != "/_bulk" || u.Query().Get("filter_path") != "errors,items.*.status,items.*.error.type,items.*.error.reason,error" {
		t.Errorf("request URL %s", u)
	}
	if got, want := string(rec.responses[0]), `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}},{"create":{"status":201}}]}`; got != want {
		t.Errorf("response %s\nwant %s", got, want)
	}
	if got, want := string(rec.responses[1]), `{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception",`+
		`"reason":"[t+0+2]: version conflict, document already exists (current version [1])"}}},{"create":{"status":201}}]}`; got != want {
		t.Errorf("response %s\nwant %s", got, want)
	}
	if f.Count() != 4 {
		t.Errorf("%d stored", f.Count())
	}
}

// A server (or proxy) that ignores filter_path answers in full; the sink
// reads that the same way: duplicates, 429s to retry and rejects.
func TestUnfilteredResponses(t *testing.T) {
	f := fake(t, esfake.Options{IgnoreFilterPath: true, Item429Rate: 0.3, Seed: 9, RejectIf: func(doc []byte) (int, string, string) {
		if bytes.Contains(doc, []byte(`"n":5,`)) {
			return 400, "mapper_parsing_exception", "failed to parse field [n]"
		}
		return 0, "", ""
	}})
	rec := newRecorder(t)
	s := newSink(t, baseConfig(f.URL()), WithTransport(rec))
	batch := events(0, 100)
	pending, rejected := batch, 0
	for round := 0; len(pending) > 0; round++ {
		if round > 50 {
			t.Fatal("never converged")
		}
		err := s.Send(context.Background(), pending)
		if err == nil {
			break
		}
		var next []*event.Event
		for _, it := range asBatchError(t, err).Items {
			switch {
			case it.Outcome == sinks.Throttled && it.Status == 429 && strings.HasPrefix(it.Reason, "es_rejected_execution_exception: "):
				next = append(next, pending[it.Index])
			case it.Outcome == sinks.Reject && it.Status == 400 && it.Reason == "mapper_parsing_exception: failed to parse field [n]":
				rejected++
			default:
				t.Fatalf("item %+v", it)
			}
		}
		pending = next
	}
	if rejected != 1 || f.Count() != 99 {
		t.Errorf("rejected %d, stored %d", rejected, f.Count())
	}
	// A replay: 409s, delivered; only injected 429s and the reject (never
	// stored) come back.
	dups := f.Duplicates()
	if err := s.Send(context.Background(), batch[:20]); err != nil {
		for _, it := range asBatchError(t, err).Items {
			if it.Status != 429 && (it.Index != 5 || it.Status != 400) {
				t.Errorf("replay: %+v", it)
			}
		}
	}
	if f.Duplicates() == dups {
		t.Error("replay: no 409")
	}
	for i, r := range rec.responses {
		if !bytes.Contains(r, []byte(`"_index"`)) {
			t.Fatalf("response %d is filtered: %.200s", i, r)
		}
	}
}

// TestSizeBody: the body of a request is allocated once, with room for
// every action line and document, whatever the index name, the pipeline
// and the document sizes; appending the batch never grows it.
func TestSizeBody(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name     string
		index    string
		pipeline string
		docBytes []int
	}{
		{"small documents", "logs-%{+yyyy.MM.dd}", "", []int{10, 20, 30}},
		{"one large document", "logs", "", []int{1 << 16}},
		{"a long index name and a pipeline", "logs-" + long + "-%{+yyyy.MM.dd}", "geoip-" + long, []int{5, 5, 5, 5, 5, 5, 5, 5}},
		{"empty documents", "i", "", []int{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig("http://127.0.0.1:1")
			cfg.Index, cfg.Pipeline = tc.index, tc.pipeline
			s := newSink(t, cfg)
			batch := make([]*event.Event, len(tc.docBytes))
			for i, n := range tc.docBytes {
				doc := fmt.Sprintf(`{"@timestamp":"2025-03-14T10:00:00Z","p":%q}`, strings.Repeat("a", n))
				batch[i] = event.New("topic-"+long, 3, int64(1e12+i), day, nil, []byte(doc))
			}
			var b sendBuf
			body := s.sizeBody(nil, &b, batch)
			c := cap(body)
			for _, e := range batch {
				body = s.appendEvent(body, &b, e)
			}
			if cap(body) != c {
				t.Errorf("the body grew from %d to %d bytes (%d used)", c, cap(body), len(body))
			}
			if again := s.sizeBody(body[:0], &b, batch); cap(again) != c {
				t.Errorf("a body large enough was replaced: capacity %d, want %d", cap(again), c)
			}
		})
	}
}

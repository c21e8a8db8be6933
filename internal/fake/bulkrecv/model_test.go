package bulkrecv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/filterpath"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/elasticsearch"
)

// fakeClock moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{at: f.now.Add(d), c: make(chan time.Time, 1)}
	f.timers = append(f.timers, t)
	return t.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the clock by d and fires the timers due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		switch {
		case t.stopped:
		case !t.at.After(f.now):
			t.stopped = true
			t.c <- f.now
		default:
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

// pending is the number of timers not fired or stopped.
func (f *fakeClock) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// items answers body and returns each item's action, status and error
// type, in order, with the response's "errors".
func items(t *testing.T, h http.Handler, body string) (got []string, errs bool) {
	t.Helper()
	res, b := post(t, h, "/_bulk", body, false)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	var br bulkResponse
	if err := json.Unmarshal(b, &br); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, it := range br.Items {
		for action, v := range it {
			s := action + " " + string(v["status"])
			if e := v["error"]; e != nil {
				var ee struct{ Type string }
				_ = json.Unmarshal(e, &ee)
				s += " " + ee.Type
			}
			got = append(got, s)
		}
	}
	return got, br.Errors
}

func bulkBody(action, index string, ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{%q:{\"_index\":%q,\"_id\":%q}}\n", action, index, id)
		if action != "delete" {
			b.WriteString(`{"message":"hello"}` + "\n")
		}
	}
	return b.String()
}

// The model keeps _ids per index: a second create is a 409, index
// overwrites, update and delete see what is there, a source that is not
// JSON is a 400.
func TestModelIDs(t *testing.T) {
	m := NewModel(ModelOptions{})
	check := func(body string, wantErrs bool, want ...string) {
		t.Helper()
		got, errs := items(t, m, body)
		if strings.Join(got, "|") != strings.Join(want, "|") || errs != wantErrs {
			t.Errorf("got %q (errors %v), want %q (errors %v)", got, errs, want, wantErrs)
		}
	}
	check(bulkBody("create", "i", "a", "b"), false, "create 201", "create 201")
	check(bulkBody("create", "i", "a", "c"), true, "create 409 version_conflict_engine_exception", "create 201")
	check(bulkBody("create", "j", "a"), false, "create 201") // another index
	check(bulkBody("index", "i", "a", "d"), false, "index 200", "index 201")
	check(bulkBody("update", "i", "a", "zz"), true, "update 200", "update 404 document_missing_exception")
	check(bulkBody("delete", "i", "b", "b"), true, "delete 200", "delete 404")
	check(bulkBody("create", "i", "b"), false, "create 201") // deleted, so new again
	check("{\"create\":{\"_index\":\"i\",\"_id\":\"e\"}}\n{\"message\":\n", true, "create 400 document_parsing_exception")
	check("{\"create\":{\"_index\":\"i\"}}\n{}\n{\"index\":{\"_index\":\"i\"}}\n{}\n", false, "create 201", "index 201")
	check("{\"create\":{\"_id\":\"x\"}}\n{}\n", true, "create 400 action_request_validation_exception")

	st := m.Stats()
	// a b c a(j) d b and two made-up _ids.
	if st.Created != 8 || st.Conflicts != 1 || st.Rejected != 0 || st.Failed != 4 || st.Requests != 10 || st.Items != 16 {
		t.Errorf("stats %+v", st)
	}
	for _, body := range []string{"", "{\"create\":{}}\n{}", "[1]\n{}\n", "{\"nope\":{}}\n{}\n", "{\"create\":{},\"index\":{}}\n{}\n", "{\"create\":{\"_index\":\"i\"}}\n"} {
		res, b := post(t, m, "/_bulk", body, false)
		if res.StatusCode != 400 || !json.Valid(b) {
			t.Errorf("%q: status %d: %s", body, res.StatusCode, b)
		}
	}
	m.Reset()
	check(bulkBody("create", "i", "a"), false, "create 201")
	if st := m.Stats(); st.Created != 1 || st.Requests != 1 {
		t.Errorf("after Reset: %+v", st)
	}
}

// Above capacity items are answered 429 inside a 200 and not indexed; the
// bucket refills at Capacity up to Burst.
func TestModelCapacity(t *testing.T) {
	clk := newFakeClock()
	m := NewModel(ModelOptions{Capacity: 1000, Burst: 500, Clock: clk})
	ids := func(from, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint(from + i)
		}
		return out
	}
	count := func(got []string) (created, rejected int) {
		for _, s := range got {
			switch s {
			case "create 201":
				created++
			case "create 429 es_rejected_execution_exception":
				rejected++
			default:
				t.Errorf("item %q", s)
			}
		}
		return created, rejected
	}
	for _, step := range []struct {
		advance                 time.Duration
		from, n                 int
		wantCreated, wantReject int
	}{
		{0, 0, 1000, 500, 500},                         // a full bucket holds the burst
		{0, 1000, 10, 0, 10},                           // and it is empty now
		{250 * time.Millisecond, 1000, 1000, 250, 750}, // a quarter second refills 250
		{time.Hour, 2000, 1000, 500, 500},              // never more than the burst
		{time.Millisecond, 3000, 1, 1, 0},
	} {
		clk.Advance(step.advance)
		got, errs := items(t, m, bulkBody("create", "i", ids(step.from, step.n)...))
		c, r := count(got)
		if c != step.wantCreated || r != step.wantReject || errs != (r > 0) {
			t.Errorf("after %v, %d items: %d created, %d rejected (errors %v); want %d and %d",
				step.advance, step.n, c, r, errs, step.wantCreated, step.wantReject)
		}
	}
	// Refused items were not indexed: 1000..1009, refused in step 2, were
	// created in step 3, and 1250 is new.
	clk.Advance(time.Second)
	got, _ := items(t, m, bulkBody("create", "i", "0", "1249", "1250"))
	if want := "create 409 version_conflict_engine_exception|create 409 version_conflict_engine_exception|create 201"; strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if st := m.Stats(); st.Created != 500+250+500+1+1 || st.Rejected != 500+10+750+500 || st.Conflicts != 2 {
		t.Errorf("stats %+v", st)
	}

	// The default burst is one second of capacity.
	m = NewModel(ModelOptions{Capacity: 300, Clock: clk})
	got, _ = items(t, m, bulkBody("create", "i", ids(0, 400)...))
	if c, r := count(got); c != 300 || r != 100 {
		t.Errorf("default burst: %d created, %d rejected", c, r)
	}
}

// The answer waits Latency on the clock, and waits hold no handler
// goroutine back from others.
func TestModelLatency(t *testing.T) {
	clk := newFakeClock()
	m := NewModel(ModelOptions{Latency: 100 * time.Millisecond, Clock: clk})
	const n = 20
	var wg sync.WaitGroup
	done := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			post(t, m, "/_bulk", bulkBody("create", "i", fmt.Sprint(i)), false)
			done <- struct{}{}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for clk.pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests waiting", clk.pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("an answer came before the latency passed")
	default:
	}
	clk.Advance(99 * time.Millisecond)
	if len(done) != 0 {
		t.Fatal("an answer came early")
	}
	clk.Advance(time.Millisecond)
	wg.Wait()
	if st := m.Stats(); st.Created != n {
		t.Errorf("stats %+v", st)
	}

	// On the real clock: many requests wait at once.
	srv, err := ListenModel(ModelOptions{Latency: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	start := time.Now()
	for i := range 50 {
		wg.Go(func() {
			res, err := http.Post(srv.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(bulkBody("create", "i", fmt.Sprint(i))))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
		})
	}
	wg.Wait()
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("50 requests of 200 ms at once took %v", el)
	}
}

// An outage refuses connections at the same address until it ends.
func TestModelOutage(t *testing.T) {
	clk := newFakeClock()
	srv, err := ListenModel(ModelOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	send := func(id string) error {
		res, err := client.Post(srv.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(bulkBody("create", "i", id)))
		if err != nil {
			return err
		}
		return res.Body.Close()
	}
	if err := send("a"); err != nil {
		t.Fatal(err)
	}
	back, err := srv.Outage(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := send("b"); err == nil {
		t.Fatal("a request went through during the outage")
	}
	clk.Advance(19 * time.Second)
	select {
	case <-back:
		t.Fatal("back before the outage ended")
	default:
	}
	clk.Advance(time.Second)
	<-back
	if err := send("b"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if st := srv.Stats(); st.Created != 2 {
		t.Errorf("stats %+v", st)
	}
	// Refuse switches at once and ends a pending outage.
	if _, err := srv.Outage(time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := srv.Refuse(false); err != nil {
		t.Fatal(err)
	}
	if err := send("c"); err != nil {
		t.Fatalf("after Refuse(false): %v", err)
	}
}

// The Elasticsearch sink reads the model's answers: a replay's 409 is
// delivered, an item 429 is throttled.
func TestModelWithSink(t *testing.T) {
	clk := newFakeClock()
	srv, err := ListenModel(ModelOptions{Capacity: 100, Burst: 60, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := elasticsearch.New(config.Elasticsearch{
		URLs: []string{srv.URL()}, Index: "bench-%{+yyyy.MM.dd}", Action: "create",
		Timeout: 5 * time.Second, MaxEventBytes: 1 << 20,
	}, elasticsearch.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	batch := make([]*event.Event, 50)
	for i := range batch {
		batch[i] = event.New("t", 0, int64(i), time.Now(), nil, []byte(`{"message":"hello"}`))
	}
	if err := s.Send(ctx, batch); err != nil {
		t.Fatalf("send: %v", err)
	}
	// The same events again: 409s, which the sink counts as delivered;
	// only 10 tokens are left, so 40 are throttled.
	err = s.Send(ctx, batch)
	var be *sinks.BatchError
	if !errors.As(err, &be) || be.Count(sinks.Throttled) != 40 || len(be.Items) != 40 {
		t.Fatalf("send over capacity: %v", err)
	}
	clk.Advance(time.Second)
	if err := s.Send(ctx, batch); err != nil {
		t.Fatalf("send again: %v", err)
	}
	if st := srv.Stats(); st.Created != 50 || st.Conflicts != 60 || st.Rejected != 40 {
		t.Errorf("stats %+v", st)
	}
}

// modelBody has every kind of item the model answers, against a model
// that already holds i/have.
const modelBody = `{"create":{"_index":"i","_id":"new"}}
{"a":1}
{"create":{"_index":"i","_id":"have"}}
{"a":1}
{"index":{"_index":"i","_id":"have"}}
{"a":1}
{"update":{"_index":"i","_id":"have"}}
{"doc":{}}
{"update":{"_index":"i","_id":"nope"}}
{"doc":{}}
{"delete":{"_index":"i","_id":"nope"}}
{"create":{"_index":"i","_id":"bad"}}
{"a":
{"create":{"_id":"x\"y"}}
{}
{"delete":{"_index":"i","_id":"have"}}
{"create":{"_index":"i","_id":"late"}}
{"a":1}
`

// The model's answers go through the same plans as the receiver's: what a
// filter keeps is what internal/filterpath keeps of the full answer.
func TestModelFilterPlan(t *testing.T) {
	answer := func(filter string) []byte {
		m := NewModel(ModelOptions{Capacity: 1, Burst: 10, Clock: newFakeClock()})
		items(t, m, bulkBody("create", "i", "have"))
		path := "/_bulk"
		if filter != "" {
			path += "?filter_path=" + filter
		}
		res, b := post(t, m, path, modelBody, false)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", filter, res.StatusCode, b)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatalf("%s: %v: %s", filter, err, b)
		}
		return c.Bytes()
	}
	full := answer("")
	// Every kind: created, conflict, updated, doc missing, not found,
	// invalid, missing index, deleted, rejected (the tenth item).
	for _, want := range []string{`"status":201`, `"status":409`, `"status":200`, `"document_missing_exception"`, `"result":"not_found"`,
		`"document_parsing_exception"`, `"action_request_validation_exception"`, `"result":"deleted"`, `"status":429`, `"errors":true`, `"_id":"x\"y"`} {
		if !bytes.Contains(full, []byte(want)) {
			t.Errorf("answer lacks %s: %s", want, full)
		}
	}
	for _, filter := range []string{
		"errors,items.*.status,items.*.error.type,items.*.error.reason,error",
		"items.*.error", "items.create._id", "**.type", "took", "items.*._version,items.*.result",
	} {
		f, err := filterpath.Parse(filter)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.Append(nil, full)
		if err != nil {
			t.Fatal(err)
		}
		if got := answer(filter); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", filter, got, want)
		}
	}
}

// BenchmarkModel: one request of 1000 generated-size creates, each a new
// _id, as the sink asks for them.
func BenchmarkModel(b *testing.B) {
	doc := `{"@timestamp":"2026-01-02T03:04:05Z","event":{"kind":"event","category":["network"],"action":"connection"},` +
		`"source":{"ip":"10.1.2.3","port":51234},"destination":{"ip":"192.0.2.7","port":443},"host":{"name":"web-17"},` +
		`"message":"` + strings.Repeat("x", 420) + `"}`
	m := NewModel(ModelOptions{})
	pl, err := m.plans.get("filter_path=" + elasticsearch.FilterPath)
	if err != nil {
		b.Fatal(err)
	}
	var body []byte
	var its []modelItem
	var out, scratch []byte
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		body = body[:0]
		for range 1000 {
			body = fmt.Appendf(body, "{\"create\":{\"_index\":\"siembridge-2026.01.02\",\"_id\":\"bench-events+0+%d\"}}\n%s\n", n, doc)
			n++
		}
		b.StartTimer()
		var problem string
		its, problem = parseItems(its[:0], body, "")
		if problem != "" {
			b.Fatal(problem)
		}
		out, scratch = m.answer(out[:0], scratch, its, len(its), pl)
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "docs/s")
}

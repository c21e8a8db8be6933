package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// soarFake is a SOAR webhook that answers 503 for its first second, then
// 429 with Retry-After: 1 for a few requests, then 200, except for one
// event it always refuses with 400.
type soarFake struct {
	badSeq int64

	mu        sync.Mutex
	first     time.Time
	got       map[int64]int // seq → accepted deliveries
	answered  map[int]int   // status → count
	heads     int
	badHeader int
	n429      int
}

func (f *soarFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer soar-t0ken" || r.Header.Get("Content-Type") != "application/json" {
		f.badHeader++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodHead {
		f.heads++
	}
	if f.first.IsZero() {
		f.first = time.Now()
	}
	status := http.StatusOK
	switch {
	case time.Since(f.first) < time.Second:
		status = http.StatusServiceUnavailable
	case f.n429 < 5:
		f.n429++
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	seq, ok := gen.Seq(body)
	if status == http.StatusOK && (!ok || r.Method != http.MethodPost) {
		status = http.StatusBadRequest
	}
	if status == http.StatusOK && seq == f.badSeq {
		status = http.StatusBadRequest
		w.Header().Set("Content-Type", "application/json")
		f.answered[status]++
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"message":"invalid artifact: cef field too long"}`)
		return
	}
	f.answered[status]++
	if status == http.StatusOK {
		f.got[seq]++
	}
	w.WriteHeader(status)
}

// TestWebhookFilterAndFailures sends the failed logons of 2000 generated
// events to a SOAR webhook that first fails (503, then 429 with
// Retry-After) and rejects one event with 400. Every selected event must
// arrive, no other event may, the rejected one must be in the dead-letter
// topic with its headers, and the group must commit the log end.
//
// internal/gen produces no event.kind "alert" (every event is kind
// "event"), so the filter selects on event.action instead.
func TestWebhookFilterAndFailures(t *testing.T) {
	const (
		topic      = "events"
		dlq        = "events-dlq"
		partitions = 4
		n          = 2000
	)
	cluster := startCluster(t, partitions, topic, dlq)

	// Which events the filter selects, from the generator itself.
	g := gen.New(7)
	want := map[int64]bool{}
	badSeq := int64(-1)
	for seq := int64(1); seq <= n; seq++ {
		if a, _ := event.Field(g.Next(seq, time.Now()), "event.action"); a == "logon-failed" {
			want[seq] = true
			if badSeq < 0 && seq > 100 {
				badSeq = seq
			}
		}
	}
	if len(want) < 100 || badSeq < 0 {
		t.Fatalf("only %d selected events; the generator changed", len(want))
	}

	soar := &soarFake{badSeq: badSeq, got: map[int64]int{}, answered: map[int]int{}}
	srv := httptest.NewServer(soar)
	t.Cleanup(srv.Close)

	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: soar
    topics: [%q]
    start: oldest
    sink:
      type: webhook
      url: %q
      headers:
        Authorization: "Bearer soar-t0ken"
      filter:
        field: event.action
        equals: [logon-failed]
      timeout: 5s
    batch: {max_events: 200, max_bytes: 2MiB, max_wait: 100ms}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 2s}
    breaker: {failures: 3, max_probe_interval: 300ms}
    commit_interval: 200ms
shutdown_timeout: 10s
`, cluster.Brokers()[0], topic, srv.URL+"/rest/container", dlq))
	b, stop := runBridge(t, cfg)

	waitFor(t, 90*time.Second, "every event delivered, filtered or dead-lettered", func() bool {
		rs := b.Stats().Routes[0]
		return rs.Delivered+rs.DeadLettered+rs.Filtered >= n
	})
	rs := b.Stats().Routes[0]
	stop()
	// Events the filter skips are done without costing rate budget.
	if rs.Filtered != int64(n-len(want)) {
		t.Errorf("filtered %d events, want %d", rs.Filtered, n-len(want))
	}

	soar.mu.Lock()
	got, answered, heads, badHeader := soar.got, soar.answered, soar.heads, soar.badHeader
	soar.mu.Unlock()
	t.Logf("answers %v, %d probes, delivered %d, retried %d", answered, heads, rs.Delivered, rs.Retried)
	if badHeader != 0 {
		t.Errorf("%d requests without the configured headers", badHeader)
	}
	if answered[503] == 0 || answered[429] == 0 {
		t.Errorf("the failure phases did not happen: %v", answered)
	}
	if rs.DeadLettered != 1 {
		t.Errorf("dead-lettered %d, want 1", rs.DeadLettered)
	}
	for seq := range want {
		if seq != badSeq && got[seq] == 0 {
			t.Errorf("selected seq %d never arrived", seq)
		}
	}
	for seq := range got {
		if !want[seq] {
			t.Errorf("seq %d arrived but the filter does not select it", seq)
		}
	}
	if got[badSeq] != 0 {
		t.Errorf("the rejected seq %d was accepted", badSeq)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, cluster.Brokers(), dlq)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(recs))
	}
	m := recs[0]
	if s, _ := gen.Seq(m.Value); s != badSeq {
		t.Errorf("dead-lettered seq %d, want %d", s, badSeq)
	}
	h := map[string]string{}
	for _, rh := range m.Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	wantPart := strconv.FormatInt(badSeq%partitions, 10)
	if h[deliver.HeaderTopic] != topic || h[deliver.HeaderSink] != "webhook" || h[deliver.HeaderRoute] != "soar" ||
		h[deliver.HeaderStatus] != "400" || h[deliver.HeaderPartition] != wantPart || h[deliver.HeaderOffset] == "" {
		t.Errorf("dead-letter headers %v", h)
	}
	if !strings.Contains(h[deliver.HeaderReason], "invalid artifact") {
		t.Errorf("reason %q lacks the response body", h[deliver.HeaderReason])
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-soar", topic)
}

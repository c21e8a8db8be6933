package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

const badField = "bad_mapping"

// TestEveryEventOnce produces 100000 events with sequence numbers, some of
// them raw text and some rejected by the SIEM's mapping, into a sink that
// answers 2 % of items with 429. Every event must end up exactly once in
// the sink (by _id) or in the dead-letter topic, with headers naming where
// it came from, and the group must have committed the log end.
func TestEveryEventOnce(t *testing.T) {
	const (
		topic      = "events"
		dlq        = "events-dlq"
		partitions = 4
		n          = 100000
	)
	cluster := startCluster(t, partitions, topic, dlq)
	es := startES(t, esfake.Options{
		Item429Rate: 0.02,
		Seed:        3,
		RejectIf: func(doc []byte) (int, string, string) {
			if _, ok := event.Field(doc, badField); ok {
				return 400, "document_parsing_exception", "failed to parse field [" + badField + "] of type [long]"
			}
			return 0, "", ""
		},
	})
	isBad := func(seq int64) bool { return seq%997 == 0 }
	isRaw := func(seq int64) bool { return seq%1009 == 0 }
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, func(seq int64, doc []byte) []byte {
		switch {
		case isBad(seq):
			return append(append(doc[:len(doc)-1:len(doc)-1], `,"`+badField+`":"x"`...), '}')
		case isRaw(seq):
			return fmt.Appendf(nil, "CEF:0|Vendor|FW|1.0|100|deny|5|src=10.0.0.1 dst=10.0.0.2 seq=%d", seq)
		}
		return doc
	})

	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), dlq, ""))
	b, stop := runBridge(t, cfg)
	var bad int64
	for s := int64(1); s <= n; s++ {
		if isBad(s) {
			bad++
		}
	}
	waitFor(t, 120*time.Second, "every event delivered or dead-lettered", func() bool {
		rs := b.Stats().Routes[0]
		return rs.Delivered+rs.DeadLettered >= n
	})
	rs := b.Stats().Routes[0]
	stop()

	if rs.DeadLettered != bad {
		t.Errorf("dead-lettered %d, want %d", rs.DeadLettered, bad)
	}
	if rs.Retried == 0 {
		t.Errorf("no retries counted although 2%% of items got 429")
	}
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		c := got[s]
		switch {
		case isBad(s) && c != 0:
			t.Errorf("seq %d was rejected by the mapping but is in the sink", s)
		case !isBad(s) && c != 1:
			t.Errorf("seq %d is in the sink %d times, want once", s, c)
		}
	}
	if want := n - int(bad); es.Count() != want {
		t.Errorf("sink holds %d documents, want %d", es.Count(), want)
	}
	// Raw values arrive wrapped, with their Kafka coordinates, under the
	// deterministic ID of those coordinates.
	wrapped := 0
	for id, doc := range es.All() {
		off, ok := event.Field(doc, "kafka.offset")
		if !ok {
			continue
		}
		wrapped++
		if want := topic + "+" + mustField(t, doc, "kafka.partition") + "+" + off; id != want {
			t.Errorf("wrapped document has ID %s, want %s", id, want)
		}
		msg := mustField(t, doc, "message")
		if orig := mustField(t, doc, "event.original"); orig != msg || !strings.HasPrefix(msg, "CEF:0|") {
			t.Errorf("wrapped document %s: message %q, event.original %q", id, msg, orig)
		}
	}
	var raw int
	for s := int64(1); s <= n; s++ {
		if isRaw(s) && !isBad(s) {
			raw++
		}
	}
	if wrapped != raw {
		t.Errorf("%d wrapped documents in the sink, want %d", wrapped, raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, cluster.Brokers(), dlq)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(recs)) != bad {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(recs), bad)
	}
	inDLQ := map[int64]bool{}
	for _, m := range recs {
		if s, ok := gen.Seq(m.Value); ok {
			inDLQ[s] = true
		}
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		if h[deliver.HeaderTopic] != topic || h[deliver.HeaderSink] != "elasticsearch" || h[deliver.HeaderStatus] != "400" || h[deliver.HeaderRoute] != "elastic" {
			t.Errorf("dead-letter headers %v", h)
		}
		if h[deliver.HeaderReason] == "" {
			t.Errorf("dead-letter record without a reason: %v", h)
		}
		p, _ := strconv.Atoi(h[deliver.HeaderPartition])
		off, _ := strconv.ParseInt(h[deliver.HeaderOffset], 10, 64)
		// The record's value is the original one, found at the named offset.
		if _, ok := event.Field(m.Value, badField); !ok {
			t.Errorf("dead-letter value is not the rejected event (partition %d offset %d)", p, off)
		}
	}
	for s := int64(1); s <= n; s++ {
		if isBad(s) != inDLQ[s] {
			t.Errorf("seq %d: rejected=%v but in the dead-letter topic=%v", s, isBad(s), inDLQ[s])
		}
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
}

func mustField(t testing.TB, doc []byte, path string) string {
	t.Helper()
	v, ok := event.Field(doc, path)
	if !ok {
		t.Fatalf("document has no %s: %.200s", path, doc)
	}
	return v
}

// TestSplitsBatchOnRequestTooLarge: the sink (or a proxy in front of it)
// refuses bodies over 256 KiB with 413 while batches are ~700 KiB. The
// bridge splits batches until they fit, in order; the one event that alone
// is over the limit goes to the dead-letter topic with status 413.
func TestSplitsBatchOnRequestTooLarge(t *testing.T) {
	const (
		topic = "events"
		dlq   = "events-dlq"
		n     = 5000
		huge  = 2500
	)
	cluster := startCluster(t, 2, topic, dlq)
	es := startES(t, esfake.Options{MaxContentLength: 256 << 10})
	produceSeq(t, cluster.Brokers(), topic, 2, 1, n, func(seq int64, doc []byte) []byte {
		if seq == huge {
			pad := strings.Repeat("x", 300<<10)
			return append(append(doc[:len(doc)-1:len(doc)-1], `,"pad":"`+pad+`"`...), '}')
		}
		return doc
	})
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), dlq, ""))
	cfg.Routes[0].Batch.MaxEvents = 1000
	b, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "every event delivered or dead-lettered", func() bool {
		rs := b.Stats().Routes[0]
		return rs.Delivered+rs.DeadLettered >= n
	})
	rs := b.Stats().Routes[0]
	stop()
	if rs.DeadLettered != 1 {
		t.Errorf("dead-lettered %d, want only the oversized event", rs.DeadLettered)
	}
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		if want := map[bool]int{true: 0, false: 1}[s == huge]; got[s] != want {
			t.Fatalf("seq %d is in the sink %d times, want %d", s, got[s], want)
		}
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
	for _, h := range recs[0].Headers {
		if string(h.Key) == deliver.HeaderStatus && string(h.Value) != "413" {
			t.Errorf("dead-letter status %s, want 413", h.Value)
		}
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
}

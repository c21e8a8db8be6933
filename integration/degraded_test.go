package integration

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// TestItemLevelSinkProblemsAreHeldNotDeadLettered: for a while the cluster
// answers every _bulk item with an error that is about the cluster, not
// the document (an API key without create_doc, a missing index with
// auto-create off, a read-only block), as an admin fixes it. Nothing may
// go to the dead-letter topic; the sink is reported degraded with the
// reason and the bridge is not ready meanwhile; once fixed, every event
// arrives once.
func TestItemLevelSinkProblemsAreHeldNotDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name, errType, reason string
		status                int
	}{
		{"403 security_exception", "security_exception", "action [indices:data/write/bulk[s]] is unauthorized for API key id [k1] of user [siem] on indices [security-2026.11.29], this action is granted by the index privileges [create_doc,create,index,write,all]", 403},
		{"404 index_not_found", "index_not_found_exception", "no such index [security-2026.11.29] and [action.auto_create_index] ([false]) doesn't match", 404},
		{"read-only cluster", "cluster_block_exception", "index [security-2026.11.29] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];", 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				topic = "events"
				n     = 3000
			)
			cluster := startCluster(t, 3, topic, "events-dlq")
			var broken atomic.Bool
			broken.Store(true)
			es := startES(t, esfake.Options{RejectIf: func([]byte) (int, string, string) {
				if broken.Load() {
					return tc.status, tc.errType, tc.reason
				}
				return 0, "", ""
			}})
			produceSeq(t, cluster.Brokers(), topic, 3, 1, n, nil)
			b, stop := runBridge(t, parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", "")))

			waitFor(t, 30*time.Second, "the sink reported degraded", func() bool {
				st := b.Stats()
				return len(st.Routes) == 1 && st.Routes[0].SinkState == "degraded"
			})
			st := b.Stats()
			if st.Ready {
				t.Error("ready while the sink refuses every event")
			}
			if r := st.Routes[0].SinkReason; !strings.Contains(r, tc.errType) {
				t.Errorf("sink reason %q does not name %s", r, tc.errType)
			}
			time.Sleep(2 * time.Second) // an admin at work; retries go on
			if d := b.Stats().Routes[0].DeadLettered; d != 0 {
				t.Fatalf("%d events dead-lettered for a problem of the sink", d)
			}
			broken.Store(false)
			waitFor(t, 60*time.Second, "every event delivered after the fix", func() bool { return es.Count() >= n })
			waitFor(t, 10*time.Second, "the sink no longer degraded and the bridge ready", func() bool {
				st := b.Stats()
				return st.Routes[0].SinkState == "up" && st.Ready
			})
			stop()
			got := seqs(t, es)
			for s := int64(1); s <= n; s++ {
				if got[s] != 1 {
					t.Fatalf("seq %d is in the sink %d times, want once", s, got[s])
				}
			}
			assertNoDeadLetters(t, cluster.Brokers(), "events-dlq")
			assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
		})
	}
}

// TestSingleItemForbidden: the API key may not write a few single events
// (403 security_exception on their items only, as for a document routed
// to an index outside the key's privileges) amid a stream, with batches
// pipelined. Everything else is delivered meanwhile, nothing goes to the
// dead-letter topic, no partition commits past its first forbidden event,
// and once the key is fixed the forbidden events arrive, each once.
func TestSingleItemForbidden(t *testing.T) {
	const (
		topic      = "events"
		partitions = 3
		n          = 3000
	)
	forbidden := func(seq int64) bool { return seq%700 == 0 } // 700 and 2800 on partition 1, 1400 on 2, 2100 on 0
	firstHeld := map[int32]int64{}                            // partition: offset of its first forbidden event
	nForbidden := 0
	for s := int64(n); s >= 1; s-- {
		if forbidden(s) {
			nForbidden++
			firstHeld[int32(s%partitions)] = (s - 1) / partitions // produceSeq: seq s is at offset (s-1)/3
		}
	}
	cluster := startCluster(t, partitions, topic, "events-dlq")
	var fixed atomic.Bool
	es := startES(t, esfake.Options{RejectIf: func(doc []byte) (int, string, string) {
		if s, ok := gen.Seq(doc); ok && forbidden(s) && !fixed.Load() {
			return 403, "security_exception", "action [indices:data/write/bulk[s]] is unauthorized for API key id [k1] of user [siem] on indices [restricted-2026.11.30]"
		}
		return 0, "", ""
	}})
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	b, stop := runBridge(t, parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", "    max_in_flight_per_partition: 8")))

	waitFor(t, 30*time.Second, "every permitted event delivered", func() bool { return es.Count() >= n-nForbidden })
	time.Sleep(time.Second) // retries of the forbidden items go on; commits happen
	rs := b.Stats().Routes[0]
	if rs.DeadLettered != 0 {
		t.Fatalf("%d events dead-lettered for a permission error", rs.DeadLettered)
	}
	if rs.SinkState != "degraded" || !strings.Contains(rs.SinkReason, "security_exception") {
		t.Errorf("sink state %q, reason %q: want degraded, naming security_exception", rs.SinkState, rs.SinkReason)
	}
	if got := es.Count(); got != n-nForbidden {
		t.Errorf("%d events in the sink while %d are forbidden, want %d", got, nForbidden, n-nForbidden)
	}
	committed, err := kafkatest.Committed(cluster.Brokers(), "siembridge-elastic", topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range firstHeld {
		if committed[p] > off {
			t.Errorf("partition %d committed %d, past its forbidden event at offset %d", p, committed[p], off)
		}
	}

	fixed.Store(true)
	waitFor(t, 30*time.Second, "the forbidden events delivered once permitted", func() bool { return es.Count() >= n })
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
	stop()
	assertExactly(t, seqs(t, es), 1, n+1)
	assertNoDeadLetters(t, cluster.Brokers(), "events-dlq")
}

package integration

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if dl, err := kafkatest.ReadAll(ctx, cluster.Brokers(), "events-dlq"); err != nil {
				t.Fatal(err)
			} else if len(dl) != 0 {
				t.Errorf("dead-letter topic holds %d records, want 0", len(dl))
			}
			assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
		})
	}
}

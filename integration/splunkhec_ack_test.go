package integration

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/internal/testbin"
)

// TestSplunkHECAckRefused runs a HEC route with indexer acknowledgement
// against a HEC whose /services/collector/event takes the events (and
// answers an ackId) while /services/collector/ack answers 400 "ACK is
// disabled" for 3 s. During that time the sink must be down with the
// reason in the log, not cycling between probe and re-send: HEC sees each
// event at most twice (once before the refusal was known, once after it
// ended), every event arrives, and the group commits the log end.
func TestSplunkHECAckRefused(t *testing.T) {
	const (
		topic      = "hec-ack-refused"
		partitions = 4
		n          = 4000
		refused    = 3 * time.Second
	)
	cluster := startCluster(t, partitions, topic)
	hec := hecfake.New(hecfake.Options{Ack: true, AckDelay: 20 * time.Millisecond, Indexes: []string{"main"}})
	if err := hec.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hec.Close() })
	hec.RefuseAck(http.StatusBadRequest)
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)

	var logs testbin.Output // the bridge's log, read while written
	// A request timeout far above what a loaded machine takes: a timed-out
	// request that HEC took anyway is a duplicate too (at-least-once), but
	// not the one this test counts.
	yaml := hecRouteYAML(cluster.Brokers(), topic, hec.URL())
	if !strings.Contains(yaml, "\n      timeout: 2s\n") {
		t.Fatalf("hecRouteYAML changed; adapt this test:\n%s", yaml)
	}
	cfg := parseConfig(t, strings.Replace(yaml, "\n      timeout: 2s\n", "\n      timeout: 30s\n", 1))
	b, stop := runBridge(t, cfg, bridge.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	waitFor(t, 30*time.Second, "the first events in HEC", func() bool { return hec.Len() > 0 })
	start := time.Now()
	time.Sleep(refused)
	rs := b.Stats().Routes[0]
	during, polls := hec.Len(), hec.AckRequests()
	maxCopies := 0
	for _, c := range hecSeqs(t, hec) {
		maxCopies = max(maxCopies, c)
	}
	hec.RefuseAck(0)
	t.Logf("after %s of refused acks: %d events in HEC (at most %d copies of one), %d ack polls, route: sink %s, requests %d, failed %d",
		time.Since(start).Round(time.Millisecond), during, maxCopies, polls, rs.SinkState, rs.Requests, rs.FailedRequests)
	if rs.SinkState != "down" {
		t.Errorf("sink %s while /ack is refused, want down", rs.SinkState)
	}
	if maxCopies > 1 {
		t.Errorf("an event was sent %d times while /ack was refused, want once: the sink cycles between probe and re-send", maxCopies)
	}
	if log := logs.String(); !strings.Contains(log, "sink down") || !strings.Contains(log, "indexer acknowledgement refused") {
		t.Errorf("the log does not say why the sink is down:\n%.3000s", log)
	}

	// Every event in HEC is not enough: when the first wave of requests
	// carried the whole topic before the refusal was known, HEC holds every
	// event while the bridge still holds them all as unconfirmed. Wait for
	// the bridge to count each delivered, i.e. acknowledged.
	waitFor(t, 60*time.Second, "every event in HEC and acknowledged", func() bool {
		return b.Stats().Routes[0].Delivered >= n && hec.Distinct() >= n && len(hecSeqs(t, hec)) == n
	})
	rs = b.Stats().Routes[0]
	stop()
	got := hecSeqs(t, hec)
	twice, over := 0, 0
	for s := int64(1); s <= n; s++ {
		switch c := got[s]; {
		case c == 0:
			t.Errorf("seq %d is not in HEC", s)
		case c > 2:
			if over++; over <= 10 {
				t.Errorf("seq %d is in HEC %d times, want at most 2", s, c)
			}
		case c == 2:
			twice++
		}
	}
	if over > 10 {
		t.Errorf("... and %d more seqs in HEC more than twice", over-10)
	}
	t.Logf("%d events, %d indexed twice (their ack could not be confirmed), %d event requests, route stats %+v", hec.Len(), twice, hec.Requests(), rs)
	if rs.DeadLettered != 0 {
		t.Errorf("%d events dead-lettered; a refused ack must never dead-letter", rs.DeadLettered)
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-splunk", topic)
	if t.Failed() {
		t.Logf("bridge log:\n%s", logs.String())
	}
}

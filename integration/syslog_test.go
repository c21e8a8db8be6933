package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
)

// TestSyslogOutage sends 10000 events as CEF over TLS to a syslog receiver
// that, in the middle of the stream, drops every connection and refuses
// new ones for 3 seconds. Every record must arrive at least once (syslog
// has no acknowledgement, so a retried batch may arrive twice), nothing may
// fail the receiver's strict parser, and the group must commit the log end.
//
// The receiver closes gracefully (Linger): it half-closes and keeps
// reading for a while, as a receiver that shuts down does. A receiver that
// crashes loses what was in flight, and no syslog client can tell.
func TestSyslogOutage(t *testing.T) {
	const (
		topic      = "events"
		dlq        = "events-dlq"
		partitions = 4
		n          = 10000
	)
	cluster := startCluster(t, partitions, topic, dlq)
	ca, err := syslogfake.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := ca.ServerTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	caFile, _, _, err := ca.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := syslogfake.New(syslogfake.Options{TLS: serverTLS, Linger: 2 * time.Second})
	if err := rx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })

	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	// The rate limit stretches the stream over about 5 s so that the
	// outage falls in its middle.
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: qradar
    topics: [%q]
    start: oldest
    sink:
      type: syslog
      address: %q
      network: tls
      format: cef
      ca_file: %q
      cef_vendor: ACME
      cef_product: Bridge
      timeout: 2s
    batch: {max_events: 200, max_bytes: 2MiB, max_wait: 100ms}
    rate: {events_per_second: 2000}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    breaker: {failures: 3, max_probe_interval: 500ms}
    commit_interval: 200ms
shutdown_timeout: 10s
`, cluster.Brokers()[0], topic, rx.Addr(), caFile, dlq))
	b, stop := runBridge(t, cfg)

	waitFor(t, 60*time.Second, "3000 messages before the outage", func() bool { return rx.Count() >= 3000 })
	rx.Refuse()
	atOutage := rx.Count()
	time.Sleep(3 * time.Second)
	if err := rx.Resume(); err != nil {
		t.Fatal(err)
	}
	if atOutage >= n {
		t.Errorf("every message arrived before the outage (%d); it tested nothing", atOutage)
	}

	ends, err := kafkatest.EndOffsets(cluster.Brokers(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var missing int
	// The bridge must have finished with every record too: a record the
	// receiver got just before it closed may still wait in the bridge for
	// its re-send when the receiver already holds every record.
	waitFor(t, 90*time.Second, "every record at the receiver and done in the bridge", func() bool {
		if rs := b.Stats().Routes[0]; rs.Delivered+rs.DeadLettered < n {
			return false
		}
		missing = len(missingRecords(t, rx.Messages(), topic, ends))
		return missing == 0
	})
	rs := b.Stats().Routes[0]
	stop()

	for _, err := range rx.Errors() {
		t.Errorf("receiver: %v", err)
	}
	msgs := rx.Messages()
	if len(msgs) < n {
		t.Errorf("%d messages for %d records", len(msgs), n)
	}
	t.Logf("%d messages (%d duplicates), %d connections, %d retried, %d requests",
		len(msgs), len(msgs)-n, rx.Accepted(), rs.Retried, rs.Requests)
	if rx.Accepted() < 2 {
		t.Errorf("%d connections: the sink never reconnected", rx.Accepted())
	}
	if rs.DeadLettered != 0 {
		t.Errorf("%d events dead-lettered", rs.DeadLettered)
	}
	for _, m := range msgs[:min(len(msgs), 50)] {
		// Vendor and product: the event's observer (the firewall) when it
		// names one, else the configured ones.
		h := strings.SplitN(m.Msg, "|", 5)
		if len(h) < 5 || h[0] != "CEF:0" || h[3] != "1.0" || (h[1] == "ACME") != (h[2] == "Bridge") || !strings.Contains(m.Msg, " cs2Label=kafka.topic cs2="+topic+" ") {
			t.Errorf("not the expected CEF: %.300s", m.Msg)
		}
		// The CEF extension and the structured data agree.
		off, _ := m.Param("kafka@32473", "offset")
		if !strings.HasSuffix(m.Msg, " cn1Label=kafka.offset cn1="+off) {
			t.Errorf("structured-data offset %s not in %.300s", off, m.Msg)
		}
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-qradar", topic)
}

// missingRecords returns "partition/offset" for every record of topic
// below ends that no message carries, read from the structured data.
func missingRecords(t testing.TB, msgs []syslogfake.Message, topic string, ends map[int32]int64) []string {
	t.Helper()
	seen := map[int32]map[int64]bool{}
	for _, m := range msgs {
		tp, _ := m.Param("kafka@32473", "topic")
		ps, _ := m.Param("kafka@32473", "partition")
		os, _ := m.Param("kafka@32473", "offset")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if tp != topic || err1 != nil || err2 != nil {
			t.Fatalf("message without Kafka coordinates: %+v", m.StructuredData)
		}
		if seen[int32(p)] == nil {
			seen[int32(p)] = map[int64]bool{}
		}
		seen[int32(p)][o] = true
	}
	var out []string
	for p, end := range ends {
		for o := range end {
			if !seen[p][o] {
				out = append(out, fmt.Sprintf("%d/%d", p, o))
			}
		}
	}
	return out
}

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
)

// TestSyslogRELPCrash sends 2000 events over RELP to a receiver that, in
// the middle of the stream, first refuses messages (500) for a moment and
// then crashes: every connection closed at once, with no serverclose and
// no lingering (unlike TestSyslogOutage's graceful receiver), and new ones
// refused for a second. Over plain TCP what was in flight would be lost
// without a trace; over RELP a message counts only once answered, so every
// record must arrive, none may be dead-lettered and the group must commit
// the log end.
func TestSyslogRELPCrash(t *testing.T) {
	const (
		topic      = "events"
		dlq        = "events-dlq"
		partitions = 4
		n          = 2000
	)
	cluster := startCluster(t, partitions, topic, dlq)
	rx := syslogfake.New(syslogfake.Options{Network: "relp"})
	if err := rx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rx.Close()
		for _, err := range rx.Errors() {
			t.Errorf("syslogfake: %v", err)
		}
	})
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: rsyslog
    topics: [%q]
    start: oldest
    sink:
      type: syslog
      address: %q
      network: relp
      relp_window: 32
      format: leef
      timeout: 2s
    batch: {max_events: 100, max_wait: 50ms}
    rate: {events_per_second: 2000}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 200ms}
    breaker: {failures: 3, max_probe_interval: 200ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, cluster.Brokers()[0], topic, rx.Addr(), dlq))
	b, stop := runBridge(t, cfg)

	waitFor(t, 20*time.Second, "500 messages", func() bool { return rx.Count() >= 500 })
	rx.SetRELPStatus(500)
	time.Sleep(200 * time.Millisecond)
	rx.SetRELPStatus(200)
	rx.Refuse() // Linger 0: connections closed at once, as a crash does
	atCrash := rx.Count()
	time.Sleep(time.Second)
	if err := rx.Resume(); err != nil {
		t.Fatal(err)
	}
	if atCrash >= n {
		t.Errorf("every message arrived before the crash (%d); it tested nothing", atCrash)
	}
	ends, err := kafkatest.EndOffsets(cluster.Brokers(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	// The bridge must have finished with every record too: a record the
	// receiver took just before the crash waits for its re-send in the
	// bridge although the receiver has it.
	waitFor(t, 30*time.Second, "every record at the receiver and done in the bridge", func() bool {
		if rs := b.Stats().Routes[0]; rs.Delivered+rs.DeadLettered < n {
			return false
		}
		missing = missingRecords(t, rx.Messages(), topic, ends)
		return len(missing) == 0
	})
	rs := b.Stats().Routes[0]
	stop()
	if rs.DeadLettered != 0 {
		t.Errorf("%d events dead-lettered", rs.DeadLettered)
	}
	if rx.Accepted() < 2 {
		t.Errorf("%d sessions: the sink never reconnected", rx.Accepted())
	}
	t.Logf("%d messages for %d records (%d duplicates), %d sessions", rx.Count(), n, rx.Count()-n, rx.Accepted())
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-rsyslog", topic)
}

//go:build linux

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
)

// TestSyslogHungReceiverCrash: in the middle of the stream the syslog
// receiver hangs (stops reading without closing, with a small receive
// buffer), then crashes (its connections are closed abruptly, unread bytes
// and all) and comes back. The sink counts a batch delivered only once the
// receiver's kernel acknowledged it (Linux), so the batches written while
// it hung are retried instead of being lost from the sink's socket buffer.
// What can still be lost is what the receiver's kernel acknowledged and
// the receiver never read: at most its receive buffer per connection (here
// about 8 KiB, some 30 messages). The group must commit the log end.
func TestSyslogHungReceiverCrash(t *testing.T) {
	const (
		topic      = "events"
		dlq        = "events-dlq"
		partitions = 4
		n          = 6000
		// maxLost bounds the acknowledged-but-unread window: ~8 KiB of
		// ~260-byte messages per connection open at the crash.
		maxLost = 100
	)
	cluster := startCluster(t, partitions, topic, dlq)
	rx := syslogfake.New(syslogfake.Options{ReceiveBuffer: 4096}) // Linger 0: a crash
	if err := rx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })

	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
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
      format: cef
      timeout: 1s
      tcp_user_timeout: 5s
    batch: {max_events: 100, max_bytes: 1MiB, max_wait: 50ms}
    rate: {events_per_second: 2000}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 300ms}
    breaker: {failures: 3, max_probe_interval: 300ms}
    commit_interval: 200ms
shutdown_timeout: 10s
`, cluster.Brokers()[0], topic, rx.Addr(), dlq))
	b, stop := runBridge(t, cfg)

	waitFor(t, 60*time.Second, "1500 messages before the hang", func() bool { return rx.Count() >= 1500 })
	rx.Pause()
	atHang := rx.Count()
	time.Sleep(3 * time.Second) // several sink timeouts
	rx.DropAll()                // the crash: acknowledged, unread bytes are gone
	rx.Unpause()                // and the restart
	if atHang >= n {
		t.Fatalf("every message arrived before the hang (%d); it tested nothing", atHang)
	}

	ends, err := kafkatest.EndOffsets(cluster.Brokers(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the bridge committed the log end: every batch is then
	// delivered or counted delivered, and what is missing now stays so.
	waitFor(t, 90*time.Second, "the bridge to deliver every record", func() bool {
		rs := b.Stats().Routes[0]
		return rs.Delivered >= n
	})
	var missing []string
	waitFor(t, 30*time.Second, "the receiver to parse what it got", func() bool {
		before := rx.Count()
		time.Sleep(200 * time.Millisecond)
		return rx.Count() == before
	})
	missing = missingRecords(t, rx.Messages(), topic, ends)
	rs := b.Stats().Routes[0]
	stop()

	for _, err := range rx.Errors() {
		t.Errorf("receiver: %v", err)
	}
	t.Logf("%d messages for %d records, %d at the hang, %d lost, %d connections, %d retried",
		rx.Count(), n, atHang, len(missing), rx.Accepted(), rs.Retried)
	if len(missing) > maxLost {
		t.Errorf("%d records lost (first %v); at most %d may be, what the receiver's kernel acknowledged and it never read",
			len(missing), missing[:min(len(missing), 10)], maxLost)
	}
	if rs.Retried == 0 {
		t.Error("nothing was retried")
	}
	if rs.DeadLettered != 0 {
		t.Errorf("%d events dead-lettered", rs.DeadLettered)
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-qradar", topic)
}

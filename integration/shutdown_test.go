package integration

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
)

// shutdownYAML is a route at 100 events/s with a large read-ahead and a
// long shutdown timeout: draining what was read would take minutes.
func shutdownYAML(brokers []string, esURL string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: elastic
    topics: [events]
    sink:
      type: elasticsearch
      urls: [%q]
      index: "security-%%{+yyyy.MM.dd}"
      timeout: 60s
    batch: {max_events: 50, max_wait: 50ms}
    rate: {events_per_second: 100, adaptive: false}
    dead_letter: {topic: events-dlq}
    commit_interval: 200ms
shutdown_timeout: 60s
`, brokers[0], esURL)
}

// TestStopSignals: on SIGTERM, SIGINT or SIGHUP the bridge stops cutting
// batches, finishes only the request in flight, commits and exits — it
// does not drain its read-ahead through the rate limiter (at 100/s with
// thousands read ahead that outlasts any orchestrator's grace period).
// What it committed is in the sink.
func TestStopSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cluster := startCluster(t, 2, "events", "events-dlq")
			es := startES(t, esfake.Options{})
			produceSeq(t, cluster.Brokers(), "events", 2, 1, 5000, nil)
			p := startProc(t, "run", "--config", writeConfig(t, shutdownYAML(cluster.Brokers(), es.URL())))
			waitFor(t, 30*time.Second, "deliveries under way", func() bool { return es.Count() >= 200 })

			before := es.Count()
			start := time.Now()
			if code := p.stop(t, sig); code != 0 {
				t.Fatalf("%v: exit code %d, want 0; output:\n%s", sig, code, p.out)
			}
			took := time.Since(start)
			after := es.Count() - before
			t.Logf("%v: exited after %v; %d events sent after the signal", sig, took.Round(time.Millisecond), after)
			// Only requests already sent finish: at most one batch per
			// partition. The old drain sent the batch being cut and the
			// queued one too (300+ here, thousands at higher rates).
			if after > 2*50 { // one batch per partition
				t.Errorf("%d events sent after %v; only requests in flight should finish", after, sig)
			}
			if took > 10*time.Second {
				t.Errorf("exit took %v; want about one request, not a drain of the read-ahead", took)
			}
			assertNotCommittedAhead(t, cluster.Brokers(), "siembridge-elastic", "events", es)
		})
	}
}

// TestSecondSignalExitsAtOnce: the sink hangs on a request; the first
// SIGTERM waits for it (up to shutdown_timeout, 60 s here), a second one
// cuts it, commits what was delivered and exits.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	cluster := startCluster(t, 2, "events", "events-dlq")
	es := startES(t, esfake.Options{})
	produceSeq(t, cluster.Brokers(), "events", 2, 1, 2000, nil)
	p := startProc(t, "run", "--config", writeConfig(t, shutdownYAML(cluster.Brokers(), es.URL())))
	waitFor(t, 30*time.Second, "deliveries under way", func() bool { return es.Count() >= 100 })
	if err := es.SetMode(esfake.Slow(50 * time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a request is now in flight, hanging
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		t.Fatalf("exited on the first SIGTERM with a request in flight; output:\n%s", p.out)
	case <-time.After(2 * time.Second):
	}
	start := time.Now()
	code := p.stop(t, syscall.SIGTERM)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("second SIGTERM: exit took %v", took)
	}
	if code != 0 {
		t.Errorf("second SIGTERM: exit code %d, want 0; output:\n%s", code, p.out)
	}
	if err := es.SetMode(esfake.Healthy); err != nil {
		t.Fatal(err)
	}
	assertNotCommittedAhead(t, cluster.Brokers(), "siembridge-elastic", "events", es)
}

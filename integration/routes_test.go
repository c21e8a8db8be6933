package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestDeadSinkDoesNotHoldBackAnotherRoute: two routes read the same topic
// into two sinks; one sink refuses every connection. The other route
// delivers everything and commits the log end, while the dead route
// commits nothing it did not deliver.
func TestDeadSinkDoesNotHoldBackAnotherRoute(t *testing.T) {
	const (
		topic = "events"
		n     = 20000
	)
	cluster := startCluster(t, 3, topic, "live-dlq", "dead-dlq")
	live := startES(t, esfake.Options{})
	dead := startES(t, esfake.Options{})
	if err := dead.SetMode(esfake.Refuse); err != nil {
		t.Fatal(err)
	}
	produceSeq(t, cluster.Brokers(), topic, 3, 1, n, nil)
	route := func(name, url, dlq string) string {
		return fmt.Sprintf(`
  - name: %s
    topics: [%q]
    sink: {type: elasticsearch, urls: [%q], timeout: 2s}
    batch: {max_events: 500, max_wait: 100ms}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    breaker: {failures: 3, max_probe_interval: 500ms}
    commit_interval: 200ms`, name, topic, url, dlq)
	}
	cfg := parseConfig(t, fmt.Sprintf("kafka:\n  brokers: [%q]\nroutes:%s%s\nshutdown_timeout: 5s\n",
		cluster.Brokers()[0], route("live", live.URL(), "live-dlq"), route("dead", dead.URL(), "dead-dlq")))
	b, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "the live route delivered everything", func() bool {
		return b.Stats().Routes[0].Delivered >= n
	})
	st := b.Stats()
	if st.Routes[1].SinkState != "down" || !st.Routes[1].Paused {
		t.Errorf("dead route: sink %s, paused %v; want down and paused", st.Routes[1].SinkState, st.Routes[1].Paused)
	}
	if st.Ready {
		t.Error("ready while a sink is down")
	}
	stop()
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-live", topic)
	committed, err := kafkatest.Committed(cluster.Brokers(), "siembridge-dead", topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range committed {
		if off > 0 {
			t.Errorf("dead route committed offset %d on partition %d without delivering anything", off, p)
		}
	}
	if dead.Count() != 0 || live.Count() != n {
		t.Errorf("dead sink holds %d, live sink %d of %d", dead.Count(), live.Count(), n)
	}
}

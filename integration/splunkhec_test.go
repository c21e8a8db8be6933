package integration

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/internal/gen"
)

// hecRouteYAML is a one-route configuration into Splunk HEC with indexer
// acknowledgement.
func hecRouteYAML(brokers []string, topic, hecURL string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: splunk
    topics: [%q]
    start: oldest
    sink:
      type: splunk_hec
      url: %q
      token: %q
      index: main
      host_field: host.name
      host: siembridge
      gzip: true
      ack: true
      ack_poll_interval: 20ms
      ack_timeout: 5s
      timeout: 2s
    batch: {max_events: 500, max_bytes: 2MiB, max_wait: 100ms}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    breaker: {failures: 3, max_probe_interval: 300ms}
    commit_interval: 200ms
shutdown_timeout: 10s
`, brokers[0], topic, hecURL, hecfake.Token)
}

// TestSplunkHECOutage produces 20000 events into a HEC route with indexer
// acknowledgement. While they flow, HEC is busy (503 code 9) for 2 s and
// then refuses connections for 3 s. At the end every event is in HEC at
// least once, every copy of a duplicate carries the same kafka_topic,
// kafka_partition and kafka_offset indexed fields (so it can be found),
// and the group committed the log end.
func TestSplunkHECOutage(t *testing.T) {
	const (
		topic      = "hec-events"
		partitions = 4
		n          = 20000
	)
	cluster := startCluster(t, partitions, topic)
	hec := hecfake.New(hecfake.Options{Ack: true, AckDelay: 30 * time.Millisecond, Indexes: []string{"main"}})
	if err := hec.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hec.Close() })
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)

	cfg := parseConfig(t, hecRouteYAML(cluster.Brokers(), topic, hec.URL()))
	b, stop := runBridge(t, cfg)

	waitFor(t, 60*time.Second, "a quarter of the events in HEC", func() bool { return hec.Len() >= n/4 })
	if err := hec.SetMode(hecfake.Busy); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := hec.SetMode(hecfake.Refuse); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	during := hec.Len()
	if err := hec.SetMode(hecfake.Healthy); err != nil {
		t.Fatal(err)
	}
	if during >= n {
		t.Logf("all %d events were in HEC before the outage ended: the outage did not bite", during)
	}

	last := time.Now()
	waitFor(t, 120*time.Second, "every event in HEC", func() bool {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			rs := b.Stats().Routes[0]
			t.Logf("hec %d events (%s); route: delivered %d, retried %d, sink %s, rate %.0f/s",
				hec.Len(), hec.Mode(), rs.Delivered, rs.Retried, rs.SinkState, rs.EffectiveRate)
		}
		// HEC can hold an event whose ack the bridge is still waiting
		// for or could not confirm: the bridge must count every event
		// delivered too. The cheap checks first: hecSeqs copies and
		// parses every event, and doing that every 50 ms while
		// duplicates fill HEC would take the CPU the bridge and HEC need.
		return b.Stats().Routes[0].Delivered >= n && hec.Distinct() >= n && len(hecSeqs(t, hec)) == n
	})
	rs := b.Stats().Routes[0]
	stop()

	got := hecSeqs(t, hec)
	for s := int64(1); s <= n; s++ {
		if got[s] == 0 {
			t.Errorf("seq %d is not in HEC", s)
		}
	}
	// Duplicates are allowed (at-least-once) but must be findable: every
	// copy of a seq carries the same Kafka coordinates, and counting by
	// those indexed fields finds all copies.
	coords := map[int64]hecfake.Key{}
	dups := 0
	for _, ev := range hec.Events() {
		s, _ := gen.Seq(ev.Event)
		k := hecfake.Key{Topic: ev.Fields["kafka_topic"], Partition: ev.Fields["kafka_partition"], Offset: ev.Fields["kafka_offset"]}
		if k.Topic != topic || k.Partition == "" || k.Offset == "" {
			t.Fatalf("seq %d has kafka fields %+v", s, ev.Fields)
		}
		if p, err := strconv.Atoi(k.Partition); err != nil || int64(p) != s%partitions {
			t.Errorf("seq %d: kafka_partition %q, produced to %d", s, k.Partition, s%partitions)
		}
		if prev, ok := coords[s]; ok {
			dups++
			if prev != k {
				t.Errorf("seq %d: copies with different indexed fields %+v and %+v", s, prev, k)
			}
		}
		coords[s] = k
		if ev.Index != "main" || ev.Sourcetype != "_json" || ev.Host == "" || ev.Time == "" {
			t.Fatalf("seq %d: envelope %+v", s, ev)
		}
	}
	counts := hec.Counts()
	for s, k := range coords {
		if counts[k] != got[s] {
			t.Errorf("seq %d: %d copies, but %d found by its indexed fields", s, got[s], counts[k])
		}
	}
	t.Logf("%d events, %d duplicates, %d event requests, %d ack polls, route stats %+v",
		hec.Len(), dups, hec.Requests(), hec.AckRequests(), rs)
	if rs.DeadLettered != 0 {
		t.Errorf("%d events dead-lettered; a HEC outage must never dead-letter", rs.DeadLettered)
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-splunk", topic)
}

// hecSeqs maps each sequence number in HEC to its number of copies.
func hecSeqs(t testing.TB, hec *hecfake.Server) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, ev := range hec.Events() {
		s, ok := gen.Seq(ev.Event)
		if !ok {
			t.Fatalf("event without a sequence number: %.200s", ev.Event)
		}
		out[s]++
	}
	return out
}

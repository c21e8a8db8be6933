package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
)

// TestElasticLeastPrivilegeDataStream runs the bridge into a 9.x cluster
// that demands the 8 compatibility headers, with an API key holding only
// create_doc and auto_configure on logs-* (the README's minimal role), writing
// to a data stream. Every event must arrive once, and after an outage the
// breaker's probe must bring the sink back with that key: a probe that
// needs the monitor privilege (GET /) would keep it down for ever.
func TestElasticLeastPrivilegeDataStream(t *testing.T) {
	const (
		topic = "events"
		n     = 3000
	)
	cluster := startCluster(t, 3, topic, "events-dlq")
	es := startES(t, esfake.Options{
		APIKey: "k3y", ServerVersion: "9.1.0", RequireCompatibleWith: 8,
		DataStreamTemplates: esfake.BuiltinDataStreamTemplates,
		Role: &esfake.Role{Indices: []esfake.IndexPrivileges{{
			Names: []string{"logs-*"}, Privileges: []string{"create_doc", "auto_configure"},
		}}},
	})
	yaml := strings.Replace(routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", ""),
		`      index: "security-%{+yyyy.MM.dd}"`,
		"      api_key: k3y\n      data_stream: {type: logs, dataset: firewall, namespace: prod}", 1)
	produceSeq(t, cluster.Brokers(), topic, 3, 1, n/2, nil)
	b, stop := runBridge(t, parseConfig(t, yaml))
	waitFor(t, 20*time.Second, "the first half delivered", func() bool { return es.Count() >= n/2 })

	if err := es.SetMode(esfake.Fail503); err != nil {
		t.Fatal(err)
	}
	produceSeq(t, cluster.Brokers(), topic, 3, n/2+1, n, nil)
	waitFor(t, 10*time.Second, "the sink marked down", func() bool { return b.Stats().Routes[0].SinkState == "down" })
	if err := es.SetMode(esfake.Healthy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every event delivered after the outage", func() bool { return es.Count() >= n })
	waitFor(t, 5*time.Second, "the sink up", func() bool { return b.Stats().Routes[0].SinkState == "up" })
	stop()

	if got := len(es.Documents("logs-firewall-prod")); got != n {
		t.Errorf("data stream logs-firewall-prod holds %d documents, want %d", got, n)
	}
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		if got[s] != 1 {
			t.Fatalf("seq %d is in the sink %d times, want once", s, got[s])
		}
	}
	assertNoDeadLetters(t, cluster.Brokers(), "events-dlq")
}

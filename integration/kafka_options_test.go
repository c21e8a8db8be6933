package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// TestKafkaHeadersThroughBridge: with kafka.headers.include, the headers a
// producer set arrive in the Elasticsearch document under the configured
// field.
func TestKafkaHeadersThroughBridge(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"hdr-events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	p, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(11)
	var recs []kafkatest.Record
	for seq := int64(1); seq <= 50; seq++ {
		recs = append(recs, kafkatest.Record{Topic: "hdr-events", Partition: int32(seq % 2), Value: g.Next(seq, time.Now()),
			Headers: []sarama.RecordHeader{{Key: []byte("tenant"), Value: fmt.Appendf(nil, "t-%d", seq)}}})
	}
	err = p.Send(recs...)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
  headers: {include: true, field: kafka.headers}
routes:
  - name: hdr
    topics: [hdr-events]
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, cluster.Brokers()[0], es.URL()))
	_, stop := runBridge(t, cfg)
	waitFor(t, 10*time.Second, "50 events delivered", func() bool { return es.Count() >= 50 })
	stop()
	for _, d := range es.Documents() {
		seq, ok := gen.Seq(d.Source)
		tenant, _ := event.Field(d.Source, "kafka.headers.tenant")
		if !ok || tenant != fmt.Sprintf("t-%d", seq) {
			t.Fatalf("document %s: seq %d, kafka.headers.tenant %q", d.ID, seq, tenant)
		}
	}
}

// TestTopicsRegexThroughBridge: a route with topics_regex delivers from a
// matching topic that exists at start and from one created while it runs.
func TestTopicsRegexThroughBridge(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"rx.first", "unrelated"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	produceSeq(t, cluster.Brokers(), "rx.first", 2, 1, 50, nil)
	produceSeq(t, cluster.Brokers(), "unrelated", 2, 1001, 1010, nil)
	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
  topic_metadata_refresh_interval: 200ms
routes:
  - name: rx
    topics_regex: 'rx\..*'
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, cluster.Brokers()[0], es.URL()))
	_, stop := runBridge(t, cfg)
	defer stop()
	waitFor(t, 10*time.Second, "the existing topic's 50 events", func() bool { return es.Count() >= 50 })
	produceSeq(t, cluster.Brokers(), "rx.later", 1, 51, 80, nil) // created on first write
	waitFor(t, 10*time.Second, "the new topic's 30 events", func() bool { return es.Count() >= 80 })
	stop()
	got := seqs(t, es)
	if len(got) != 80 {
		t.Fatalf("%d distinct events, want 80", len(got))
	}
	for s := range got {
		if s > 1000 {
			t.Fatalf("delivered event %d of a topic that does not match", s)
		}
	}
}

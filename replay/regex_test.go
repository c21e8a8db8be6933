package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// regexBase stamps the records of the topics_regex and headers tests.
var regexBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// regexCluster starts a cluster with topics fw.a (2 partitions), fw.b,
// other and fw.dlq (the route's dead-letter topic, which its regex would
// match), each holding one record a partition stamped regexBase, with the
// headers given. It returns the cluster and the configuration of a route
// "fw" that lists no topic and matches fw\..* (kafka.headers as given).
func regexCluster(t *testing.T, headers string, hs ...sarama.RecordHeader) (*kafkatest.Cluster, *config.Config) {
	t.Helper()
	cluster, err := kafkatest.Start(1, []string{"fw.b", "other", "fw.dlq"}, kfake.SeedTopics(2, "fw.a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	recs := []kafkatest.Record{
		{Topic: "fw.a", Partition: 0}, {Topic: "fw.a", Partition: 1},
		{Topic: "fw.b"}, {Topic: "other"}, {Topic: "fw.dlq"},
	}
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprintf(`{"topic":%q}`, recs[i].Topic))
		recs[i].Timestamp = regexBase
		recs[i].Headers = hs
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + cluster.Brokers()[0] + `"]
` + headers + `
routes:
  - name: fw
    topics_regex: 'fw\..*'
    dead_letter: {topic: fw.dlq}
    sink:
      type: file
      path: ` + filepath.Join(t.TempDir(), "a.ndjson") + `
    batch: {max_events: 2, max_wait: 50ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cluster, cfg
}

// TestReplayTopicsRegex: a route with only topics_regex replays the
// records of every topic the regex matches (partitions of all of them),
// not those of a topic it does not match nor of its dead-letter topic.
func TestReplayTopicsRegex(t *testing.T) {
	_, cfg := regexCluster(t, "")
	sink := &recordingSink{}
	res, err := Run(context.Background(), cfg, Options{
		Route: "fw", From: regexBase.Add(-time.Minute), To: regexBase.Add(time.Minute), Sink: sink, Logger: quiet,
		Checkpoint: filepath.Join(t.TempDir(), "cp.json"),
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	var got []string
	for _, ev := range sink.events {
		got = append(got, fmt.Sprintf("%s/%d", ev.Topic, ev.Partition))
	}
	slices.Sort(got)
	want := []string{"fw.a/0", "fw.a/1", "fw.b/0"}
	if !slices.Equal(got, want) || res.Partitions != 3 {
		t.Fatalf("replayed %v from %d partitions, want %v from 3", got, res.Partitions, want)
	}
}

// TestPlanTopicsRegex: the plan of a regex-only route lists the
// partitions of the matched topics.
func TestPlanTopicsRegex(t *testing.T) {
	_, cfg := regexCluster(t, "")
	p, err := Plan(context.Background(), cfg, Options{
		Route: "fw", From: regexBase.Add(-time.Minute), To: regexBase.Add(time.Minute), Rate: -1, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pp := range p.Partitions {
		got = append(got, fmt.Sprintf("%s/%d", pp.Topic, pp.Partition))
	}
	slices.Sort(got)
	if want := []string{"fw.a/0", "fw.a/1", "fw.b/0"}; !slices.Equal(got, want) || p.Events != 3 {
		t.Fatalf("plan partitions %v, %d events; want %v, 3 events", got, p.Events, want)
	}
}

// TestReplayKafkaHeaders: with kafka.headers.include the replayed
// document carries the record's headers under the field, as the bridge's
// do; without it, the document is the record's value.
func TestReplayKafkaHeaders(t *testing.T) {
	hs := []sarama.RecordHeader{
		{Key: []byte("tenant"), Value: []byte("blue")},
		{Key: []byte("trace"), Value: []byte("t1")},
		{Key: []byte("trace"), Value: []byte("t2")},
	}
	for _, tt := range []struct {
		name, yaml, field string
		want              map[string]any // nil: no field
	}{
		{"off", "", "kafka.headers", nil},
		{"default field", "  headers: {include: true}\n", "kafka.headers", map[string]any{"tenant": "blue", "trace": []any{"t1", "t2"}}},
		{"own field", "  headers: {include: true, field: hdr}\n", "hdr", map[string]any{"tenant": "blue", "trace": []any{"t1", "t2"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := regexCluster(t, tt.yaml, hs...)
			sink := &recordingSink{}
			res, err := Run(context.Background(), cfg, Options{
				Route: "fw", From: regexBase.Add(-time.Minute), To: regexBase.Add(time.Minute), Sink: sink, Logger: quiet,
				Checkpoint: filepath.Join(t.TempDir(), "cp.json"),
			})
			if err != nil || !res.Complete || len(sink.events) != 3 {
				t.Fatalf("Replay: %+v, %v, %d events", res, err, len(sink.events))
			}
			for _, ev := range sink.events {
				var doc map[string]any
				if err := json.Unmarshal(ev.Doc, &doc); err != nil {
					t.Fatalf("document %s: %v", ev.Doc, err)
				}
				if doc["topic"] != ev.Topic {
					t.Errorf("document %s lost the record's value", ev.Doc)
				}
				got, ok := doc[tt.field]
				if tt.want == nil {
					if ok || len(doc) != 1 {
						t.Errorf("document %s has more than the record's value", ev.Doc)
					}
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("document %s: %s is %v, want %v", ev.Doc, tt.field, got, tt.want)
				}
			}
		})
	}
}

package bridge

import (
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/kafka"
)

// TestRouteTopicsRegex: a route that lists no topic and matches fw\..*
// sizes its prefetch from the partitions of the matched topics (fw.a: 4,
// fw.b: 2), not from those of other or of its dead-letter topic fw.dlq
// (8 each), nor from its empty topic list; its retention check reads the
// retention of the matched topics only.
func TestRouteTopicsRegex(t *testing.T) {
	cluster, err := kafkatest.Start(8, []string{"other", "fw.dlq"}, kfake.SeedTopics(4, "fw.a"), kfake.SeedTopics(2, "fw.b"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: fw
    topics_regex: 'fw\..*'
    dead_letter: {topic: fw.dlq}
    buffer: {max_bytes: 8MiB}
    sink: {type: null}
`, cluster.Brokers()[0])))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	retention := map[string]time.Duration{"fw.a": time.Hour, "fw.b": 2 * time.Hour, "other": 3 * time.Hour, "fw.dlq": 4 * time.Hour}
	for topic, d := range retention {
		ms := strconv.FormatInt(d.Milliseconds(), 10)
		if err := admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &ms}, false); err != nil {
			t.Fatal(err)
		}
	}

	rc := cfg.Routes[0]
	r := &route{b: &Bridge{cfg: cfg, sc: sc, log: quiet, client: client}, cfg: rc, log: quiet, budget: &routeBudget{}}
	plan := func(parts int) kafka.FetchPlan {
		return kafka.PlanFetch(int64(rc.Buffer.MaxBytes), parts, sc.Consumer.Fetch.Default, sc.Consumer.Fetch.MaxBytes)
	}
	if plan(6) == plan(1) || plan(6) == plan(22) {
		t.Fatal("the buffer does not tell 6 partitions from 1 or 22: the test cannot tell them apart")
	}
	if got := r.fetchPlan(); got != plan(6) {
		t.Errorf("fetch plan %+v, want that of 6 partitions %+v (1: %+v, 22: %+v)", got, plan(6), plan(1), plan(22))
	}
	got := r.retention(time.Now())
	if want := map[string]time.Duration{"fw.a": time.Hour, "fw.b": 2 * time.Hour}; !maps.Equal(got, want) {
		t.Errorf("retention read %v, want %v", got, want)
	}
}

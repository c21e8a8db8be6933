package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// A route that lists no topic and consumes those matching fw\..*: fw.a
// (2 partitions) and fw.b, not other nor its dead-letter topic fw.dlq.
// Every partition holds regexRecords records, record i stamped
// rewindBase + i seconds.
const (
	regexRecords = 10
	regexGroup   = "siembridge-fw"
)

var regexMatched = []string{"fw.a/0", "fw.a/1", "fw.b/0"}

// regexCluster starts kfake with the topics filled and returns it and
// the route's configuration file.
func regexCluster(t *testing.T) (*kafkatest.Cluster, string) {
	t.Helper()
	k := testKafkaCluster(t, 1, []string{"fw.b", "other", "fw.dlq"}, kfake.SeedTopics(2, "fw.a"))
	p, err := kafkatest.NewProducer(k.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var recs []kafkatest.Record
	for _, tp := range []struct {
		topic string
		part  int32
	}{{"fw.a", 0}, {"fw.a", 1}, {"fw.b", 0}, {"other", 0}, {"fw.dlq", 0}} {
		for i := range regexRecords {
			recs = append(recs, kafkatest.Record{Topic: tp.topic, Partition: tp.part, Value: fmt.Appendf(nil, `{"i":%d}`, i),
				Timestamp: rewindBase.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := p.Send(recs...); err != nil {
		t.Fatal(err)
	}
	cfg := testWriteFile(t, "siembridge.yaml", fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: fw
    topics_regex: 'fw\..*'
    dead_letter: {topic: fw.dlq}
    start: oldest
    sink:
      type: file
      path: %q
`, k.Brokers()[0], filepath.Join(t.TempDir(), "out.ndjson")))
	return k, cfg
}

// commitAll commits offset o for the group on every partition of topics
// (one partition each, fw.a two), as a stopped bridge would leave them.
func commitAll(t *testing.T, brokers []string, o int64, topics ...string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := map[string]map[int32]sarama.OffsetAndMetadata{}
	for _, topic := range topics {
		req[topic] = map[int32]sarama.OffsetAndMetadata{0: {Offset: o, LeaderEpoch: -1}}
		if topic == "fw.a" {
			req[topic][1] = sarama.OffsetAndMetadata{Offset: o, LeaderEpoch: -1}
		}
	}
	resp, err := admin.AlterConsumerGroupOffsets(regexGroup, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range resp.Errors {
		for p, kerr := range parts {
			if kerr != sarama.ErrNoError {
				t.Fatalf("commit %s/%d: %v", topic, p, kerr)
			}
		}
	}
}

// committedOf returns the group's committed offsets as "topic/partition"
// → offset.
func committedOf(t *testing.T, brokers []string, topics ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, topic := range topics {
		got, err := kafkatest.Committed(brokers, regexGroup, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, o := range got {
			out[fmt.Sprintf("%s/%d", topic, p)] = o
		}
	}
	return out
}

// TestStatusTopicsRegex: status of a regex-only route lists the partitions
// of the topics the regex matches, with their offsets and lag.
func TestStatusTopicsRegex(t *testing.T) {
	k, cfg := regexCluster(t)
	commitAll(t, k.Brokers(), 4, "fw.a", "fw.b", "other")
	code, out, errOut := testRunMain("status", "--config", cfg, "--route", "fw", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var rep statusDoc
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Routes) != 1 {
		t.Fatalf("status output %q: %v", out, err)
	}
	rs := rep.Routes[0]
	var got []string
	for _, ps := range rs.Partitions {
		got = append(got, fmt.Sprintf("%s/%d", ps.Topic, ps.Partition))
		if ps.LogEnd != regexRecords || ps.Committed != 4 {
			t.Errorf("%s/%d: log end %d, committed %d; want %d, 4", ps.Topic, ps.Partition, ps.LogEnd, ps.Committed, regexRecords)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, regexMatched) {
		t.Errorf("status lists %v, want %v", got, regexMatched)
	}
	if want := int64(3 * (regexRecords - 4)); rs.Lag != want {
		t.Errorf("lag %d, want %d", rs.Lag, want)
	}
}

// TestRewindTopicsRegex: rewinding a regex-only route moves back the
// offsets of the matched topics' partitions, and leaves a topic the regex
// does not match alone.
func TestRewindTopicsRegex(t *testing.T) {
	k, cfg := regexCluster(t)
	commitAll(t, k.Brokers(), regexRecords, "fw.a", "fw.b", "other")
	to := rewindBase.Add(5 * time.Second).Format(time.RFC3339)
	code, out, errOut := testRunMain("rewind", "--config", cfg, "--route", "fw", "--to", to)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got := committedOf(t, k.Brokers(), "fw.a", "fw.b", "other")
	want := map[string]int64{"fw.a/0": 5, "fw.a/1": 5, "fw.b/0": 5, "other/0": regexRecords}
	for tp, o := range want {
		if got[tp] != o {
			t.Errorf("%s: committed %d after the rewind, want %d\noutput:\n%s", tp, got[tp], o, out)
		}
	}
}

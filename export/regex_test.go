package export

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestExportTopicsRegex: an export of a route that lists no topic and
// matches fw\..* writes the records of fw.a (both partitions) and fw.b,
// none of other nor of the route's dead-letter topic fw.dlq, and the
// manifest names the matched topics. kafka.headers.include is on: the
// export keeps the records' values, so no header reaches a line, whether
// the value is a one-line object or not.
func TestExportTopicsRegex(t *testing.T) {
	cluster, err := kafkatest.Start(1, []string{"fw.b", "other", "fw.dlq"}, kfake.SeedTopics(2, "fw.a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	hs := []sarama.RecordHeader{{Key: []byte("tenant"), Value: []byte("blue")}}
	var recs []kafkatest.Record
	for _, tp := range []struct {
		topic string
		part  int32
		value string
	}{{"fw.a", 0, `{"a":0}`}, {"fw.a", 1, "{\n\"a\": 1\n}"}, {"fw.b", 0, "plain"}, {"other", 0, `{"a":3}`}, {"fw.dlq", 0, `{"a":4}`}} {
		recs = append(recs, kafkatest.Record{Topic: tp.topic, Partition: tp.part, Value: []byte(tp.value), Timestamp: at(200), Headers: hs})
	}
	produce(t, cluster.Brokers(), recs)
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + cluster.Brokers()[0] + `"]
  headers: {include: true}
routes:
  - name: archive
    topics_regex: 'fw\..*'
    dead_letter: {topic: fw.dlq}
    sink:
      type: file
      path: ` + filepath.Join(t.TempDir(), "a.ndjson") + `
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	runExport(t, cfg, Options{Dir: dir, Format: NDJSON})
	m, got := readDir(t, dir)
	var parts []string
	for _, r := range got {
		parts = append(parts, fmt.Sprintf("%s/%d", r.Topic, r.Partition))
	}
	slices.Sort(parts)
	if want := []string{"fw.a/0", "fw.a/1", "fw.b/0"}; !slices.Equal(parts, want) {
		t.Fatalf("exported %v, want %v", parts, want)
	}
	topics := slices.Clone(m.Topics)
	slices.Sort(topics)
	if want := []string{"fw.a", "fw.b"}; !slices.Equal(topics, want) {
		t.Errorf("manifest topics %v, want %v", topics, want)
	}
	for _, f := range m.Files {
		b := gunzipFile(t, filepath.Join(dir, f.Name))
		if !strings.Contains(string(b), `"event":`) || strings.Contains(string(b), "tenant") {
			t.Errorf("%s carries a Kafka header:\n%s", f.Name, b)
		}
	}
}

// gunzipFile returns the decompressed contents of an NDJSON export file.
func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

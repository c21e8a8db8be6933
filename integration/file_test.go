package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/gen"
)

// fileRouteYAML is a one-route configuration into the file sink.
func fileRouteYAML(brokers []string, topic, path string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: archive
    topics: [%q]
    start: oldest
    sink:
      type: file
      path: %q
      max_size: 1MiB
      max_files: 100
    batch: {max_events: 500, max_bytes: 512KiB, max_wait: 100ms}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    breaker: {failures: 3, max_probe_interval: 300ms}
    # Slow enough that the restart below happens in the middle.
    rate: {events_per_second: 4000}
    commit_interval: 200ms
shutdown_timeout: 10s
`, brokers[0], topic, path)
}

// TestFileRotationAndRestart produces 20000 events (about 15 MB) into a
// file route that rotates every MiB, and restarts the bridge half-way.
// Every event must be in the union of the files as one whole line (a
// replay after the restart may add duplicates), no file may hold more
// than one batch beyond max_size, and the group must have committed the
// log end.
func TestFileRotationAndRestart(t *testing.T) {
	const (
		topic      = "file-events"
		partitions = 4
		n          = 20000
	)
	cluster := startCluster(t, partitions, topic)
	path := filepath.Join(t.TempDir(), "archive", "events.ndjson")
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	cfg := parseConfig(t, fileRouteYAML(cluster.Brokers(), topic, path))

	b, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "half of the events delivered", func() bool {
		return b.Stats().Routes[0].Delivered >= n/2
	})
	stop()
	first := b.Stats().Routes[0].Delivered
	if first >= n {
		t.Fatalf("the first bridge delivered all %d events before the restart", first)
	}

	cfg = parseConfig(t, fileRouteYAML(cluster.Brokers(), topic, path))
	b2, stop2 := runBridge(t, cfg)
	waitFor(t, 120*time.Second, "every event in the files", func() bool {
		if first+b2.Stats().Routes[0].Delivered < n {
			return false
		}
		return len(fileSeqs(t, path)) == n
	})
	stop2()

	got := fileSeqs(t, path)
	dups := 0
	for s := int64(1); s <= n; s++ {
		switch c := got[s]; {
		case c == 0:
			t.Errorf("seq %d is in no file", s)
		case c > 1:
			dups++
		}
	}
	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Errorf("%d files for ~15 MB at max_size 1MiB: no rotation?", len(files))
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1<<20+512<<10+1<<20 { // a batch that did not fit opens a new file; it may exceed max_size only by itself
			t.Errorf("%s: %d bytes", f, fi.Size())
		}
	}
	// Order per partition: produceSeq writes seq s to partition s % 4 in
	// increasing order, so within a partition the first time each event
	// reaches the sink must follow the offsets. (Events re-sent after the
	// restart may appear again later; they never overtake a first delivery.)
	lastFirst := map[int64]int64{}
	seen := map[int64]bool{}
	for _, s := range fileSeqOrder(t, path) {
		if seen[s] {
			continue
		}
		seen[s] = true
		p := s % partitions
		if s < lastFirst[p] {
			t.Fatalf("partition %d: seq %d first arrived after seq %d", p, s, lastFirst[p])
		}
		lastFirst[p] = s
	}
	t.Logf("%d files, %d delivered before the restart, %d duplicated seqs", len(files), first, dups)
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-archive", topic)
}

// fileSeqOrder returns the sequence numbers of path's lines in the order
// they were written: the oldest rotated file (highest suffix) first.
func fileSeqOrder(t testing.TB, path string) []int64 {
	t.Helper()
	names := []string{path}
	for i := 1; ; i++ {
		name := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(name); err != nil {
			break
		}
		names = append(names, name)
	}
	var out []int64
	for i := len(names) - 1; i >= 0; i-- {
		data, err := os.ReadFile(names[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if s, ok := gen.Seq(line); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// fileSeqs maps each sequence number in path, path.1, path.2 … to its
// number of lines. Every line must be a whole event.
func fileSeqs(t testing.TB, path string) map[int64]int {
	t.Helper()
	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			s, ok := gen.Seq(sc.Bytes())
			if !ok {
				f.Close()
				t.Fatalf("%s: a line that is not a whole event: %.200q", name, sc.Bytes())
			}
			out[s]++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// Every test must leave no goroutine behind, except go-metrics' meter
// ticker: sarama's first meter starts it, once per process, and it runs
// until the process exits by that library's design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

func testConfig(t testing.TB, brokers []string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + brokers[0] + `"]
routes:
  - name: archive
    topics: [events]
    filter: 'host.name == "never"'
    sink:
      type: file
      path: ` + filepath.Join(t.TempDir(), "a.ndjson") + `
    batch: {max_events: 3, max_wait: 20ms}
    rate: {events_per_second: 5, catchup_events_per_second: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startCluster(t *testing.T, recs []kafkatest.Record) *kafkatest.Cluster {
	t.Helper()
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	produce(t, cluster.Brokers(), recs)
	return cluster
}

func produce(t testing.TB, brokers []string, recs []kafkatest.Record) {
	t.Helper()
	prod, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for len(recs) > 0 {
		n := min(len(recs), 5000)
		if err := prod.Send(recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

func jsonValue(host string, i int) []byte {
	return []byte(fmt.Sprintf(`{"host":{"name":%q},"event":{"action":"login","category":["authentication"]},"source":{"ip":"10.0.0.%d"},"user":{"name":"u%d"},"n":%d}`, host, i%250, i, i))
}

// outOfOrder is partition 0 stamped out of order around the window
// [100ms, 1000ms) and partition 1 with odd values: the window's events are
// offsets 1, 3, 4, 6 of partition 0 (0 is before the window, 5 after it)
// and 0-3 of partition 1.
func outOfOrder() []kafkatest.Record {
	var recs []kafkatest.Record
	for i, ms := range []int{50, 200, 80, 300, 350, 1500, 400} {
		host := "web-1"
		if i == 3 {
			host = "web-2"
		}
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 0, Key: []byte(fmt.Sprint("k", i)), Value: jsonValue(host, i), Timestamp: at(ms)})
	}
	odd := [][]byte{
		[]byte("plain text, not JSON"),
		[]byte("{\n  \"host\": {\"name\": \"web-1\"},\n  \"pretty\": true\n}\n"),
		{0xff, 0xfe, '{', '}'},
		[]byte(`{"host.name":"web-1","msg":"dotted key"}`),
	}
	for i, v := range odd {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 1, Key: []byte{0x80, byte(i)}, Value: v, Timestamp: at(500 + i)})
	}
	return recs
}

func runExport(t *testing.T, cfg *config.Config, opts Options) Result {
	t.Helper()
	opts.Route = "archive"
	if opts.From.IsZero() {
		opts.From, opts.To = at(100), at(1000)
	}
	opts.Logger = quiet
	opts.Rate, opts.RateBytes = 0, 0
	if opts.ToolVersion == "" {
		opts.ToolVersion = "siembridge test"
	}
	res, err := Run(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete {
		t.Fatal("not complete")
	}
	return res
}

func readDir(t *testing.T, dir string) (*Manifest, []Record) {
	t.Helper()
	m, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, f := range m.Files {
		if err := ReadFile(filepath.Join(dir, f.Name), m.Format, func(r Record) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return m, recs
}

func offsets(recs []Record) map[int32][]int64 {
	out := map[int32][]int64{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r.Offset)
	}
	return out
}

// TestExportFilterVerify: a window with a filter over out-of-order
// timestamps is exported exactly (nothing stamped in the window lost,
// nothing outside it included), verifies, and a flipped byte in one file
// makes verify fail naming that file. The route's own filter plays no
// part.
func TestExportFilterVerify(t *testing.T) {
	cluster := startCluster(t, outOfOrder())
	cfg := testConfig(t, cluster.Brokers())
	for _, format := range []Format{NDJSON, Parquet} {
		t.Run(string(format), func(t *testing.T) {
			expr := `host.name == "web-1"`
			sel, err := filter.Compile(expr)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "out")
			res := runExport(t, cfg, Options{Dir: dir, Format: format, Filter: sel.Accepts, FilterText: expr})
			m, recs := readDir(t, dir)
			// Partition 0: 3 is web-2. Partition 1: the pretty object and
			// the dotted key are web-1.
			want := map[int32][]int64{0: {1, 4, 6}, 1: {1, 3}}
			if got := offsets(recs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("offsets %v, want %v", got, want)
			}
			if m.Events != 5 || res.Delivered != 5 || m.Filtered != 3 || m.Skipped != 3 {
				t.Errorf("events %d (delivered %d), filtered %d, skipped %d; want 5, 3, 3", m.Events, res.Delivered, m.Filtered, m.Skipped)
			}
			if m.Filter != expr || m.ClusterID != "kfake" || m.ToolVersion != "siembridge test" || m.Lateness != "15m0s" || !m.Complete {
				t.Errorf("manifest %+v", m)
			}
			p0 := m.Partitions[0]
			// Offset 5, stamped at 1500ms, is not at or after to +
			// lateness: the reading goes on to the end.
			if p0.StartOffset != 0 || p0.EndOffset != 7 || p0.StopOffset != 7 || p0.FirstOffset != 1 || p0.LastOffset != 6 || p0.Events != 3 {
				t.Errorf("partition 0 %+v", p0)
			}
			for _, name := range []string{StateName, CheckpointName} {
				if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind: %v", name, err)
				}
			}

			rep, err := VerifyFiles(dir)
			if err != nil || rep.Verdict() != Pass || rep.Events != 5 {
				t.Fatalf("verify: %v %v %d %v", err, rep.Verdict(), rep.Events, rep.Problems)
			}
			if err := VerifyKafka(context.Background(), cfg, dir, rep); err != nil || rep.Verdict() != Pass || rep.Compared != 5 {
				t.Fatalf("verify kafka: %v %v compared %d %v", err, rep.Verdict(), rep.Compared, rep.Problems)
			}

			victim := m.Files[len(m.Files)-1].Name
			flipByte(t, filepath.Join(dir, victim))
			rep, err = VerifyFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict() != Mismatch || len(rep.Problems) != 1 || rep.Problems[0].File != victim || !strings.Contains(rep.Problems[0].String(), "SHA-256") {
				t.Fatalf("after flipping a byte of %s: %v %v", victim, rep.Verdict(), rep.Problems)
			}
		})
	}
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportRoundTrip: values that are not one-line JSON objects (text,
// pretty JSON, invalid UTF-8, binary keys) come back byte for byte from
// both formats, and verify --config compares them with the log.
func TestExportRoundTrip(t *testing.T) {
	recs := outOfOrder()
	cluster := startCluster(t, recs)
	cfg := testConfig(t, cluster.Brokers())
	for _, format := range []Format{NDJSON, Parquet} {
		t.Run(string(format), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			runExport(t, cfg, Options{Dir: dir, Format: format})
			_, got := readDir(t, dir)
			want := map[int32][]int64{0: {1, 3, 4, 6}, 1: {0, 1, 2, 3}}
			if o := offsets(got); fmt.Sprint(o) != fmt.Sprint(want) {
				t.Fatalf("offsets %v, want %v", o, want)
			}
			for _, r := range got {
				i := int(r.Offset)
				if r.Partition == 1 {
					i += 7
				}
				src := recs[i]
				if string(r.Value) != string(src.Value) || string(r.Key) != string(src.Key) || !r.Timestamp.Equal(src.Timestamp) || r.Topic != "events" {
					t.Errorf("%d/%d: got %q key %q at %s, want %q key %q at %s", r.Partition, r.Offset, r.Value, r.Key, r.Timestamp, src.Value, src.Key, src.Timestamp)
				}
			}
			rep, err := VerifyFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyKafka(context.Background(), cfg, dir, rep); err != nil || rep.Verdict() != Pass || rep.Compared != 8 {
				t.Fatalf("verify kafka: %v %v %d %v", err, rep.Verdict(), rep.Compared, rep.Problems)
			}
		})
	}
}

// TestNDJSONLines: the lines analysts read: the event as the value when it
// is a one-line object, coordinates and record time beside it.
func TestNDJSONLines(t *testing.T) {
	ev := event.New("events", 3, 42, at(7), []byte("k"), []byte(`{"a":1}`))
	line := string(appendNDJSON(nil, ev, new(bytes.Buffer)))
	want := `{"kafka_topic":"events","kafka_partition":3,"kafka_offset":42,"record_timestamp":"2024-05-01T12:00:00.007Z","kafka_key":"k","event":{"a":1}}` + "\n"
	if line != want {
		t.Errorf("got  %s want %s", line, want)
	}
	ev = event.New("events", 3, 43, at(7), nil, []byte("text"))
	var l map[string]any
	if err := json.Unmarshal(appendNDJSON(nil, ev, new(bytes.Buffer)), &l); err != nil {
		t.Fatal(err)
	}
	if l["kafka_value_base64"] != "dGV4dA==" || l["event"].(map[string]any)["message"] != "text" {
		t.Errorf("wrapped line %v", l)
	}
}

// TestVerifyKafkaMismatch: the same topic produced with other values on
// another cluster, and a file rewritten with its manifest hash updated,
// both fail verify --config naming topic, partition and offset.
func TestVerifyKafkaMismatch(t *testing.T) {
	recs := outOfOrder()
	cluster := startCluster(t, recs)
	cfg := testConfig(t, cluster.Brokers())
	dir := filepath.Join(t.TempDir(), "out")
	runExport(t, cfg, Options{Dir: dir})

	t.Run("other cluster", func(t *testing.T) {
		other := slices.Clone(recs)
		other[4].Value = []byte(`{"host":{"name":"web-1"},"changed":true}`)
		c2 := startCluster(t, other)
		rep, err := VerifyFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyKafka(context.Background(), testConfig(t, c2.Brokers()), dir, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Verdict() != Mismatch || len(rep.Problems) != 1 || rep.Problems[0].Offset != 4 || rep.Problems[0].Partition != 0 {
			t.Fatalf("%v %v", rep.Verdict(), rep.Problems)
		}
		if !strings.Contains(rep.Problems[0].String(), "events/0 offset 4") {
			t.Errorf("problem %s", rep.Problems[0])
		}
	})
	t.Run("rewritten file", func(t *testing.T) {
		m, err := LoadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		f := &m.Files[0]
		path := filepath.Join(dir, f.Name)
		var keep []*event.Event
		if err := ReadFile(path, NDJSON, func(r Record) error {
			v := r.Value
			if r.Offset == 3 {
				v = []byte(`{"host":{"name":"web-1"},"forged":true}`)
			}
			keep = append(keep, event.New(r.Topic, r.Partition, r.Offset, r.Timestamp, r.Key, v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		w := newWriter(tmp, NDJSON, 1<<30, nil, func(fe FileEntry) error {
			f.SHA256, f.Size = fe.SHA256, fe.Size
			return nil
		}, func(error) {}, nil)
		if err := w.Send(context.Background(), keep); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		forged, err := os.ReadFile(filepath.Join(tmp, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, forged, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := writeJSONFile(filepath.Join(dir, ManifestName), m); err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyFiles(dir)
		if err != nil || rep.Verdict() != Pass {
			t.Fatalf("files: %v %v", err, rep.Problems)
		}
		if err := VerifyKafka(context.Background(), cfg, dir, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Verdict() != Mismatch || rep.Problems[0].Offset != 3 || rep.Problems[0].File != f.Name {
			t.Fatalf("%v %v", rep.Verdict(), rep.Problems)
		}
	})
	t.Run("not retained", func(t *testing.T) {
		admin, err := sarama.NewClusterAdmin(cluster.Brokers(), kafkatest.Config())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if err := admin.DeleteRecords("events", map[int32]int64{0: 4}); err != nil {
			t.Fatal(err)
		}
		// The rewritten file of the subtest above is restored by a fresh
		// export to another directory.
		dir := filepath.Join(t.TempDir(), "out")
		opts := Options{Dir: dir, AllowPartial: true, From: at(300), To: at(1000)}
		runExport(t, cfg, opts)
		if err := admin.DeleteRecords("events", map[int32]int64{0: 6}); err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyKafka(context.Background(), cfg, dir, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Verdict() != NotRetained || rep.NotRetained != 1 || rep.Compared == 0 {
			t.Fatalf("%v not retained %d compared %d %v", rep.Verdict(), rep.NotRetained, rep.Compared, rep.Problems)
		}
	})
}

// TestRotationAndResume: small files rotate by size; an export interrupted
// after its first files resumes without writing an event twice or missing
// one, and the partial file of the interrupted run is gone.
func TestRotationAndResume(t *testing.T) {
	var recs []kafkatest.Record
	for i := range 3000 {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2), Value: jsonValue("web-1", i), Timestamp: at(200 + i/10)})
	}
	cluster := startCluster(t, recs)
	cfg := testConfig(t, cluster.Brokers())
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Route: "archive", From: at(100), To: at(1000), Dir: dir, MaxFileSize: 4 << 10, Logger: quiet,
		Rate: 1000, RateBytes: 0, Parallel: 2, ProgressInterval: 10 * time.Millisecond,
		Filter: func(ev *event.Event) bool { return ev.Offset%3 != 0 }, FilterText: "offset % 3 != 0",
		OnProgress: func(p Progress) {
			if p.Files >= 2 {
				cancel()
			}
		}}
	res, err := Run(ctx, cfg, opts)
	if err == nil || res.Complete {
		t.Fatalf("the interrupted export: %v complete %v", err, res.Complete)
	}
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Files) < 2 {
		t.Fatalf("%d files complete", len(st.Files))
	}
	// A run killed while writing leaves a partial file.
	if err := os.WriteFile(filepath.Join(dir, "events-p0000-000099.ndjson.gz.partial"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}

	opts.Resume, opts.OnProgress, opts.Rate = true, nil, 0
	res, err = Run(context.Background(), cfg, opts)
	if err != nil || !res.Complete {
		t.Fatalf("resume: %v", err)
	}
	m, got := readDir(t, dir)
	// Each partition holds offsets 0-1499; the filter leaves out every
	// third, exactly counted over both runs.
	if m.Runs != 2 || m.Events != 2000 || len(got) != 2000 || m.Filtered != 1000 {
		t.Fatalf("runs %d, %d events in the manifest, %d read, %d filtered", m.Runs, m.Events, len(got), m.Filtered)
	}
	o := offsets(got)
	for p, offs := range o {
		want := int64(1)
		for _, off := range offs {
			if off != want {
				t.Fatalf("partition %d: offset %d, want %d (duplicate or gap)", p, off, want)
			}
			if want++; want%3 == 0 {
				want++
			}
		}
	}
	for _, p := range m.Partitions {
		if p.Filtered != 500 || p.Events != 1000 || p.FirstOffset != 1 || p.LastOffset != 1499 {
			t.Errorf("partition %+v", p)
		}
	}
	perPart := map[int32]int{}
	for _, f := range m.Files {
		perPart[f.Partition]++
		if f.Index != perPart[f.Partition] {
			t.Errorf("%s: index %d, want %d", f.Name, f.Index, perPart[f.Partition])
		}
		if f.Size > 4<<10+(300<<10) {
			t.Errorf("%s: %d bytes", f.Name, f.Size)
		}
	}
	if perPart[0] < 3 || perPart[1] < 3 {
		t.Errorf("files per partition %v: no rotation?", perPart)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(matches) > 0 {
		t.Errorf("partial files left: %v", matches)
	}
	rep, err := VerifyFiles(dir)
	if err != nil || rep.Verdict() != Pass {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

// TestRefusesExistingExport: a new export does not overwrite a directory
// holding one, complete or interrupted.
func TestRefusesExistingExport(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateName), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := startState(Options{Dir: dir})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "out" || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("%v", err)
	}
}

// TestExportNoLateness: without lateness a partition stops at its first
// record stamped at or after To (offset 5 of partition 0): offset 6, back
// inside the window, is not read, and the manifest says where the reading
// stopped.
func TestExportNoLateness(t *testing.T) {
	cluster := startCluster(t, outOfOrder())
	cfg := testConfig(t, cluster.Brokers())
	dir := filepath.Join(t.TempDir(), "out")
	runExport(t, cfg, Options{Dir: dir, Lateness: -1})
	m, recs := readDir(t, dir)
	if got := fmt.Sprint(offsets(recs)[0]); got != "[1 3 4]" {
		t.Errorf("partition 0 offsets %s, want [1 3 4]", got)
	}
	if p := m.Partitions[0]; m.Lateness != "0s" || p.StartOffset != 1 || p.StopOffset != 5 || p.EndOffset != 7 {
		t.Errorf("lateness %s, partition 0 %+v", m.Lateness, p)
	}
	if rep, err := VerifyFiles(dir); err != nil || rep.Verdict() != Pass {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

// TestRewindCheckpoint: after a crash the reading's checkpoint may be
// ahead of the complete files (events written to a file that was never
// completed): each partition goes back to after its last complete file,
// or to its start when it has none; one behind them stays.
func TestRewindCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), CheckpointName)
	cp := &checkpoint.ReplayState{Route: "archive", From: at(100), To: at(1000), Lateness: 15 * time.Minute,
		Partitions: []checkpoint.ReplayPartition{
			{Topic: "events", Partition: 0, Start: 10, End: 500, Next: 400, Skipped: 30},       // ahead of its file (last 199)
			{Topic: "events", Partition: 1, Start: 20, End: 300, Next: 300, Done: true},        // no file: from the start
			{Topic: "events", Partition: 2, Start: 0, End: 100, Next: 50, Skipped: 5},          // behind its file (last 80): kept
			{Topic: "events", Partition: 3, Start: 5, End: 9, Next: 9, Done: true, Skipped: 4}, // file up to 8: done stays
		}}
	if err := checkpoint.SaveReplay(path, cp); err != nil {
		t.Fatal(err)
	}
	st := &Manifest{Runs: 2, Files: []FileEntry{
		{Topic: "events", Partition: 0, Index: 1, LastOffset: 120},
		{Topic: "events", Partition: 0, Index: 2, LastOffset: 199},
		{Topic: "events", Partition: 2, Index: 1, LastOffset: 80},
		{Topic: "events", Partition: 3, Index: 1, LastOffset: 8},
	}}
	resume, err := rewindCheckpoint(path, st)
	if err != nil || !resume {
		t.Fatalf("%v %v", resume, err)
	}
	got, err := checkpoint.LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		next int64
		done bool
	}{{200, false}, {20, false}, {50, false}, {9, true}}
	for i, w := range want {
		if p := got.Partitions[i]; p.Next != w.next || p.Done != w.done || p.Skipped > p.Next-p.Start {
			t.Errorf("partition %d: %+v, want next %d done %v", i, p, w.next, w.done)
		}
	}
}

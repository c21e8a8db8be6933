package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// recordingSink keeps what it was sent.
type recordingSink struct {
	mu     sync.Mutex
	events []*event.Event
	closed bool
}

func (s *recordingSink) Send(_ context.Context, batch []*event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, batch...)
	return nil
}
func (s *recordingSink) Probe(context.Context) error { return nil }
func (s *recordingSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *recordingSink) offsets() map[int32][]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32][]int64{}
	for _, ev := range s.events {
		out[ev.Partition] = append(out[ev.Partition], ev.Offset)
	}
	return out
}

func replayTestConfig(t *testing.T, brokers []string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
kafka:
  brokers: ["` + brokers[0] + `"]
routes:
  - name: elastic
    topics: [events]
    sink:
      type: elasticsearch
      urls: ["http://127.0.0.1:1"]
      index: "security-%{+yyyy.MM.dd}"
    batch: {max_events: 2, max_wait: 50ms}
    rate: {events_per_second: 100, catchup_events_per_second: 200}
  - name: archive
    topics: [events]
    sink:
      type: file
      path: ` + filepath.Join(t.TempDir(), "a.ndjson") + `
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestReplayBoundaries: a partition starts at the first record at or after
// From − lateness, skips the records outside [From, To) met on the way,
// and stops at a record at or after To + lateness. Without lateness, the
// first record at or after To ends it even if later ones are back inside
// the window. A partition with nothing at or after From replays nothing.
func TestReplayBoundaries(t *testing.T) {
	for _, tt := range []struct {
		lateness time.Duration
		want     []int64
		skipped  int64
		total    int64
	}{
		// Default 15m: offset 0 (before From) and 5 (after To) are
		// read and skipped, and both of partition 1; 6, back in the
		// window, is delivered.
		{0, []int64{1, 3, 4, 6}, 3 + 2, 7 + 2},
		// None: start at offset 1, stop at offset 5.
		{-1, []int64{1, 3, 4}, 1, 6},
	} {
		t.Run(fmt.Sprint("lateness ", tt.lateness), func(t *testing.T) { testReplayBoundaries(t, tt.lateness, tt.want, tt.skipped, tt.total) })
	}
}

func testReplayBoundaries(t *testing.T, lateness time.Duration, want []int64, skipped, total int64) {
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	var recs []kafkatest.Record
	// Partition 0, offsets 0..6.
	for _, ms := range []int{50, 200, 80, 300, 350, 1500, 400} {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 0, Value: []byte(`{"a":1}`), Timestamp: at(ms)})
	}
	// Partition 1: everything before From.
	for _, ms := range []int{10, 20} {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 1, Value: []byte(`{"a":1}`), Timestamp: at(ms)})
	}
	cluster := startEvents(t, 2, recs)

	cfg := replayTestConfig(t, cluster.Brokers())
	sink := &recordingSink{}
	cp := filepath.Join(t.TempDir(), "cp.json")
	var last Progress
	res, err := Run(context.Background(), cfg, Options{
		Route: "elastic", From: at(100), To: at(1000), Rate: 0, Sink: sink, Logger: quiet, Lateness: lateness,
		Checkpoint: cp, OnProgress: func(p Progress) { last = p },
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	got := sink.offsets()
	if !equalInt64(got[0], want) || len(got[1]) != 0 {
		t.Fatalf("delivered offsets %v, want partition 0: %v and nothing of partition 1", got, want)
	}
	if res.Delivered != int64(len(want)) || res.Skipped != skipped || res.Partitions != 2 || res.PartitionsDone != 2 || res.Done != res.Total {
		t.Errorf("result %+v, want %d skipped", res, skipped)
	}
	if res.Total != total {
		t.Errorf("total %d, want %d", res.Total, total)
	}
	if last != res.Progress {
		t.Errorf("last OnProgress %+v differs from the result %+v", last, res.Progress)
	}
	if !sink.closed {
		t.Error("Replay did not close the sink")
	}
	if _, err := checkpoint.LoadReplay(cp); err == nil {
		t.Error("checkpoint left behind after a complete replay")
	}
}

// startEvents starts a cluster whose topic "events" has the given number
// of partitions and holds the records of batches, each batch sent in one
// call, in order. The cluster is closed at the end of the test.
func startEvents(t *testing.T, partitions int32, batches ...[]kafkatest.Record) *kafkatest.Cluster {
	t.Helper()
	cluster, err := kafkatest.Start(partitions, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, recs := range batches {
		if err := prod.Send(recs...); err != nil {
			t.Fatal(err)
		}
	}
	return cluster
}

// stamped returns n records of topic "events" spread round-robin over
// partitions, record i stamped base + i·step.
func stamped(partitions int32, n int, base time.Time, step time.Duration) []kafkatest.Record {
	recs := make([]kafkatest.Record, n)
	for i := range recs {
		recs[i] = kafkatest.Record{Topic: "events", Partition: int32(i) % partitions, Value: []byte(`{"a":1}`), Timestamp: base.Add(time.Duration(i) * step)}
	}
	return recs
}

// startWithRecords starts a cluster whose topic "events" holds n records
// spread round-robin over its partitions, record i stamped base + i
// seconds.
func startWithRecords(t *testing.T, partitions int32, n int) (*kafkatest.Cluster, time.Time) {
	t.Helper()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return startEvents(t, partitions, stamped(partitions, n, base, time.Second)), base
}

// replayWholeWindow replays [base, base + 1h) of the cluster of
// startWithRecords(t, 1, n) into a recording sink and fails t unless the
// run completes having delivered offsets 0..n-1 in order.
func replayWholeWindow(t *testing.T, cluster *kafkatest.Cluster, base time.Time, n int) {
	t.Helper()
	sink := &recordingSink{}
	cfg := replayTestConfig(t, cluster.Brokers())
	res, err := Run(context.Background(), cfg, Options{
		Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Sink: sink, Logger: quiet,
		Checkpoint: filepath.Join(t.TempDir(), "cp.json"),
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i)
	}
	if got := sink.offsets(); !equalInt64(got[0], want) {
		t.Fatalf("delivered %v, want offsets 0..%d", got[0], n-1)
	}
}

// TestReplayResumeSkipsDone: a resumed job starts each partition at its
// saved watermark and does not touch finished partitions.
func TestReplayResumeSkipsDone(t *testing.T) {
	cluster, base := startWithRecords(t, 2, 20)
	from, to := base, base.Add(time.Hour)
	cp := filepath.Join(t.TempDir(), "cp.json")
	st := &checkpoint.ReplayState{Route: "elastic", From: from, To: to, Lateness: DefaultLateness, Partitions: []checkpoint.ReplayPartition{
		{Topic: "events", Partition: 0, Start: 0, End: 10, Next: 7},
		{Topic: "events", Partition: 1, Start: 0, End: 10, Next: 10, Done: true},
	}}
	if err := checkpoint.SaveReplay(cp, st); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	cfg := replayTestConfig(t, cluster.Brokers())
	res, err := Run(context.Background(), cfg, Options{Route: "elastic", From: from, To: to, Rate: 0, Sink: sink, Logger: quiet, Checkpoint: cp, Resume: true})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	if got := sink.offsets(); !equalInt64(got[0], []int64{7, 8, 9}) || len(got[1]) != 0 {
		t.Fatalf("delivered %v, want offsets 7..9 of partition 0 only", got)
	}
}

func equalInt64(a, b []int64) bool {
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReplayRouteOptions(t *testing.T) {
	cfg := replayTestConfig(t, []string{"127.0.0.1:1"})
	from, to := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC)
	ok := Options{Route: "elastic", From: from, To: to, Rate: -1}

	rc, err := replayRoute(cfg, ok)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Rate.EventsPerSecond != 200 || rc.Rate.CatchupEventsPerSecond != 200 || rc.Rate.CatchupLag != 0 || rc.Rate.Burst != 0 {
		t.Errorf("default rate: %+v, want the catch-up rate 200 in one mode", rc.Rate)
	}
	o := ok
	o.Rate = 50
	if rc, _ = replayRoute(cfg, o); rc.Rate.EventsPerSecond != 50 {
		t.Errorf("--rate 50: %+v", rc.Rate)
	}
	o.Rate = 0
	if rc, _ = replayRoute(cfg, o); rc.Rate.EventsPerSecond != 0 || rc.Rate.BytesPerSecond != 0 {
		t.Errorf("--rate 0: %+v", rc.Rate)
	}
	o.RateBytes = 1 << 20
	if rc, _ = replayRoute(cfg, o); rc.Rate.EventsPerSecond != 0 || rc.Rate.BytesPerSecond != config.MiB || rc.Rate.CatchupBytesPerSecond != config.MiB {
		t.Errorf("--rate 0 --rate-bytes 1MiB: %+v", rc.Rate)
	}
	o.Rate, o.RateBytes = -1, -1
	if rc, _ = replayRoute(cfg, o); rc.Rate.EventsPerSecond != 200 || rc.Rate.BytesPerSecond != 0 {
		t.Errorf("--rate-bytes 0 (unlimited): %+v", rc.Rate)
	}
	o = ok
	o.Index = "forensics-case-42-%{+yyyy.MM}"
	if rc, err = replayRoute(cfg, o); err != nil || rc.Sink.Elasticsearch.Index != o.Index {
		t.Fatalf("--index: %v, %v", rc.Sink.Elasticsearch, err)
	}
	if cfg.Routes[0].Sink.Elasticsearch.Index != "security-%{+yyyy.MM.dd}" {
		t.Errorf("--index changed the configuration itself: %s", cfg.Routes[0].Sink.Elasticsearch.Index)
	}

	bad := []struct {
		mod    func(*Options)
		option string
		msg    string
	}{
		{func(o *Options) { o.Route = "nope" }, "route", `no route named "nope" (routes: elastic, archive)`},
		{func(o *Options) { o.From = time.Time{} }, "from", "required"},
		{func(o *Options) { o.To = time.Time{} }, "to", "required"},
		{func(o *Options) { o.To = o.From }, "to", "is not after"},
		{func(o *Options) { o.Resume = true }, "resume", "checkpoint"},
		{func(o *Options) { o.RateBytes = 0.5 }, "rate-bytes", "at least 1 byte/s"},
		{func(o *Options) { o.Index = "bad-%{+yyyy" }, "index", ""},
		{func(o *Options) { o.Route, o.Index = "archive", "x" }, "index", "only elasticsearch and splunk_hec"},
	}
	for _, b := range bad {
		o := ok
		b.mod(&o)
		_, err := replayRoute(cfg, o)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != b.option || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%+v: error %v, want option %s with %q", o, err, b.option, b.msg)
		}
	}
}

func TestReplaySinkSplunk(t *testing.T) {
	s := config.Sink{Type: "splunk_hec", SplunkHEC: &config.SplunkHEC{URL: "https://splunk:8088", Index: "main"}}
	got, err := replaySink(s, "forensics")
	if err != nil || got.SplunkHEC.Index != "forensics" || s.SplunkHEC.Index != "main" {
		t.Fatalf("replaySink: %+v, %v (original %q)", got.SplunkHEC, err, s.SplunkHEC.Index)
	}
	if _, err := replaySink(s, "f-%{+yyyy}"); err == nil {
		t.Error("a template accepted as a Splunk index")
	}
}

// TestReplayFetchErrorsAreNotIdleness: while fetches of a partition fail,
// the partition is not taken as finished however long that lasts; once
// they succeed, every record of the window is delivered.
func TestReplayFetchErrorsAreNotIdleness(t *testing.T) {
	cluster, base := startWithRecords(t, 1, 20)

	// Every fetch of the partition fails (UNKNOWN_SERVER_ERROR, which
	// sarama reports and retries every 2 s), the end probe's too, for
	// several probe periods.
	fault := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: "events", Count: -1})
	lift := time.AfterFunc(5*tailCheckAfter, fault.Remove)
	defer lift.Stop()

	replayWholeWindow(t, cluster, base, 20)
	if fault.Hits() == 0 {
		t.Fatal("no fetch failed: the test tested nothing")
	}
}

// TestReplayLateRecords is issue 12's partition: 1000 events stamped
// 01:00–01:30, then 1000 stamped 02:01–02:03, then 1000 stamped
// 01:30–01:59. Replaying [01:00, 02:00) delivers the 2000 in the window
// and counts the 1000 others as skipped: the records stamped after To but
// within the lateness bound do not end the partition.
func TestReplayLateRecords(t *testing.T) {
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	hm := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	spread := func(from, to time.Time, n int) []kafkatest.Record {
		return stamped(1, n, from, to.Sub(from)/time.Duration(n))
	}
	cluster := startEvents(t, 1, spread(hm(1, 0), hm(1, 30), 1000), spread(hm(2, 1), hm(2, 3), 1000), spread(hm(1, 30), hm(1, 59), 1000))

	cfg := replayTestConfig(t, cluster.Brokers())
	cfg.Routes[0].Batch.MaxEvents = 500
	sink := &recordingSink{}
	res, err := Run(context.Background(), cfg, Options{
		Route: "elastic", From: hm(1, 0), To: hm(2, 0), Rate: 0, Sink: sink, Logger: quiet,
		Checkpoint: filepath.Join(t.TempDir(), "cp.json"),
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	var want []int64
	for o := range int64(3000) {
		if o < 1000 || o >= 2000 {
			want = append(want, o)
		}
	}
	if got := sink.offsets(); !equalInt64(got[0], want) {
		t.Fatalf("delivered %d events, want the 2000 of offsets 0..999 and 2000..2999", len(got[0]))
	}
	if res.Delivered != 2000 || res.Skipped != 1000 {
		t.Errorf("result %+v, want 2000 delivered and 1000 skipped", res)
	}
}

// hangFetches makes every Fetch the broker receives wait until the
// returned release function is called (or the cluster closes); then they
// are answered normally.
func hangFetches(cluster *kafkatest.Cluster) (release func(), hung *atomic.Int32) {
	ch := make(chan struct{})
	hung = new(atomic.Int32)
	cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		select {
		case <-ch:
			return nil, nil, false
		default:
		}
		hung.Add(1)
		cluster.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }, hung
}

// TestReplayHungFetchIsNotTheEnd: fetches that hang for longer than the
// old idle rule allowed do not end the partition; once they are answered,
// every record of the window is delivered.
func TestReplayHungFetchIsNotTheEnd(t *testing.T) {
	cluster, base := startWithRecords(t, 1, 20)
	release, hung := hangFetches(cluster)
	defer release()
	lift := time.AfterFunc(3*time.Second, release)
	defer lift.Stop()

	replayWholeWindow(t, cluster, base, 20)
	if hung.Load() == 0 {
		t.Fatal("no fetch hung: the test tested nothing")
	}
}

// deleteRecords moves the log start of events/partition to offset, as
// retention does.
func deleteRecords(t *testing.T, cluster *kafkatest.Cluster, partition int32, offset int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cluster.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords("events", map[int32]int64{partition: offset}); err != nil {
		t.Fatal(err)
	}
}

// TestReplayRetentionGap: a window that starts before the oldest record
// Kafka still holds is refused with an error naming the lost part (from
// T1 to the oldest record's time); AllowPartial replays the rest.
func TestReplayRetentionGap(t *testing.T) {
	// Records stamped base, base+1m, ... one a minute.
	cluster, base := plantedCluster(t)
	deleteRecords(t, cluster, 0, 20) // the oldest record left is stamped 01:20

	cfg := replayTestConfig(t, cluster.Brokers())
	opts := Options{Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Logger: quiet}
	sink := &recordingSink{}
	opts.Sink = sink
	res, err := Run(context.Background(), cfg, opts)
	if err == nil || res.Complete {
		t.Fatalf("Replay of a window partly deleted by retention: %+v, %v; want an error", res, err)
	}
	for _, want := range []string{"2024-05-01T01:00:00Z", "2024-05-01T01:20:00Z", "20m", "events/0", "--allow-partial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(sink.offsets()[0]); n != 0 {
		t.Errorf("%d events delivered before the refusal", n)
	}
	var re *RetentionError
	if !errors.As(err, &re) || len(re.Gaps) != 1 || re.Gaps[0].Lost != 20*time.Minute {
		t.Errorf("error %#v, want a *RetentionError with one 20m gap", err)
	}
	t.Logf("refusal: %v", err)

	sink = &recordingSink{}
	opts.Sink, opts.AllowPartial = sink, true
	res, err = Run(context.Background(), cfg, opts)
	if err != nil || !res.Complete || len(res.Gaps) != 1 || res.Delivered != 40 {
		t.Fatalf("--allow-partial: %+v, %v; want the 40 records left", res, err)
	}
}

func TestReplayWindowClassify(t *testing.T) {
	from := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	tests := []struct {
		lateness      time.Duration
		ts            time.Time
		deliver, done bool
	}{
		{15 * time.Minute, from.Add(-20 * time.Minute), false, false},
		{15 * time.Minute, from.Add(-time.Nanosecond), false, false},
		{15 * time.Minute, from, true, false},
		{15 * time.Minute, to.Add(-time.Nanosecond), true, false},
		{15 * time.Minute, to, false, false},
		{15 * time.Minute, to.Add(15*time.Minute - time.Nanosecond), false, false},
		{15 * time.Minute, to.Add(15 * time.Minute), false, true},
		{15 * time.Minute, to.Add(24 * time.Hour), false, true},
		{0, from.Add(-time.Second), false, false},
		{0, from, true, false},
		{0, to, false, true},
	}
	for _, tt := range tests {
		w := replayWindow{from: from, to: to, lateness: tt.lateness}
		if deliver, done := w.Classify(tt.ts); deliver != tt.deliver || done != tt.done {
			t.Errorf("lateness %s, record at %s: deliver=%v done=%v, want %v %v", tt.lateness, tt.ts.Format(time.RFC3339Nano), deliver, done, tt.deliver, tt.done)
		}
	}
	if got := (replayWindow{from: from, to: to, lateness: time.Minute}).startTime(); !got.Equal(from.Add(-time.Minute)) {
		t.Errorf("startTime %s", got)
	}
}

func TestReplayOptionsLateness(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{{0, DefaultLateness}, {-1, 0}, {time.Minute, time.Minute}} {
		if got := (Options{Lateness: tt.in}).lateness(); got != tt.want {
			t.Errorf("Lateness %s: effective %s, want %s", tt.in, got, tt.want)
		}
	}
}

// batchAt is a record batch of offsets [first, first+n) (no records kept
// for the offsets in gone, as compaction leaves it).
func batchAt(first int64, n int, control bool, gone ...int64) *sarama.Records {
	b := &sarama.RecordBatch{FirstOffset: first, LastOffsetDelta: int32(n - 1), Control: control, Version: 2}
	for d := range int64(n) {
		if slices.Contains(gone, first+d) {
			continue
		}
		b.Records = append(b.Records, &sarama.Record{OffsetDelta: d, TimestampDelta: time.Duration(d) * time.Second})
	}
	return &sarama.Records{RecordBatch: b}
}

func TestReplayScanTail(t *testing.T) {
	tests := []struct {
		name      string
		sets      []*sarama.Records
		partial   bool
		next, end int64
		want      tailVerdict
		after     int64
	}{
		{"nothing at or after next", nil, false, 10, 12, tailEmpty, 10},
		{"truncated answer", nil, true, 10, 12, tailUnknown, 10},
		{"commit marker is the last offset", []*sarama.Records{batchAt(10, 1, true)}, false, 10, 11, tailEmpty, 11},
		{"a record before the marker", []*sarama.Records{batchAt(9, 1, false), batchAt(10, 1, true)}, false, 9, 11, tailHasRecord, 9},
		{"already-read batch, then a marker", []*sarama.Records{batchAt(5, 5, false), batchAt(10, 1, true)}, false, 10, 11, tailEmpty, 11},
		{"compacted tail", []*sarama.Records{batchAt(10, 5, false, 12, 13, 14)}, false, 12, 15, tailEmpty, 15},
		{"compacted middle, record before end", []*sarama.Records{batchAt(10, 5, false, 12, 13)}, false, 12, 15, tailHasRecord, 12},
		{"markers then a batch past end", []*sarama.Records{batchAt(10, 1, true), batchAt(20, 3, false)}, false, 10, 15, tailEmpty, 11},
		{"markers, answer ends before end", []*sarama.Records{batchAt(10, 1, true), batchAt(11, 1, true)}, false, 10, 15, tailUnknown, 12},
	}
	for _, tt := range tests {
		v, after := scanTail(&sarama.FetchResponseBlock{RecordsSet: tt.sets, Partial: tt.partial}, tt.next, tt.end)
		if v != tt.want || after != tt.after {
			t.Errorf("%s: %v, %d; want %v, %d", tt.name, v, after, tt.want, tt.after)
		}
	}
}

func TestReplayWindowGap(t *testing.T) {
	from := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	w := replayWindow{from: from, to: from.Add(time.Hour), lateness: 15 * time.Minute}
	tests := []struct {
		name     string
		logStart int64
		oldest   time.Time
		found    bool
		gap      bool
		lost     time.Duration
	}{
		{"nothing deleted", 0, from.Add(20 * time.Minute), true, false, 0},
		{"deleted records all older than the window", 20, from, true, false, 0},
		{"first 20 minutes gone", 20, from.Add(20 * time.Minute), true, true, 20 * time.Minute},
		{"whole window gone", 20, from.Add(2 * time.Hour), true, true, time.Hour},
		{"no record left", 20, time.Time{}, false, true, time.Hour},
	}
	for _, tt := range tests {
		g, ok := windowGap(w, "events", 0, tt.logStart, tt.oldest, tt.found)
		if ok != tt.gap || g.Lost != tt.lost {
			t.Errorf("%s: gap %v (%+v), want %v lost %s", tt.name, ok, g, tt.gap, tt.lost)
		}
	}
	if _, ok := resumeGap(checkpoint.ReplayPartition{Next: 5, End: 30}, 20); !ok {
		t.Error("resume below the log start: no gap")
	}
	if _, ok := resumeGap(checkpoint.ReplayPartition{Next: 20, End: 30}, 20); ok {
		t.Error("resume at the log start: a gap")
	}
}

// TestReplayResumeBelowLogStart: a checkpoint whose next offset retention
// has deleted since is refused with a message saying so (not an
// offset-out-of-range error); AllowPartial goes on from the log start.
func TestReplayResumeBelowLogStart(t *testing.T) {
	cluster, base := startWithRecords(t, 1, 30)
	from, to := base, base.Add(time.Hour)
	cp := filepath.Join(t.TempDir(), "cp.json")
	st := &checkpoint.ReplayState{Route: "elastic", From: from, To: to, Lateness: DefaultLateness, Partitions: []checkpoint.ReplayPartition{
		{Topic: "events", Partition: 0, Start: 0, End: 30, Next: 5},
	}}
	if err := checkpoint.SaveReplay(cp, st); err != nil {
		t.Fatal(err)
	}
	deleteRecords(t, cluster, 0, 20)
	cfg := replayTestConfig(t, cluster.Brokers())
	opts := Options{Route: "elastic", From: from, To: to, Rate: 0, Logger: quiet, Checkpoint: cp, Resume: true}
	opts.Sink = &recordingSink{}
	_, err := Run(context.Background(), cfg, opts)
	var re *RetentionError
	if !errors.As(err, &re) {
		t.Fatalf("resume below the log start: %v, want a *RetentionError", err)
	}
	for _, want := range []string{"events/0", "offset 5", "offset 20", "retention", "--allow-partial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if saved, err := checkpoint.LoadReplay(cp); err != nil || saved.Partitions[0].Next != 5 {
		t.Errorf("checkpoint after the refusal: %+v, %v; want it untouched", saved, err)
	}

	sink := &recordingSink{}
	opts.Sink, opts.AllowPartial = sink, true
	res, err := Run(context.Background(), cfg, opts)
	if err != nil || !res.Complete || len(res.Gaps) != 1 {
		t.Fatalf("--allow-partial: %+v, %v", res, err)
	}
	want := make([]int64, 0, 10)
	for o := int64(20); o < 30; o++ {
		want = append(want, o)
	}
	if got := sink.offsets(); !equalInt64(got[0], want) {
		t.Fatalf("delivered %v, want offsets 20..29", got[0])
	}
}

// TestReplayEndsAfterTransactionMarkers: a partition whose last offsets
// before the end are transaction markers never yields a record at end −
// 1; the replay finds that in the log and finishes the partition.
func TestReplayEndsAfterTransactionMarkers(t *testing.T) {
	cluster, err := kafkatest.Start(1, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	sc := kafkatest.Config()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "replay-test"
	sc.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(cluster.Brokers(), sc)
	if err != nil {
		t.Fatal(err)
	}
	for txn := range 2 {
		if err := prod.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			ts := base.Add(time.Duration(txn*5+i) * time.Second)
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "events", Partition: 0, Value: sarama.StringEncoder(`{"a":1}`), Timestamp: ts}); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.CommitTxn(); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	ends, err := kafkatest.EndOffsets(cluster.Brokers(), "events")
	if err != nil {
		t.Fatal(err)
	}
	if ends[0] != 12 { // 5 records, a marker, 5 records, a marker
		t.Fatalf("log end %d, want 12: the test needs a partition ending with a marker", ends[0])
	}

	sink := &recordingSink{}
	cfg := replayTestConfig(t, cluster.Brokers())
	res, err := Run(context.Background(), cfg, Options{
		Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Sink: sink, Logger: quiet,
		Checkpoint: filepath.Join(t.TempDir(), "cp.json"),
	})
	if err != nil || !res.Complete || res.Done != res.Total {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	if got := sink.offsets(); !equalInt64(got[0], []int64{0, 1, 2, 3, 4, 6, 7, 8, 9, 10}) {
		t.Fatalf("delivered %v, want the 10 records", got[0])
	}
}

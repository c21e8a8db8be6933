package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/kafkatest"
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
// From, skips records before From met on the way, and stops at its first
// record at or after To, even if later ones are back inside the window. A
// partition with nothing at or after From replays nothing.
func TestReplayBoundaries(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	var recs []kafkatest.Record
	// Partition 0, offsets 0..6.
	for _, ms := range []int{50, 200, 80, 300, 350, 1500, 400} {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 0, Value: []byte(`{"a":1}`), Timestamp: at(ms)})
	}
	// Partition 1: everything before From.
	for _, ms := range []int{10, 20} {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: 1, Value: []byte(`{"a":1}`), Timestamp: at(ms)})
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	cfg := replayTestConfig(t, cluster.Brokers())
	sink := &recordingSink{}
	cp := filepath.Join(t.TempDir(), "cp.json")
	var last ReplayProgress
	res, err := Replay(context.Background(), cfg, ReplayOptions{
		Route: "elastic", From: at(100), To: at(1000), Rate: 0, Sink: sink, Logger: quiet,
		Checkpoint: cp, OnProgress: func(p ReplayProgress) { last = p },
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	got := sink.offsets()
	if want := []int64{1, 3, 4}; !equalInt64(got[0], want) || len(got[1]) != 0 {
		t.Fatalf("delivered offsets %v, want partition 0: %v and nothing of partition 1", got, want)
	}
	if res.Delivered != 3 || res.Skipped != 1 || res.Partitions != 2 || res.PartitionsDone != 2 || res.Done != res.Total {
		t.Errorf("result %+v", res)
	}
	if res.Total != 6 { // partition 0: offsets 1..6; partition 1: none
		t.Errorf("total %d, want 6", res.Total)
	}
	if last != res.ReplayProgress {
		t.Errorf("last OnProgress %+v differs from the result %+v", last, res.ReplayProgress)
	}
	if !sink.closed {
		t.Error("Replay did not close the sink")
	}
	if _, err := checkpoint.LoadReplay(cp); err == nil {
		t.Error("checkpoint left behind after a complete replay")
	}
}

// TestReplayResumeSkipsDone: a resumed job starts each partition at its
// saved watermark and does not touch finished partitions.
// startWithRecords starts a cluster whose topic "events" holds n records
// spread round-robin over its partitions, record i stamped base + i
// seconds.
func startWithRecords(t *testing.T, partitions int32, n int) (*kafkatest.Cluster, time.Time) {
	t.Helper()
	cluster, err := kafkatest.Start(partitions, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []kafkatest.Record
	for i := range n {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i) % partitions, Value: []byte(`{"a":1}`), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	return cluster, base
}

func TestReplayResumeSkipsDone(t *testing.T) {
	cluster, base := startWithRecords(t, 2, 20)
	from, to := base, base.Add(time.Hour)
	cp := filepath.Join(t.TempDir(), "cp.json")
	st := &checkpoint.ReplayState{Route: "elastic", From: from, To: to, Partitions: []checkpoint.ReplayPartition{
		{Topic: "events", Partition: 0, Start: 0, End: 10, Next: 7},
		{Topic: "events", Partition: 1, Start: 0, End: 10, Next: 10, Done: true},
	}}
	if err := checkpoint.SaveReplay(cp, st); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	cfg := replayTestConfig(t, cluster.Brokers())
	res, err := Replay(context.Background(), cfg, ReplayOptions{Route: "elastic", From: from, To: to, Rate: 0, Sink: sink, Logger: quiet, Checkpoint: cp, Resume: true})
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
	ok := ReplayOptions{Route: "elastic", From: from, To: to, Rate: -1}

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
	o = ok
	o.Index = "forensics-case-42-%{+yyyy.MM}"
	if rc, err = replayRoute(cfg, o); err != nil || rc.Sink.Elasticsearch.Index != o.Index {
		t.Fatalf("--index: %v, %v", rc.Sink.Elasticsearch, err)
	}
	if cfg.Routes[0].Sink.Elasticsearch.Index != "security-%{+yyyy.MM.dd}" {
		t.Errorf("--index changed the configuration itself: %s", cfg.Routes[0].Sink.Elasticsearch.Index)
	}

	bad := []struct {
		mod    func(*ReplayOptions)
		option string
		msg    string
	}{
		{func(o *ReplayOptions) { o.Route = "nope" }, "route", `no route named "nope" (routes: elastic, archive)`},
		{func(o *ReplayOptions) { o.From = time.Time{} }, "from", "required"},
		{func(o *ReplayOptions) { o.To = time.Time{} }, "to", "required"},
		{func(o *ReplayOptions) { o.To = o.From }, "to", "is not after"},
		{func(o *ReplayOptions) { o.Resume = true }, "resume", "checkpoint"},
		{func(o *ReplayOptions) { o.Index = "bad-%{+yyyy" }, "index", ""},
		{func(o *ReplayOptions) { o.Route, o.Index = "archive", "x" }, "index", "only elasticsearch and splunk_hec"},
	}
	for _, b := range bad {
		o := ok
		b.mod(&o)
		_, err := replayRoute(cfg, o)
		var oe *ReplayOptionError
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
	// sarama reports and retries every 2 s) for three idle periods.
	const idleEnd = 3 * time.Second
	fault := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: "events", Count: -1})
	lift := time.AfterFunc(3*idleEnd, fault.Remove)
	defer lift.Stop()

	sink := &recordingSink{}
	cfg := replayTestConfig(t, cluster.Brokers())
	res, err := Replay(context.Background(), cfg, ReplayOptions{
		Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Sink: sink, Logger: quiet,
		Checkpoint: filepath.Join(t.TempDir(), "cp.json"), IdleEnd: idleEnd,
	})
	if err != nil || !res.Complete {
		t.Fatalf("Replay: %+v, %v", res, err)
	}
	if fault.Hits() == 0 {
		t.Fatal("no fetch failed: the test tested nothing")
	}
	want := make([]int64, 20)
	for i := range want {
		want[i] = int64(i)
	}
	if got := sink.offsets(); !equalInt64(got[0], want) {
		t.Fatalf("delivered %v, want offsets 0..19", got[0])
	}
}

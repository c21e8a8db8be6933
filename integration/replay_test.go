package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/replay"
)

const (
	replayTopic      = "events"
	replayDLQ        = "events-dlq"
	replayPartitions = 3
	replayEvents     = 6000
	replayStep       = 100 * time.Millisecond
)

// replayBase is the record time of seq 0; seq s has replayBase+s*100ms.
var replayBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func seqTime(seq int64) time.Time { return replayBase.Add(time.Duration(seq) * replayStep) }

// produceTimed writes seq 1..n round-robin over the partitions with record
// timestamps (and @timestamp) at seqTime(seq), so that every partition's
// timestamps increase.
func produceTimed(t testing.TB, brokers []string, n int64) {
	t.Helper()
	p, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g := gen.New(11)
	var recs []kafkatest.Record
	for seq := int64(1); seq <= n; seq++ {
		ts := seqTime(seq)
		recs = append(recs, kafkatest.Record{Topic: replayTopic, Partition: int32(seq % replayPartitions), Value: g.Next(seq, ts), Timestamp: ts})
		if len(recs) == 1000 || seq == n {
			if err := p.Send(recs...); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// seqsIn counts the documents of one index by labels.seq.
func seqsIn(t testing.TB, es *esfake.Server, index string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for id, doc := range es.Docs(index) {
		s, ok := gen.Seq(doc)
		if !ok {
			t.Fatalf("document %s carries no sequence number", id)
		}
		out[s]++
	}
	return out
}

// assertExactly checks that got holds every seq in [lo, hi) once and
// nothing else.
func assertExactly(t testing.TB, got map[int64]int, lo, hi int64) {
	t.Helper()
	for s := lo; s < hi; s++ {
		if got[s] != 1 {
			t.Fatalf("seq %d is there %d times, want once", s, got[s])
		}
	}
	for s := range got {
		if s < lo || s >= hi {
			t.Fatalf("seq %d is outside the window [%d, %d)", s, lo, hi)
		}
	}
}

// TestReplayWindow replays a sub-window into a forensic index while the
// live bridge keeps running: exactly the window's events arrive there, and
// the live group's offsets and membership are untouched.
func TestReplayWindow(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""))
	live, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "live delivery of every event", func() bool { return es.Count() >= replayEvents })
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", replayTopic)
	before, err := kafkatest.Committed(cluster.Brokers(), "siembridge-elastic", replayTopic)
	if err != nil {
		t.Fatal(err)
	}

	const lo, hi = 2000, 4500
	var calls int
	res, err := replay.Run(context.Background(), cfg, replay.Options{
		Route: "elastic", From: seqTime(lo), To: seqTime(hi), Rate: 0,
		Index:            "forensics-case-42",
		Checkpoint:       filepath.Join(t.TempDir(), "cp.json"),
		Logger:           testLogger(t),
		OnProgress:       func(replay.Progress) { calls++ },
		ProgressInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if !res.Complete || res.Delivered != hi-lo || res.Checkpoint != "" {
		t.Fatalf("result %+v, want complete with %d delivered and no checkpoint left", res, hi-lo)
	}
	if calls == 0 {
		t.Error("OnProgress never called")
	}
	assertExactly(t, seqsIn(t, es, "forensics-case-42"), lo, hi)
	if !live.Stats().Routes[0].Joined {
		t.Error("the live route left its group during the replay")
	}
	after, err := kafkatest.Committed(cluster.Brokers(), "siembridge-elastic", replayTopic)
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range before {
		if after[p] != off {
			t.Errorf("partition %d: live group's offset moved from %d to %d", p, off, after[p])
		}
	}
	stop()
	t.Logf("replayed %d events of %d offsets scanned in %s", res.Delivered, res.Total, res.Elapsed.Round(time.Millisecond))
}

// TestReplayTwiceNoDuplicates replays the same window twice into the
// route's own index: the second run creates nothing new (every create is a
// 409, counted as delivered).
func TestReplayTwiceNoDuplicates(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""))
	const lo, hi = 100, 1100
	opts := replay.Options{Route: "elastic", From: seqTime(lo), To: seqTime(hi), Rate: 0, Logger: testLogger(t)}
	for run := 1; run <= 2; run++ {
		res, err := replay.Run(context.Background(), cfg, opts)
		if err != nil || !res.Complete || res.Delivered != hi-lo {
			t.Fatalf("run %d: %+v, %v", run, res, err)
		}
		if es.Count() != hi-lo {
			t.Fatalf("run %d: %d documents, want %d", run, es.Count(), hi-lo)
		}
	}
	if d := es.Duplicates(); d != hi-lo {
		t.Errorf("Duplicates() = %d, want %d (each event of the second run)", d, hi-lo)
	}
	assertExactly(t, seqs(t, es), lo, hi)
}

// TestReplayInterruptAndResume interrupts a rate-limited replay, then
// resumes it from its checkpoint: the window ends up complete.
func TestReplayInterruptAndResume(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""))
	const lo, hi = 1000, 5000
	cp := filepath.Join(t.TempDir(), "cp.json")
	opts := replay.Options{Route: "elastic", From: seqTime(lo), To: seqTime(hi), Rate: 2000,
		Checkpoint: cp, Logger: testLogger(t), ProgressInterval: 20 * time.Millisecond}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for es.Count() < 1000 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, err := replay.Run(ctx, cfg, opts)
	if !errors.Is(err, context.Canceled) || res.Complete || res.Checkpoint != cp {
		t.Fatalf("interrupted replay: %+v, %v", res, err)
	}
	st, err := checkpoint.LoadReplay(cp)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint never claims more than the sink holds: below Next,
	// every record of the window is in the sink and none of the records
	// read for the lateness bound (before lo) is.
	have := map[string]bool{}
	for _, id := range es.IDs() {
		have[id] = true
	}
	var saved int64
	for _, p := range st.Partitions {
		for o := p.Start; o < p.Next; o++ {
			seq := 3*o + int64(p.Partition) // produceTimed: seq s at partition s%3
			if p.Partition == 0 {
				seq = 3 * (o + 1)
			}
			in := seq >= lo && seq < hi
			if in {
				saved++
			}
			if got := have[event.ID(p.Topic, p.Partition, o)]; got != in {
				t.Fatalf("checkpoint says %s/%d is done up to %d; offset %d (seq %d, in the window: %v) in the sink: %v", p.Topic, p.Partition, p.Next, o, seq, in, got)
			}
		}
	}
	if saved == 0 || saved >= hi-lo {
		t.Fatalf("checkpoint holds %d delivered offsets; the test proves nothing", saved)
	}
	// Resuming with another window is refused.
	bad := opts
	bad.Resume, bad.To = true, seqTime(hi+1)
	var oe *replay.OptionError
	if _, err := replay.Run(context.Background(), cfg, bad); !errors.As(err, &oe) || oe.Option != "resume" || !errors.Is(err, checkpoint.ErrMismatch) {
		t.Fatalf("resume with another window: %v", err)
	}

	opts.Resume, opts.Rate = true, 0
	res, err = replay.Run(context.Background(), cfg, opts)
	if err != nil || !res.Complete {
		t.Fatalf("resumed replay: %+v, %v", res, err)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint still there after completion: %v", err)
	}
	assertExactly(t, seqs(t, es), lo, hi)
	t.Logf("interrupted with %d of %d saved; resume delivered %d (re-sent %d absorbed by deterministic IDs)", saved, hi-lo, res.Delivered, es.Duplicates())
}

// TestReplayProcessSIGINT runs "siembridge replay" as a process, stops it
// with SIGINT (exit code 1, checkpoint kept), resumes it with --resume
// alone (exit 0, checkpoint deleted).
func TestReplayProcessSIGINT(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	cfgPath := writeConfig(t, routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""))
	const lo, hi = 500, 5500
	from, to := seqTime(lo).Format(time.RFC3339Nano), seqTime(hi).Format(time.RFC3339Nano)
	dir := t.TempDir()

	p := startProcIn(t, dir, "replay", "--config", cfgPath, "--route", "elastic", "--from", from, "--to", to, "--rate", "2000")
	waitFor(t, 30*time.Second, "part of the window delivered", func() bool { return es.Count() >= 1500 })
	if code := p.stop(t, syscall.SIGINT); code != 1 {
		t.Fatalf("SIGINT: exit code %d, want 1; output:\n%s", code, p.out)
	}
	cp := filepath.Join(dir, checkpoint.ReplayFileName("elastic", seqTime(lo), seqTime(hi)))
	if _, err := checkpoint.LoadReplay(cp); err != nil {
		t.Fatalf("no checkpoint after SIGINT: %v; output:\n%s", err, p.out)
	}
	if !strings.Contains(p.out.String(), "--resume") {
		t.Errorf("the interrupted replay does not say how to resume:\n%s", p.out)
	}
	if es.Count() >= hi-lo {
		t.Fatal("everything was delivered before SIGINT; the test proves nothing")
	}

	// Starting the same window again without --resume is refused.
	if code, out := runProcIn(t, dir, "replay", "--config", cfgPath, "--route", "elastic", "--from", from, "--to", to); code != 2 || !strings.Contains(out, "--resume") {
		t.Fatalf("second start without --resume: exit %d, want 2:\n%s", code, out)
	}
	code, out := runProcIn(t, dir, "replay", "--config", cfgPath, "--route", "elastic", "--resume", "--rate", "0")
	if code != 0 {
		t.Fatalf("--resume: exit %d, want 0:\n%s", code, out)
	}
	if !strings.Contains(out, "complete") || !strings.Contains(out, "deleted") {
		t.Errorf("output does not report completion and the deleted checkpoint:\n%s", out)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint still there: %v", err)
	}
	assertExactly(t, seqs(t, es), lo, hi)
}

// TestRewind: a group that delivered everything and stopped is rewound to
// T; the bridge then delivers again exactly the events at or after T (each
// one a duplicate the sink absorbs). Status shows the lag and how old the
// oldest undelivered event is. Rewinding a group with a live member is
// refused.
func TestRewind(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	yaml := routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, "")
	cfg := parseConfig(t, yaml)
	cfgPath := writeConfig(t, yaml)
	const group = "siembridge-elastic"
	const fromSeq = 4000
	to := seqTime(fromSeq).Format(time.RFC3339Nano)

	_, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "every event delivered", func() bool { return es.Count() >= replayEvents })
	assertCommittedAtEnd(t, cluster.Brokers(), group, replayTopic)
	if code, out := runProcIn(t, "", "rewind", "--config", cfgPath, "--route", "elastic", "--to", to); code != 1 || !strings.Contains(out, "live member") {
		t.Fatalf("rewind of a running group: exit %d, want 1 and a refusal:\n%s", code, out)
	}
	// --force skips the check, but the broker takes no commit from outside
	// a group with members.
	if code, out := runProcIn(t, "", "rewind", "--config", cfgPath, "--route", "elastic", "--to", to, "--force"); code != 1 || !strings.Contains(out, "refused") {
		t.Fatalf("forced rewind of a running group: exit %d, want 1 and the broker's refusal:\n%s", code, out)
	}
	stop()
	if code, out := runProcIn(t, "", "rewind", "--config", cfgPath, "--route", "elastic", "--to", to, "--dry-run"); code != 0 || !strings.Contains(out, "dry run") {
		t.Fatalf("rewind --dry-run: exit %d:\n%s", code, out)
	}
	assertCommittedAtEnd(t, cluster.Brokers(), group, replayTopic)
	if es.Duplicates() != 0 {
		t.Fatalf("%d duplicates before the rewind", es.Duplicates())
	}

	code, out := runProcIn(t, "", "rewind", "--config", cfgPath, "--route", "elastic", "--to", to)
	if code != 0 {
		t.Fatalf("rewind: exit %d:\n%s", code, out)
	}
	t.Logf("rewind output:\n%s", out)
	committed, err := kafkatest.Committed(cluster.Brokers(), group, replayTopic)
	if err != nil {
		t.Fatal(err)
	}
	var wantLag int64
	for p, off := range committed {
		// Seq s is in partition s%3 at offset s/3 (offsets from seq 1).
		want := firstOffsetAtOrAfter(p, fromSeq)
		if off != want {
			t.Errorf("partition %d rewound to %d, want %d", p, off, want)
		}
		wantLag += int64(replayEvents/replayPartitions) - want
	}
	if wantLag != replayEvents-fromSeq+1 {
		t.Fatalf("test arithmetic: lag %d", wantLag)
	}

	code, out = runProcIn(t, "", "status", "--config", cfgPath, "--json")
	if code != 0 {
		t.Fatalf("status: exit %d:\n%s", code, out)
	}
	var st struct {
		Routes []struct {
			Route  string    `json:"route"`
			Lag    int64     `json:"lag"`
			Oldest time.Time `json:"oldest_undelivered"`
			Behind float64   `json:"behind_seconds"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(st.Routes) != 1 || st.Routes[0].Lag != wantLag || !st.Routes[0].Oldest.Equal(seqTime(fromSeq)) || st.Routes[0].Behind <= 0 {
		t.Fatalf("status: %+v, want lag %d and oldest %s", st.Routes, wantLag, seqTime(fromSeq))
	}
	code, out = runProcIn(t, "", "status", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "OLDEST UNDELIVERED") {
		t.Fatalf("status table: exit %d:\n%s", code, out)
	}
	t.Logf("status:\n%s", out)

	_, stop = runBridge(t, cfg)
	assertCommittedAtEnd(t, cluster.Brokers(), group, replayTopic)
	waitFor(t, 10*time.Second, "every re-sent event counted", func() bool { return es.Duplicates() >= wantLag })
	stop()
	if d := es.Duplicates(); d != wantLag {
		t.Errorf("Duplicates() = %d after the rewind, want %d (the events at or after T)", d, wantLag)
	}
	if es.Count() != replayEvents {
		t.Errorf("%d documents, want %d", es.Count(), replayEvents)
	}
}

// firstOffsetAtOrAfter is the offset in partition p of the first seq >= s
// as produceTimed lays them out (seq 1.. round-robin by seq%3).
func firstOffsetAtOrAfter(p int32, s int64) int64 {
	// Offsets of partition p: seqs p, p+3, ... starting at the first seq
	// >= 1 with seq%3 == p.
	first := int64(p)
	if first == 0 {
		first = replayPartitions
	}
	for seq, off := first, int64(0); ; seq, off = seq+replayPartitions, off+1 {
		if seq >= s {
			return off
		}
	}
}

// runProcIn runs siembridge to completion in dir and returns its exit code
// and combined output.
func runProcIn(t testing.TB, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(siembridgeBinary(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// The rewind scenario of issue 12, scaled down: rewindEvents events stamped
// 00:00–03:00 over rewindPartitions partitions, seq s in partition
// s%rewindPartitions at offset s/rewindPartitions, one every rewindStep.
const (
	rewindPartitions = 4
	rewindEvents     = 1200
	rewindStep       = 9 * time.Second // 1200 × 9 s = 3 h
	rewindTopic      = "events"
	rewindGroup      = "siembridge-elastic"
)

var rewindBase = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// rewindAt is the --to value of the time of seq s.
func rewindAt(s int) string {
	return rewindBase.Add(time.Duration(s) * rewindStep).Format(time.RFC3339)
}

// rewindCluster starts kfake with the topic filled.
func rewindCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	k := testKafkaCluster(t, rewindPartitions, []string{rewindTopic})
	p, err := kafkatest.NewProducer(k.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	recs := make([]kafkatest.Record, rewindEvents)
	for s := range recs {
		recs[s] = kafkatest.Record{
			Topic:     rewindTopic,
			Partition: int32(s % rewindPartitions),
			Value:     fmt.Appendf(nil, `{"seq":%d}`, s),
			Timestamp: rewindBase.Add(time.Duration(s) * rewindStep),
		}
	}
	if err := p.Send(recs...); err != nil {
		t.Fatal(err)
	}
	return k
}

// rewindConfig is one route into a file, starting at start.
func rewindConfig(t *testing.T, brokers []string, start string) string {
	t.Helper()
	return testWriteFile(t, "siembridge.yaml", fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: elastic
    topics: [%s]
    start: %s
    sink:
      type: file
      path: %q
`, brokers[0], rewindTopic, start, filepath.Join(t.TempDir(), "out.ndjson")))
}

// commitGroup commits offsets for the group as a stopped bridge left them.
func commitGroup(t *testing.T, brokers []string, offsets map[int32]int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := map[string]map[int32]sarama.OffsetAndMetadata{rewindTopic: {}}
	for p, o := range offsets {
		req[rewindTopic][p] = sarama.OffsetAndMetadata{Offset: o, LeaderEpoch: -1}
	}
	resp, err := admin.AlterConsumerGroupOffsets(rewindGroup, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, kerr := range resp.Errors[rewindTopic] {
		if kerr != sarama.ErrNoError {
			t.Fatalf("commit %d: %v", p, kerr)
		}
	}
}

// groupOffsets returns the group's committed offset of every partition, -1
// where it has none.
func groupOffsets(t *testing.T, brokers []string) map[int32]int64 {
	t.Helper()
	got, err := kafkatest.Committed(brokers, rewindGroup, rewindTopic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p := int32(0); p < rewindPartitions; p++ {
		out[p] = -1
		if o, ok := got[p]; ok && o >= 0 {
			out[p] = o
		}
	}
	return out
}

// TestRewindNeverMovesForward reproduces issue 12 item 1: a lagging group
// (committed offsets behind T) rewound to T must keep its offsets, or the
// next run skips every event between them and T. Partition 1 is ahead of T
// and moves back; partition 2 never committed (start: oldest would deliver
// it from the beginning) and must stay without a commit; partition 3 sits
// exactly at T.
func TestRewindNeverMovesForward(t *testing.T) {
	k := rewindCluster(t)
	cfg := rewindConfig(t, k.Brokers(), "oldest")
	const atT = 200 // 02:00 is seq 800: offset 200 in every partition
	commitGroup(t, k.Brokers(), map[int32]int64{0: 75, 1: 250, 3: atT})

	code, out, errOut := testRunMain("rewind", "--config", cfg, "--route", "elastic", "--to", rewindAt(4*atT))
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("rewind output:\n%s", out)
	got := groupOffsets(t, k.Brokers())
	want := map[int32]int64{0: 75, 1: atT, 2: -1, 3: atT}
	for p := int32(0); p < rewindPartitions; p++ {
		if got[p] != want[p] {
			t.Errorf("partition %d: committed %d after the rewind, want %d", p, got[p], want[p])
		}
	}
	for _, line := range []string{
		"events  0          75         75   200   0          300      left alone: already behind T",
		"events  1          250        200  200   0          300      back 50: delivers 50 events again",
		"events  2          -          -    200   0          300      left alone: no committed offset; start: oldest reads from 0",
		"events  3          200        200  200   0          300      left alone: already at T",
		"1 partition moved back (50 events to deliver again), 3 left alone",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q", line)
		}
	}
}

// TestPlanRewind: the per-partition decision, offsets only. po is
// committed, log start, log end and the offset at T (-1: no record at or
// after T).
func TestPlanRewind(t *testing.T) {
	po := func(committed, start, end, atT int64) partitionOffsets {
		return partitionOffsets{Topic: "events", Committed: committed, LogStart: start, LogEnd: end, AtT: atT}
	}
	tests := []struct {
		name      string
		in        partitionOffsets
		start     string
		allowSkip bool
		// want: whether it commits, the offset the group holds after,
		// events delivered again, events skipped, and a piece of the note.
		commit           bool
		new, again, skip int64
		note             string
	}{
		{"ahead of T moves back", po(900, 0, 1000, 400), "oldest", false, true, 400, 500, 0, "back 500: delivers 500 events again"},
		{"behind T is left alone", po(100, 0, 1000, 400), "oldest", false, false, 100, 0, 0, "left alone: already behind T"},
		{"behind T with --allow-skip skips", po(100, 0, 1000, 400), "oldest", true, true, 400, 0, 300, "FORWARD 300: skips 300 events"},
		{"at T is left alone", po(400, 0, 1000, 400), "oldest", true, false, 400, 0, 0, "left alone: already at T"},
		{"T after the last record: log end, left alone", po(1000, 0, 1000, -1), "oldest", false, false, 1000, 0, 0, "no record at or after T: log end"},
		{"T after the last record, group behind", po(600, 0, 1000, -1), "oldest", false, false, 600, 0, 0, "already behind T"},
		{"T after the last record, group behind, --allow-skip", po(600, 0, 1000, -1), "oldest", true, true, 1000, 0, 400, "skips 400 events"},
		{"T before retention: log start", po(900, 300, 1000, 300), "oldest", false, true, 300, 600, 0, "log start: older records were deleted"},
		{"no commit, start oldest: left alone", po(-1, 0, 1000, 400), "oldest", false, false, -1, 0, 0, "no committed offset; start: oldest reads from 0"},
		{"no commit, start oldest, --allow-skip", po(-1, 100, 1000, 400), "oldest", true, true, 400, 0, 300, "skips 300 events"},
		{"no commit, start newest: commits T", po(-1, 0, 1000, 400), "newest", false, true, 400, 600, 0, "delivers 600 events more"},
		{"no commit, start newest, T after the end", po(-1, 0, 1000, -1), "newest", false, true, 1000, 0, 0, "start: newest reads from the log end"},
		{"committed before log start, oldest: resets there", po(50, 300, 1000, 400), "oldest", false, false, 50, 0, 0, "committed offset 50 is outside the log [300, 1000]"},
		{"committed before log start, newest: commits T", po(50, 300, 1000, 400), "newest", false, true, 400, 600, 0, "outside the log"},
		{"committed past log end moves back", po(5000, 0, 1000, 400), "newest", false, true, 400, 600, 0, "outside the log"},
	}
	for _, tt := range tests {
		plan := planRewind([]partitionOffsets{tt.in}, tt.start, tt.allowSkip)
		if len(plan.Rows) != 1 {
			t.Fatalf("%s: %d rows", tt.name, len(plan.Rows))
		}
		r := plan.Rows[0]
		if r.Commit != tt.commit || r.New != tt.new || r.Again != tt.again || r.Skip != tt.skip || !strings.Contains(r.Note, tt.note) {
			t.Errorf("%s: commit %v new %d again %d skip %d note %q; want %v %d %d %d %q",
				tt.name, r.Commit, r.New, r.Again, r.Skip, r.Note, tt.commit, tt.new, tt.again, tt.skip, tt.note)
		}
		if !tt.allowSkip && r.Commit && r.Target > r.Start {
			t.Errorf("%s: without --allow-skip the plan moves forward from %d to %d", tt.name, r.Start, r.Target)
		}
	}
}

// TestRewindAllowSkip: --allow-skip moves the lagging partitions forward
// and says per partition and in total how many events that skips; --dry-run
// prints the same plan and commits nothing.
func TestRewindAllowSkip(t *testing.T) {
	k := rewindCluster(t)
	cfg := rewindConfig(t, k.Brokers(), "oldest")
	commitGroup(t, k.Brokers(), map[int32]int64{0: 75, 1: 250, 3: 200})
	args := []string{"rewind", "--config", cfg, "--route", "elastic", "--to", rewindAt(800), "--allow-skip"}

	code, out, errOut := testRunMain(append(args, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"events  0          75         200  200   0          300      FORWARD 125: skips 125 events",
		"events  2          -          200  200   0          300      FORWARD 200: skips 200 events",
		"--allow-skip: skips 325 events in total",
		"dry run: nothing committed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got := groupOffsets(t, k.Brokers()); got[0] != 75 || got[1] != 250 || got[2] != -1 || got[3] != 200 {
		t.Fatalf("the dry run committed: %v", got)
	}

	code, out, errOut = testRunMain(args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rewind --allow-skip output:\n%s", out)
	if got := groupOffsets(t, k.Brokers()); got[0] != 200 || got[1] != 200 || got[2] != 200 || got[3] != 200 {
		t.Errorf("committed %v, want 200 everywhere", got)
	}
	for _, want := range []string{
		"1 partition moved back (50 events to deliver again), 1 left alone, 2 partitions moved forward",
		"--allow-skip: skips 325 events in total; they will not be delivered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRewindStartNewest: a group that never committed and starts at the
// newest record would skip everything before the next run; rewinding it
// commits T's offset, so it delivers from T.
func TestRewindStartNewest(t *testing.T) {
	k := rewindCluster(t)
	cfg := rewindConfig(t, k.Brokers(), "newest")
	code, out, errOut := testRunMain("rewind", "--config", cfg, "--route", "elastic", "--to", rewindAt(800))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for p, o := range groupOffsets(t, k.Brokers()) {
		if o != 200 {
			t.Errorf("partition %d: committed %d, want 200", p, o)
		}
	}
	if !strings.Contains(out, "4 partitions moved back (400 events to deliver again), 0 left alone") {
		t.Errorf("output:\n%s", out)
	}
}

// TestRewindRetentionAndEnd: T before the oldest retained record gives the
// log start; T after the last record changes nothing.
func TestRewindRetentionAndEnd(t *testing.T) {
	k := rewindCluster(t)
	cfg := rewindConfig(t, k.Brokers(), "oldest")
	commitGroup(t, k.Brokers(), map[int32]int64{0: 300, 1: 300, 2: 300, 3: 300})
	admin, err := sarama.NewClusterAdmin(k.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	// Retention took the first 40 records of partition 0.
	if err := admin.DeleteRecords(rewindTopic, map[int32]int64{0: 40}); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	admin.Close()

	code, out, errOut := testRunMain("rewind", "--config", cfg, "--route", "elastic", "--to", rewindAt(4*300+4))
	if code != exitOK || !strings.Contains(out, "0 partitions moved back (0 events to deliver again), 4 left alone") || !strings.Contains(out, "nothing to commit") {
		t.Fatalf("rewind after the last record: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = testRunMain("rewind", "--config", cfg, "--route", "elastic", "--to", rewindBase.Add(-time.Hour).Format(time.RFC3339))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rewind before retention output:\n%s", out)
	want := map[int32]int64{0: 40, 1: 0, 2: 0, 3: 0}
	for p, o := range groupOffsets(t, k.Brokers()) {
		if o != want[p] {
			t.Errorf("partition %d: committed %d, want %d", p, o, want[p])
		}
	}
	if !strings.Contains(out, "events  0          300        40   40    40         300      back 260: delivers 260 events again (log start: older records were deleted)") {
		t.Errorf("output:\n%s", out)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/replay"
)

func TestPrintPlan(t *testing.T) {
	from := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	gap := replay.RetentionGap{Topic: "events", Partition: 1, LogStart: 20, Oldest: from.Add(20 * time.Minute), Next: -1, Lost: 20 * time.Minute, From: from}
	p := &replay.PlanResult{
		Route: "elastic", From: from, To: from.Add(time.Hour), Lateness: 15 * time.Minute,
		Partitions: []replay.PartitionPlan{
			{Topic: "events", Partition: 0, From: 1200, To: 4800, End: 9000, Events: 3600, AvgRecordBytes: 700, Bytes: 2520000},
			{Topic: "events", Partition: 1, From: 20, To: 60, End: 60, Events: 40, AvgRecordBytes: 7, Bytes: 280, Gap: &gap},
		},
		Gaps:   []replay.RetentionGap{gap},
		Events: 3640, Bytes: 2520280, EventsPerSecond: 100, BytesPerSecond: 1 << 20, Duration: 36400 * time.Millisecond,
	}
	var buf bytes.Buffer
	printPlan(&buf, p)
	want := `PARTITION             FROM OFFSET  TO OFFSET  EVENTS~  BYTES~  RETENTION
events/0              1200         4800       3600     2.4MiB  ok
events/1              20           60         40       280B    CUT: first 20m0s gone (oldest record 2024-05-01T01:20:00Z)
TOTAL (2 partitions)                          3640     2.4MiB  CUT in 1 of 2 partitions
estimated duration: 36.4s at most, at 100 events/s and 1.0MiB/s
`
	if got := buf.String(); !strings.HasPrefix(got, want) {
		t.Errorf("plan:\n%s\nwant it to begin with:\n%s", got, want)
	}
	if !strings.Contains(buf.String(), "retention: the window's first 20m0s are gone from events/1") {
		t.Errorf("no sentence for the gap:\n%s", buf.String())
	}

	p.EventsPerSecond, p.BytesPerSecond, p.Duration = 0, 0, 0
	buf.Reset()
	printPlan(&buf, p)
	if !strings.Contains(buf.String(), "estimated duration: unknown, no rate limit") {
		t.Errorf("unlimited:\n%s", buf.String())
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 2800: "2.7KiB", 5 << 20: "5.0MiB", 3 << 40: "3.0TiB", 1 << 62: "4096.0PiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestParseRateBytes(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "0": -1, "512": 512, "10MiB": 10 << 20, "2 kb": 2000} {
		if got, err := parseRateBytes(in); err != nil || got != want {
			t.Errorf("--rate-bytes %q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "1.5MiB", "10 mibs"} {
		if _, err := parseRateBytes(in); err == nil {
			t.Errorf("--rate-bytes %q accepted", in)
		}
	}
}

// TestReplayDryRun: --dry-run prints the plan and delivers nothing (the
// sink gets no request, no checkpoint is written); when retention cut
// the window it exits 1 as a real run would, unless --allow-partial.
func TestReplayDryRun(t *testing.T) {
	k := testKafkaCluster(t, 2, []string{"events"})
	base := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	prod, err := kafkatest.NewProducer(k.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	var recs []kafkatest.Record
	for i := range 60 {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2), Value: []byte(`{"a":1}`), Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	es := testESFake(t, esfake.Options{})
	cfg := checkConfig(t, k.Brokers(), "", []string{"events"}, es.URL(), "", "dlq")
	cp := filepath.Join(t.TempDir(), "cp.json")
	args := []string{"replay", "--config", cfg, "--route", "elastic", "--from", "2024-05-01T01:00:00Z", "--to", "2024-05-01T02:00:00Z",
		"--checkpoint", cp, "--rate", "10", "--rate-bytes", "1KiB", "--dry-run"}

	code, stdout, stderr := testRunMain(args...)
	if code != exitOK || !strings.Contains(stdout, "events/0              0            30         30       210B    ok") ||
		!strings.Contains(stdout, "TOTAL (2 partitions)                          60       420B    ok") ||
		!strings.Contains(stdout, "estimated duration: 6s at most, at 10 events/s and 1.0KiB/s") {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("dry run:\n%s", stdout)

	admin, err := sarama.NewClusterAdmin(k.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	err = admin.DeleteRecords("events", map[int32]int64{1: 10}) // partition 1 now starts at 01:21
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = testRunMain(args...)
	if code != exitFailure || !strings.Contains(stdout, "CUT: first 21m0s gone (oldest record 2024-05-01T01:21:00Z)") ||
		!strings.Contains(stdout, "a replay would NOT start") || !strings.Contains(stderr, "retention") {
		t.Fatalf("dry run of a cut window: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("dry run of a cut window:\n%s", stdout)

	code, stdout, stderr = testRunMain(append(args, "--allow-partial")...)
	if code != exitOK || !strings.Contains(stdout, "PARTIAL (--allow-partial)") {
		t.Fatalf("dry run --allow-partial: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if n := es.Requests(); n != 0 {
		t.Errorf("the sink got %d requests from dry runs", n)
	}
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote the checkpoint: %v", err)
	}
}

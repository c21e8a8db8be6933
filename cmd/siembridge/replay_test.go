package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/replay"
)

const replayTestConfig = `
kafka:
  brokers: ["127.0.0.1:1"]
routes:
  - name: elastic
    topics: [events]
    sink:
      type: elasticsearch
      urls: ["http://127.0.0.1:1"]
  - name: archive
    topics: [events]
    sink:
      type: file
      path: /tmp/siembridge-archive.ndjson
`

// TestOffsetCommandUsageErrors: bad flags exit 2 with one line naming the
// flag, before any connection is made (the broker address is unusable).
func TestOffsetCommandUsageErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(cfg, []byte(replayTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "yesterday", "--to", "now"}, "--from"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h", "--to", "-2x"}, "--to"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h", "--to", "-2h"}, "is not after --from"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--to", "now"}, "--from: required unless --resume"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h"}, "--to: required unless --resume"},
		{[]string{"replay", "--config", cfg, "--route", "nope", "--from", "-1h", "--to", "now"}, `no route named "nope"`},
		{[]string{"replay", "--config", cfg, "--from", "-1h", "--to", "now"}, "--route: required with several routes: elastic, archive"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--resume", "--checkpoint", filepath.Join(t.TempDir(), "none.json")}, "--resume"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--bogus"}, "--bogus: unknown flag"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h", "--to", "now", "--lateness", "-5m"}, "--lateness: -5m0s must not be negative"},
		{[]string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h", "--to", "now", "--lateness", "soon"}, "--lateness: \"soon\" is not a duration"},
		{[]string{"replay", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--route", "elastic"}, "read config"},
		{[]string{"rewind", "--config", cfg, "--route", "elastic"}, "--to: required"},
		{[]string{"rewind", "--config", cfg, "--route", "elastic", "--to", "soon"}, "--to"},
		{[]string{"rewind", "--config", cfg, "--route", "nope", "--to", "-1h"}, `no route named "nope"`},
		{[]string{"status", "--config", cfg, "--route", "nope"}, `no route named "nope"`},
		{[]string{"status", "--config", cfg, "--fetch-timeout", "0s"}, "--fetch-timeout: 0s must be > 0"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := realMain(tt.args, &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", tt.args, code, exitUsage, stderr.String())
			continue
		}
		last := lastLine(stderr.String())
		if !strings.Contains(last, tt.want) || !strings.HasPrefix(last, "siembridge "+tt.args[0]+":") {
			t.Errorf("%v: last line %q does not name %q", tt.args, last, tt.want)
		}
	}
}

// TestReplayIndexOnUnsupportedSink: --index on a file sink is a usage
// error naming --index, found before Kafka is contacted.
func TestReplayIndexOnUnsupportedSink(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "siembridge.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(replayTestConfig, "/tmp/siembridge-archive.ndjson", filepath.Join(dir, "a.ndjson"))), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"replay", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now",
		"--index", "x", "--checkpoint", filepath.Join(dir, "cp.json")}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--index: ") || !strings.Contains(stderr.String(), "only elasticsearch and splunk_hec") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestProgressLine(t *testing.T) {
	pr := replay.Progress{Partitions: 3, PartitionsDone: 1, Total: 10000, Done: 2500, Delivered: 2400, DeadLettered: 3, Skipped: 97}
	got := progressLine("elastic", pr, 500)
	want := "replay elastic: 2500/10000 offsets (25.0%), 2400 delivered, 3 dead-lettered, 97 skipped, 1 partitions of 3 done, 500 offsets/s, ETA 15s (at most)"
	if got != want {
		t.Errorf("progressLine:\n got %s\nwant %s", got, want)
	}
	if got := progressLine("r", replay.Progress{}, 0); !strings.Contains(got, "(100.0%)") || !strings.Contains(got, "ETA unknown") {
		t.Errorf("empty progress: %s", got)
	}
}

func TestPlainProgressEveryFiveSeconds(t *testing.T) {
	var buf bytes.Buffer
	p := newReplayProgress(&buf, "elastic")
	if p.tty {
		t.Fatal("a buffer is not a terminal")
	}
	p.update(replay.Progress{Total: 100, Partitions: 1})
	p.update(replay.Progress{Total: 100, Done: 10, Partitions: 1})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "an upper bound") {
		t.Fatalf("output within the first 5s: %q", buf.String())
	}
	p.lastLine = p.lastLine.Add(-plainProgressEvery)
	p.lastAt = p.lastAt.Add(-plainProgressEvery)
	p.update(replay.Progress{Total: 100, Done: 60, Partitions: 1})
	if !strings.Contains(buf.String(), "60/100 offsets") {
		t.Fatalf("no progress line after 5s: %q", buf.String())
	}
	p.finish()
}

func TestStatusTable(t *testing.T) {
	oldest := time.Date(2024, 5, 1, 12, 6, 40, 0, time.UTC)
	routes := []routeStatus{{
		Route: "elastic", Group: "siembridge-elastic", State: "Stable", Members: 1,
		LogEnd: 6000, Lag: 670, Oldest: oldest, BehindSeconds: 3725,
		Partitions: []partitionStatus{
			{Topic: "events", Partition: 1, Committed: 1333, LogEnd: 2000, Lag: 667, Oldest: oldest, BehindSeconds: 3725},
			{Topic: "events", Partition: 0, Committed: 2000, LogEnd: 2000},
			{Topic: "events", Partition: 10, Committed: -1, LogEnd: 2000, Lag: 3, Unknown: true},
		},
	}, {
		Route: "archive", Group: "siembridge-archive", State: "Empty",
		Partitions: []partitionStatus{{Topic: "audit", Partition: 0, Committed: 0}},
	}}
	var buf bytes.Buffer
	writeStatusTable(&buf, routes)
	want := `route elastic  group siembridge-elastic (Stable, 1 member)
  TOPIC   PARTITION  COMMITTED  LOG END  LAG  OLDEST UNDELIVERED        BEHIND
  events  0          2000       2000     0    -                         -
  events  1          1333       2000     667  2024-05-01T12:06:40.000Z  1h02m
  events  10         -          2000     3    ?                         ?
  total                         6000     670  2024-05-01T12:06:40.000Z  1h02m

route archive  group siembridge-archive (Empty, 0 members)
  TOPIC  PARTITION  COMMITTED  LOG END  LAG  OLDEST UNDELIVERED  BEHIND
  audit  0          0          0        0    -                   -
  total                        0        0    -                   -
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestFmtBehind(t *testing.T) {
	for sec, want := range map[float64]string{
		0: "0s", 45.4: "45s", 59.6: "1m00s", 750: "12m30s", 3725: "1h02m", 86399: "23h59m", 2*86400 + 4*3600: "2d04h",
	} {
		if got := fmtBehind(sec); got != want {
			t.Errorf("fmtBehind(%v) = %s, want %s", sec, got, want)
		}
	}
}

func TestReplayLatenessFlag(t *testing.T) {
	for _, tt := range []struct{ flag, opt, effective time.Duration }{
		{15 * time.Minute, 15 * time.Minute, 15 * time.Minute},
		{0, -1, 0},
		{time.Hour, time.Hour, time.Hour},
	} {
		if got := replayLateness(tt.flag); got != tt.opt {
			t.Errorf("--lateness %s: option %s, want %s", tt.flag, got, tt.opt)
		}
		if got := effectiveLateness(replayLateness(tt.flag)); got != tt.effective {
			t.Errorf("--lateness %s: effective %s, want %s", tt.flag, got, tt.effective)
		}
	}
	if got := effectiveLateness(0); got != replay.DefaultLateness {
		t.Errorf("unset: %s", got)
	}
}

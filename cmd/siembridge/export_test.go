package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestExportVerifyCommands: export with a filter, verify with and without
// --config (exit 0), a damaged file (exit 1 naming it), records deleted
// by retention (exit 3), and flag errors (exit 2).
func TestExportVerifyCommands(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	for i := range 40 {
		host := "web-1"
		if i%4 == 0 {
			host = "web-2"
		}
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2),
			Value: []byte(fmt.Sprintf(`{"host":{"name":%q},"n":%d}`, host, i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	prod, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Send(recs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "siembridge.yaml")
	yaml := strings.ReplaceAll(strings.ReplaceAll(replayTestConfig, "127.0.0.1:1", cluster.Brokers()[0]), "/tmp/siembridge-archive.ndjson", filepath.Join(dir, "a.ndjson"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "case-42")
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := realMain(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := run("export", "--config", cfg, "--route", "archive", "--from", "2024-05-01T12:00:10Z", "--to", "2024-05-01T12:00:30Z",
		"--out", out, "--dry-run")
	if _, err := os.Stat(out); code != exitOK || !strings.Contains(stdout, "dry run: export of route archive") || !strings.Contains(stdout, "TOTAL (2 partitions)") || err == nil {
		t.Fatalf("export --dry-run: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	code, stdout, stderr = run("export", "--config", cfg, "--route", "archive", "--from", "2024-05-01T12:00:10Z", "--to", "2024-05-01T12:00:30Z",
		"--filter", `host.name == "web-1"`, "--out", out, "--format", "parquet", "--rate", "0")
	if code != exitOK || !strings.Contains(stdout, "complete: 15 events in 2 files") {
		t.Fatalf("export: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"verify", out}, {"verify", "--config", cfg, out}, {"verify", out, "--config", cfg}} {
		code, stdout, stderr = run(args...)
		if code != exitOK || !strings.Contains(stdout, "PASS") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
	}
	if !strings.Contains(stdout, "kafka: 15 events compared with the log, 0 no longer in it") {
		t.Errorf("verify --config:\n%s", stdout)
	}

	// A second export into the same directory is refused.
	code, _, stderr = run("export", "--config", cfg, "--route", "archive", "--from", "2024-05-01T12:00:10Z", "--to", "2024-05-01T12:00:30Z", "--out", out)
	if code != exitUsage || !strings.Contains(stderr, "--out:") {
		t.Errorf("export into an export: exit %d %s", code, stderr)
	}

	// Retention deletes the first exported records of partition 0.
	admin, err := sarama.NewClusterAdmin(cluster.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords("events", map[int32]int64{0: 8}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("verify", "--config", cfg, out)
	if code != exitNotRetained || !strings.Contains(stdout, "NOT RETAINED") || !strings.Contains(stdout, "not retained: events/0 offset 5") {
		t.Fatalf("verify after retention: exit %d\n%s\n%s", code, stdout, stderr)
	}

	name := "events-p0001-000001.parquet"
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("verify", out)
	if code != exitFailure || !strings.Contains(stdout, "mismatch: "+name+": SHA-256") || !strings.Contains(stderr, name) {
		t.Fatalf("verify a damaged file: exit %d\n%s\n%s", code, stdout, stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now"}, "--out: required"},
		{[]string{"export", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now", "--out", dir, "--format", "csv"}, "--format"},
		{[]string{"export", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now", "--out", dir, "--filter", "host.name =="}, "--filter"},
		{[]string{"export", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now", "--out", dir, "--max-file-size", "1x"}, "--max-file-size"},
		{[]string{"export", "--config", cfg, "--route", "archive", "--out", filepath.Join(dir, "none"), "--resume"}, "--resume"},
		{[]string{"verify"}, "DIR: required"},
		{[]string{"verify", out, out}, "unexpected argument"},
	} {
		code, _, stderr := run(tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}

package export

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// crashEnv carries the broker and directory to the child export of
// TestExportKilledAndResumed.
const crashEnv = "SIEMBRIDGE_EXPORT_CRASH_CHILD"

func crashOptions(dir string) Options {
	return Options{Route: "archive", From: at(100), To: at(1000), Dir: dir, MaxFileSize: 4 << 10,
		Parallel: 2, Logger: quiet, ProgressInterval: 20 * time.Millisecond}
}

func crashConfig(t *testing.T, broker string) *config.Config {
	t.Helper()
	return testConfig(t, []string{broker})
}

// TestExportKilledAndResumed: an export killed (SIGKILL) while writing —
// files half written, the reading's checkpoint ahead of the complete
// files or behind them — resumes to exactly the window: every event once,
// in order, and verify passes.
func TestExportKilledAndResumed(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("the child runs TestCrashChild")
	}
	var recs []kafkatest.Record
	for i := range 4000 {
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2), Value: jsonValue("web-1", i), Timestamp: at(200 + i/10)})
	}
	cluster := startCluster(t, recs)
	dir := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+cluster.Brokers()[0]+","+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a few files are complete.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := LoadState(dir)
		if err == nil && len(st.Files) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child export wrote no files in time (%v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		t.Fatal("the child completed before it was killed")
	}

	partials, _ := filepath.Glob(filepath.Join(dir, "*"+partialSuffix))
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d complete files and %d partial ones", len(st.Files), len(partials))

	opts := crashOptions(dir)
	opts.Resume = true
	res, err := Run(context.Background(), crashConfig(t, cluster.Brokers()[0]), opts)
	if err != nil || !res.Complete {
		t.Fatalf("resume: %v", err)
	}
	m, got := readDir(t, dir)
	if m.Events != 4000 || len(got) != 4000 || m.Runs != 2 {
		t.Fatalf("%d events in the manifest, %d read, %d runs", m.Events, len(got), m.Runs)
	}
	for p, offs := range offsets(got) {
		for i, off := range offs {
			if off != int64(i) {
				t.Fatalf("partition %d: offset %d at position %d", p, off, i)
			}
		}
	}
	if rep, err := VerifyFiles(dir); err != nil || rep.Verdict() != Pass {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

// TestCrashChild is the export TestExportKilledAndResumed kills.
func TestCrashChild(t *testing.T) {
	env := os.Getenv(crashEnv)
	if env == "" {
		t.Skip("run by TestExportKilledAndResumed")
	}
	broker, dir, _ := strings.Cut(env, ",")
	opts := crashOptions(dir)
	opts.Rate = 1000
	_, err := Run(context.Background(), crashConfig(t, broker), opts)
	t.Fatalf("the child export ended (%v) before it was killed", err)
}

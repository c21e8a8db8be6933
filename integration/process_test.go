package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/testbin"
)

// siembridgeBinary builds cmd/siembridge once per test run.
func siembridgeBinary(t testing.TB) string {
	t.Helper()
	return testbin.Siembridge(t)
}

// proc is a running siembridge process.
type proc struct {
	cmd  *exec.Cmd
	out  *testbin.Output
	done chan struct{} // closed when the process has exited
}

func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProcIn(t, "", args...)
}

// startProcIn is startProc in a working directory ("" = this one). The
// process is killed at the end of the test if it still runs.
func startProcIn(t testing.TB, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(siembridgeBinary(t), args...)
	cmd.Dir = dir
	out := new(testbin.Output)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status is read from ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the exit; it returns the exit code (-1 for
// a process killed by a signal).
func (p *proc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("siembridge did not exit within 30s of %v; output:\n%s", sig, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertNotCommittedAhead checks the at-least-once invariant: every offset
// below a partition's committed offset is in the sink.
func assertNotCommittedAhead(t testing.TB, brokers []string, group, topic string, es *esfake.Server) {
	t.Helper()
	committed, err := kafkatest.Committed(brokers, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range es.IDs() {
		have[id] = true
	}
	for p, c := range committed {
		for o := int64(0); o < c; o++ {
			if !have[event.ID(topic, p, o)] {
				t.Fatalf("partition %d committed at %d but offset %d is not in the sink", p, c, o)
			}
		}
	}
}

// TestKillAndRestart SIGKILLs the bridge process mid-stream and restarts
// it: every event ends up in the sink exactly once, and the commit was
// never ahead of delivery.
func TestKillAndRestart(t *testing.T) {
	const (
		topic      = "events"
		partitions = 3
		n          = 60000
	)
	cluster := startCluster(t, partitions, topic, "events-dlq")
	es := startES(t, esfake.Options{Capacity: 20000})
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)
	cfgPath := writeConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", ""))

	p := startProc(t, "run", "--config", cfgPath)
	waitFor(t, 60*time.Second, "a third of the events delivered", func() bool { return es.Count() >= n/3 })
	if code := p.stop(t, syscall.SIGKILL); code == 0 {
		t.Fatalf("SIGKILL: exit code 0")
	}
	assertNotCommittedAhead(t, cluster.Brokers(), "siembridge-elastic", topic, es)
	before := es.Count()
	if before >= n {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}

	p = startProc(t, "run", "--config", cfgPath)
	waitFor(t, 90*time.Second, "every event delivered after the restart", func() bool { return es.Count() >= n })
	// Every event in the sink does not mean the second process is done: a
	// partition the first one had delivered in full but not committed is
	// re-sent from its committed offset. Wait for the commits before
	// stopping, or SIGTERM would end that re-send half-way.
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; output:\n%s", code, p.out)
	}
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		if got[s] != 1 {
			t.Fatalf("seq %d is in the sink %d times, want once", s, got[s])
		}
	}
	// And the shutdown did not commit anything lower.
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
	t.Logf("killed with %d of %d delivered; %d re-sent events absorbed by deterministic IDs", before, n, es.Duplicates())
}

// TestGracefulShutdown sends SIGTERM while the bridge is busy: it exits 0,
// and what it committed is in the sink.
func TestGracefulShutdown(t *testing.T) {
	const topic = "events"
	cluster := startCluster(t, 2, topic, "events-dlq")
	es := startES(t, esfake.Options{Capacity: 5000})
	produceSeq(t, cluster.Brokers(), topic, 2, 1, 30000, nil)
	cfgPath := writeConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", ""))
	p := startProc(t, "run", "--config", cfgPath)
	waitFor(t, 60*time.Second, "deliveries under way", func() bool { return es.Count() >= 5000 })
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; output:\n%s", code, p.out)
	}
	assertNotCommittedAhead(t, cluster.Brokers(), "siembridge-elastic", topic, es)
	committed, err := kafkatest.Committed(cluster.Brokers(), "siembridge-elastic", topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range committed {
		total += c
	}
	// The shutdown committed what was delivered, not just the last
	// periodic commit: within one batch per partition of the sink's count.
	if int64(es.Count())-total > 2*500 {
		t.Errorf("committed %d offsets but the sink holds %d events", total, es.Count())
	}
}

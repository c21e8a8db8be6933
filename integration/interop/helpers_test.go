// Package interop runs the real siembridge binary against third-party
// receivers — rsyslog, syslog-ng, VictoriaLogs (as an Elasticsearch _bulk
// and as a Splunk HEC receiver) — and checks that every
// event arrived with the fields the sink promises. The tests run only with
// SIEMBRIDGE_INTEROP=1, and each skips, naming the reason, when its
// receiver is not installed: integration/interop/setup.sh installs them
// (see README.md beside this file).
package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/internal/testbin"
)

// TestMain checks for leaked goroutines; sarama's metrics registry starts
// one ticker for the process that it never stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

// enabled skips t unless SIEMBRIDGE_INTEROP=1.
func enabled(t *testing.T) {
	t.Helper()
	if os.Getenv("SIEMBRIDGE_INTEROP") != "1" {
		t.Skip("interop tests run with SIEMBRIDGE_INTEROP=1 (see integration/interop/README.md)")
	}
}

// toolDir is where setup.sh puts what it builds or unpacks.
func toolDir() string {
	if d := os.Getenv("SIEMBRIDGE_INTEROP_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "siembridge-interop")
	}
	return filepath.Join(os.TempDir(), "siembridge-interop")
}

// tool returns the path of an executable, or skips t naming what installs
// it. A name with a slash is taken relative to toolDir; a bare name is
// looked up in PATH and then in the usual sbin directories.
func tool(t *testing.T, name, installedBy string) string {
	t.Helper()
	if filepath.Base(name) != name {
		p := filepath.Join(toolDir(), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
		t.Skipf("%s not found: run integration/interop/setup.sh %s", p, installedBy)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Skipf("%s not installed: run integration/interop/setup.sh %s", name, installedBy)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// siembridgeBinary builds cmd/siembridge once per test run.
func siembridgeBinary(t *testing.T) string {
	t.Helper()
	return testbin.Siembridge(t)
}

// freePort returns a loopback port that was free a moment ago, for a
// receiver whose configuration needs a port number.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPort waits until something accepts connections on addr.
func waitPort(t *testing.T, addr string, p *process) {
	t.Helper()
	waitFor(t, 15*time.Second, addr+" accepting connections", func() bool {
		if p.exited() {
			t.Fatalf("%s exited before listening on %s:\n%s", p.name, addr, p.out)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// poll is waitFor that reports the timeout instead of failing, for a
// caller that explains what is missing better.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// process is a child process: siembridge or a receiver.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *testbin.Output
	done chan struct{} // closed when it exited
}

// start runs a program in its own process group; the test's cleanup kills
// it if it still runs.
func start(t *testing.T, env []string, path string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{name: filepath.Base(path), cmd: cmd, out: new(testbin.Output), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait() // the exit status is read from ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out)
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to 30s for the exit; it returns the exit
// code (-1 when killed by a signal).
func (p *process) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Fatalf("%s did not exit within 30s of %v; output:\n%s", p.name, sig, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

// runSiembridge writes cfg and starts `siembridge run` on it.
func runSiembridge(t *testing.T, cfg string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, nil, siembridgeBinary(t), "run", "--config", path)
}

// stopSiembridge stops it as systemd or Kubernetes would, and wants exit 0.
func stopSiembridge(t *testing.T, p *process) {
	t.Helper()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("siembridge exited %d on SIGTERM; output:\n%s", code, p.out)
	}
}

// The Kafka side: one topic, its events numbered 0..n-1 and spread
// round-robin, so event seq is at partition seq%partitions, offset
// seq/partitions.
const (
	topic      = "security-events"
	partitions = 3
)

// corpus is what a test produced: the documents by sequence number.
type corpus struct {
	brokers []string
	docs    [][]byte
	time    time.Time
}

// startKafka starts a Kafka-protocol broker and produces n generated
// events; extra documents, if any, follow them (their seq continues), so
// a test can add events with characters that need escaping.
func startKafka(t *testing.T, n int, extra ...[]byte) *corpus {
	t.Helper()
	c, err := kafkatest.Start(partitions, []string{topic, topic + "-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	g := gen.New(7)
	now := time.Now().UTC().Truncate(time.Millisecond)
	k := &corpus{brokers: c.Brokers(), time: now}
	for seq := 0; seq < n; seq++ {
		k.docs = append(k.docs, g.Next(int64(seq), now))
	}
	k.docs = append(k.docs, extra...)
	k.produce(t, 0, len(k.docs))
	return k
}

// produce sends documents from..to-1 to their partitions.
func (k *corpus) produce(t *testing.T, from, to int) {
	t.Helper()
	p, err := kafkatest.NewProducer(k.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var recs []kafkatest.Record
	for seq := from; seq < to; seq++ {
		recs = append(recs, kafkatest.Record{Topic: topic, Partition: int32(seq % partitions), Value: k.docs[seq], Timestamp: k.time})
		if len(recs) == 2000 || seq == to-1 { // within one produce request's bounds
			if err := p.Send(recs...); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// locate returns the sequence number of the event at partition/offset.
func locate(partition int32, offset int64) int {
	return int(offset)*partitions + int(partition)
}

// routeYAML is a one-route configuration around a sink block (indented
// by six spaces); route, if given, adds route keys (indented by four).
func routeYAML(k *corpus, sink string, route ...string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: interop
    topics: [%q]
    start: oldest
    sink:
%s
    batch: {max_events: 200, max_bytes: 1MiB, max_wait: 100ms}
    dead_letter: {topic: %q}
    retry: {initial_interval: 50ms, max_interval: 1s}
    breaker: {failures: 3, initial_probe_interval: 100ms, max_probe_interval: 1s}
    commit_interval: 200ms
%s
log: {level: info}
shutdown_timeout: 10s
`, k.brokers[0], topic, sink, topic+"-dlq", strings.Join(route, ""))
}

// itoa is strconv.Itoa, short for building configurations.
func itoa(n int) string { return strconv.Itoa(n) }

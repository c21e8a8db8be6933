package interop

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rsyslogTemplate writes each message as one JSON object of the fields
// received reads; the structured data stays raw (rsyslog does not parse
// it) and is checked by parseSD.
const rsyslogTemplate = `template(name="interop" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
`

// rsyslog is one rsyslogd with one input, writing what it receives to
// out. A direct queue makes the input's ruleset write each message before
// imrelp acknowledges it, so an acknowledged message is in the file.
type rsyslog struct {
	bin, dir, conf, out, addr string
	p                         *process
}

// newRsyslog writes a configuration around the module and input
// statements (%PORT% and %DIR% are replaced); start runs rsyslogd on it.
func newRsyslog(t *testing.T, statements string) *rsyslog {
	t.Helper()
	bin := tool(t, "rsyslogd", "debian")
	dir := t.TempDir()
	port := itoa(freePort(t))
	r := &rsyslog{bin: bin, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "received.json"), addr: "127.0.0.1:" + port}
	conf := `global(workDirectory="` + dir + `" maxMessageSize="64k")
` + rsyslogTemplate + `
ruleset(name="interop" queue.type="Direct") {
  action(type="omfile" file="` + r.out + `" template="interop")
}
` + strings.NewReplacer("%PORT%", port, "%DIR%", dir).Replace(statements)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	pid := filepath.Join(r.dir, "rsyslogd.pid")
	_ = os.Remove(pid) // left by a killed rsyslogd
	r.p = start(t, nil, r.bin, "-n", "-f", r.conf, "-i", pid)
	waitPort(t, r.addr, r.p)
}

func (r *rsyslog) received(t *testing.T) []received { return readReceived(t, r.out) }

// TestRsyslogTCP: RFC 6587 octet-counted frames over TCP into imtcp.
func TestRsyslogTCP(t *testing.T) {
	enabled(t)
	r := newRsyslog(t, `module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%PORT%" ruleset="interop" supportOctetCountedFraming="on")
`)
	r.start(t)
	k := startKafka(t, 3000)
	deliverAll(t, k, syslogSink(r.addr, "tcp", ""), r.received)
}

// TestRsyslogTLS: the same over TLS (RFC 5425) into imtcp with the gtls
// driver, the certificate checked against our CA.
func TestRsyslogTLS(t *testing.T) {
	enabled(t)
	tool(t, "rsyslogd", "debian")
	if !rsyslogModule("lmnsd_gtls.so") {
		t.Skip("rsyslog's gtls driver is not installed (Debian rsyslog-gnutls): run integration/interop/setup.sh debian")
	}
	r := newRsyslog(t, `global(DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="%DIR%/ca.pem"
  DefaultNetstreamDriverCertFile="%DIR%/cert.pem"
  DefaultNetstreamDriverKeyFile="%DIR%/key.pem")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="%PORT%" ruleset="interop" supportOctetCountedFraming="on")
`)
	writeTLSFiles(t, r.dir)
	r.start(t)
	k := startKafka(t, 3000)
	deliverAll(t, k, syslogSink(r.addr, "tls", "      ca_file: "+filepath.Join(r.dir, "ca.pem")+"\n"), r.received)
}

// lineCount is the number of complete lines in the file at path: a cheap
// progress count while messages arrive.
func lineCount(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// rsyslogModule reports whether an rsyslog plugin is installed.
func rsyslogModule(name string) bool {
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog"} {
		if fileExists(filepath.Join(dir, name)) {
			return true
		}
	}
	return false
}

// TestRsyslogRELP: RELP into imrelp, with rsyslogd SIGKILLed and restarted
// twice mid-stream: every event arrives, since a batch counts as delivered
// only when rsyslog acknowledged each message.
func TestRsyslogRELP(t *testing.T) {
	enabled(t)
	tool(t, "rsyslogd", "debian")
	if !rsyslogModule("imrelp.so") {
		t.Skip("rsyslog's imrelp is not installed (Debian rsyslog-relp): run integration/interop/setup.sh debian")
	}
	const n = 12000
	k := startKafka(t, n)
	r := newRsyslog(t, `module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="%PORT%" ruleset="interop")
`)
	r.start(t)
	siembridgeBinary(t)
	started := time.Now()
	// 2000 events/s: the stream lasts about 6s, long enough to be cut twice.
	sb := runSiembridge(t, routeYAML(k, syslogSink(r.addr, "relp", ""),
		"    rate: {events_per_second: 2000, catchup_events_per_second: 2000}\n"))
	for _, at := range []int{n / 4, n / 2} {
		waitFor(t, 60*time.Second, "rsyslog to receive "+itoa(at)+" messages", func() bool {
			return lineCount(t, r.out) >= at
		})
		if got := lineCount(t, r.out); got >= n {
			t.Fatalf("%d messages arrived before the kill: the test proves nothing", got)
		}
		r.p.stop(t, syscall.SIGKILL)
		time.Sleep(300 * time.Millisecond) // siembridge sees the connection die
		r.start(t)
	}
	// On a timeout checkSyslog names the first event lost.
	poll(30*time.Second, func() bool { return lineCount(t, r.out) >= n && distinct(r.received(t)) >= n })
	stopSiembridge(t, sb)
	msgs := r.received(t)
	dups := checkSyslog(t, k, msgs)
	t.Logf("%d events over two SIGKILLs of rsyslogd: %d messages received (%d duplicates), none lost, in %s",
		n, len(msgs), dups, time.Since(started).Round(time.Millisecond))
}

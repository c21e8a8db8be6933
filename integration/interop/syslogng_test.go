package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// syslogNGConf receives RFC 5424 over TCP with octet counting (the
// syslog() driver) and writes, per message, the fields syslog-ng parsed —
// the structured data by SD-ID and parameter name — as one JSON object.
const syslogNGConf = `@version: 3.38
options { keep-hostname(yes); keep-timestamp(yes); frac-digits(3); ts-format(iso); stats_freq(0); };
source s_interop { syslog(ip("127.0.0.1") port(%PORT%) transport("tcp")); };
destination d_interop {
  file("%OUT%" template("$(format-json --scope none
    pri=$PRI host=$HOST app=$PROGRAM msgid=$MSGID time=$ISODATE
    topic=${.SDATA.kafka@32473.topic} partition=${.SDATA.kafka@32473.partition}
    offset=${.SDATA.kafka@32473.offset} msg=$MESSAGE)\n"));
};
log { source(s_interop); destination(d_interop); };
`

// syslogNG returns the syslog-ng binary and the environment it needs: an
// installed one, else the one setup.sh unpacked (syslog-ng-core conflicts
// with rsyslog, so it is unpacked rather than installed).
func syslogNG(t *testing.T) (bin string, args, env []string) {
	t.Helper()
	if p, err := exec.LookPath("syslog-ng"); err == nil {
		return p, nil, nil
	}
	root := filepath.Join(toolDir(), "syslog-ng")
	bin = tool(t, "syslog-ng/usr/sbin/syslog-ng", "debian")
	mods, err := filepath.Glob(filepath.Join(root, "usr/lib/syslog-ng/3.*"))
	if err != nil || len(mods) != 1 {
		t.Skipf("%s: no single module directory under usr/lib/syslog-ng: run integration/interop/setup.sh debian", root)
	}
	return bin, []string{"--module-path=" + mods[0]}, []string{"LD_LIBRARY_PATH=" + filepath.Join(root, "usr/lib/syslog-ng")}
}

// TestSyslogNG: syslog-ng parses our RFC 5424 messages — header, the
// kafka@32473 structured data, the JSON body — into the fields the sink
// promises, including events whose host name, action and body need
// sanitizing or escaping.
func TestSyslogNG(t *testing.T) {
	enabled(t)
	bin, args, env := syslogNG(t)
	dir := t.TempDir()
	port := itoa(freePort(t))
	out := filepath.Join(dir, "received.json")
	conf := filepath.Join(dir, "syslog-ng.conf")
	text := strings.NewReplacer("%PORT%", port, "%OUT%", out).Replace(syslogNGConf)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "-F", "--no-caps", "-f", conf,
		"-R", filepath.Join(dir, "persist"), "-p", filepath.Join(dir, "pid"), "-c", filepath.Join(dir, "ctl"))
	p := start(t, env, bin, args...)
	addr := "127.0.0.1:" + port
	waitPort(t, addr, p)

	k := startKafka(t, 2000, escapingEvents...)
	deliverAll(t, k, syslogSink(addr, "tcp", ""), func(t *testing.T) []received { return readReceived(t, out) })
}

// escapingEvents need care on the way into RFC 5424: spaces, brackets,
// quotes, backslashes and non-ASCII in what becomes HOSTNAME and MSGID
// (reduced to PRINTUSASCII) and in the body (kept byte for byte).
var escapingEvents = [][]byte{
	[]byte(`{"@timestamp":"2026-03-01T10:00:00.123Z","host":{"name":"wörk station 7"},"event":{"action":"logon] [x=\"y\\"},"message":"quote \" backslash \\ bracket ] brace } ünïcødé ✓"}`),
	[]byte(`{"@timestamp":"2026-03-01T10:00:01.000Z","host":{"name":"db-01"},"event":{"action":"` + "a-very-long-action-name-that-is-longer-than-thirty-two-bytes" + `"},"message":"[kafka@32473 topic=\"forged\"] not structured data"}`),
	[]byte(`{"@timestamp":"2026-03-01T10:00:02.999Z","host":{"name":"db\u00a0 02"},"event":{"action":" "},"tab":"a\tb","nul":"\u0000"}`),
}

package interop

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
)

// received is one message as a receiver parsed it, in the fields the
// syslog sink promises (README: RFC 5424 header, structured data
// kafka@32473 with topic, partition and offset, the event as MSG).
type received struct {
	Pri       string `json:"pri"`
	Host      string `json:"host"`
	App       string `json:"app"`
	MsgID     string `json:"msgid"`
	Time      string `json:"time"`
	Topic     string `json:"topic"`
	Partition string `json:"partition"`
	Offset    string `json:"offset"`
	Msg       string `json:"msg"`
	// SD is the raw structured data, from a receiver that does not parse
	// it (rsyslog); readReceived fills Topic, Partition and Offset from it.
	SD string `json:"sd"`
}

// readReceived parses a receiver's output file: one JSON object per line.
// A missing file is no message yet.
func readReceived(t *testing.T, path string) []received {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []received
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasSuffix(line, []byte("}")) {
			break // a line still being written
		}
		var r received
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v in %q", path, err, line)
		}
		if r.SD != "" {
			parseSD(t, &r)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// distinct counts the different events among msgs (by partition/offset).
func distinct(msgs []received) int {
	seen := map[[2]string]bool{}
	for _, m := range msgs {
		seen[[2]string{m.Partition, m.Offset}] = true
	}
	return len(seen)
}

// printUSASCII is RFC 5424's PRINTUSASCII reduction the sink applies to
// HOSTNAME and MSGID: every other character one '_', cut to max, "-"
// when empty.
func printUSASCII(s string, max int) string {
	var b []byte
	for _, r := range s {
		if len(b) == max {
			break
		}
		if r >= 33 && r <= 126 {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// checkSyslog checks that every event of k arrived at least once with the
// fields the sink promises, and returns how many messages were duplicates.
func checkSyslog(t *testing.T, k *corpus, msgs []received) (duplicates int) {
	t.Helper()
	count := make([]int, len(k.docs))
	for i, m := range msgs {
		if m.Topic != topic {
			t.Fatalf("message %d: structured data topic %q, want %q", i, m.Topic, topic)
		}
		p, err1 := strconv.ParseInt(m.Partition, 10, 32)
		o, err2 := strconv.ParseInt(m.Offset, 10, 64)
		seq := locate(int32(p), o)
		if err1 != nil || err2 != nil || seq < 0 || seq >= len(k.docs) {
			t.Fatalf("message %d: structured data partition %q offset %q name no produced event", i, m.Partition, m.Offset)
		}
		doc := k.docs[seq]
		if m.Msg != string(doc) {
			t.Fatalf("message %d (seq %d): MSG differs from the event\n got: %q\nwant: %q", i, seq, m.Msg, doc)
		}
		host, _ := event.Field(doc, "host.name")
		action, _ := event.Field(doc, "event.action")
		if m.Host != printUSASCII(host, 255) || m.App != "siembridge" || m.MsgID != printUSASCII(action, 32) {
			t.Fatalf("message %d (seq %d): HOSTNAME %q APP-NAME %q MSGID %q, want %q siembridge %q",
				i, seq, m.Host, m.App, m.MsgID, printUSASCII(host, 255), printUSASCII(action, 32))
		}
		if pri, err := strconv.Atoi(m.Pri); err != nil || pri/8 != 1 {
			t.Fatalf("message %d (seq %d): PRI %q, want facility 1 (user)", i, seq, m.Pri)
		}
		ts, err := time.Parse(time.RFC3339Nano, m.Time)
		if want, _ := event.Field(doc, "@timestamp"); err != nil || want == "" || !ts.Equal(mustTime(t, want)) {
			t.Fatalf("message %d (seq %d): TIMESTAMP %q, want the event's @timestamp %q", i, seq, m.Time, want)
		}
		count[seq]++
	}
	for seq, c := range count {
		if c == 0 {
			t.Fatalf("event %d (partition %d, offset %d) never arrived; %d messages received",
				seq, seq%partitions, seq/partitions, len(msgs))
		}
		duplicates += c - 1
	}
	return duplicates
}

// deliverAll runs siembridge with a syslog sink until read returns every
// event of k, stops it with SIGTERM and checks the messages.
func deliverAll(t *testing.T, k *corpus, sink string, read func(*testing.T) []received) {
	t.Helper()
	siembridgeBinary(t) // built before the clock starts
	started := time.Now()
	sb := runSiembridge(t, routeYAML(k, sink))
	waitFor(t, 60*time.Second, "every event in the receiver's output", func() bool {
		if sb.exited() {
			t.Fatalf("siembridge exited: %s", sb.out)
		}
		return distinct(read(t)) >= len(k.docs)
	})
	stopSiembridge(t, sb)
	msgs := read(t)
	dups := checkSyslog(t, k, msgs)
	t.Logf("%d events, %d messages received (%d duplicates) in %s", len(k.docs), len(msgs), dups, time.Since(started).Round(time.Millisecond))
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// syslogSink is the sink block of a syslog route into addr.
func syslogSink(addr, network, extra string) string {
	return `      type: syslog
      address: "` + addr + `"
      network: ` + network + `
      format: json
      host_field: host.name
      timeout: 5s
` + extra
}

// sdElement matches the sink's one SD-ELEMENT; sdParam one
// PARAM-NAME="PARAM-VALUE" in it.
var (
	sdElement = regexp.MustCompile(`^\[kafka@32473((?: \w+="(?:[^"\\]|\\.)*")*)\]$`)
	sdParam   = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// parseSD fills r's topic, partition and offset from its raw structured
// data.
func parseSD(t *testing.T, r *received) {
	t.Helper()
	m := sdElement.FindStringSubmatch(r.SD)
	if m == nil {
		t.Fatalf("structured data %q is not one kafka@32473 element", r.SD)
	}
	for _, p := range sdParam.FindAllStringSubmatch(m[1], -1) {
		switch p[1] {
		case "topic":
			r.Topic = p[2]
		case "partition":
			r.Partition = p[2]
		case "offset":
			r.Offset = p[2]
		}
	}
}

// writeTLSFiles writes a CA and a server certificate for 127.0.0.1 signed
// by it, as PEM files in dir: ca.pem, cert.pem, key.pem.
func writeTLSFiles(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siembridge interop CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

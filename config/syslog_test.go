package config

import (
	"strings"
	"testing"
)

func TestSyslogKeysValid(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(sink(`type: syslog
address: q:514
network: udp
format: leef
rfc: rfc3164
leef: {delimiter: "^", mapping: {acct: user.name, usrName: ""}}
cef: {mapping: {shost: host.name}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	sl := c.Routes[0].Sink.Syslog
	if sl.MaxMessageBytes != DefaultSyslogUDPMaxMessageBytes || sl.Framing != DefaultSyslogFraming || sl.RELPWindow != DefaultRELPWindow ||
		sl.LEEF.Delimiter != "^" || sl.LEEF.Mapping["acct"] != "user.name" || sl.CEF.Mapping["shost"] != "host.name" {
		t.Errorf("parsed %+v", sl)
	}
	c, err = Parse([]byte(sink("type: syslog\naddress: q:514\nnetwork: relp\nrelp_window: 8\n")))
	if err != nil {
		t.Fatal(err)
	}
	if sl := c.Routes[0].Sink.Syslog; sl.MaxMessageBytes != DefaultSyslogMaxMessageBytes || sl.RFC != DefaultSyslogRFC || sl.LEEF.Delimiter != "\t" || sl.RELPWindow != 8 {
		t.Errorf("defaults %+v", sl)
	}
}

func TestSyslogKeysInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{"network: quic", "routes[0].sink.network"},
		{"format: xml", "routes[0].sink.format"},
		{"rfc: rfc5425", "routes[0].sink.rfc"},
		{"framing: lines", "routes[0].sink.framing"},
		{"network: udp\nframing: newline", "routes[0].sink.framing: applies to network tcp and tls only"},
		{"network: relp\nframing: newline", "routes[0].sink.framing"},
		{"network: udp\nmax_message_bytes: 70000", "routes[0].sink.max_message_bytes: 70000 exceeds 65507"},
		{"relp_window: -1", "routes[0].sink.relp_window"},
		{"leef: {delimiter: ab}", "routes[0].sink.leef.delimiter"},
		{"leef: {delimiter: a}", "routes[0].sink.leef.delimiter"},
		{`leef: {delimiter: "="}`, "routes[0].sink.leef.delimiter"},
		{"leef: {delimiter: 0x3A}", "routes[0].sink.leef.delimiter"}, // ':'
		{"cef: {mapping: {bad-key: a.b}}", "routes[0].sink.cef.mapping.bad-key: keys must be ASCII letters and digits"},
		{"cef: {mapping: {rt: a.b}}", "routes[0].sink.cef.mapping.rt: written by siembridge itself"},
		{"cef: {mapping: {x: a..b}}", "routes[0].sink.cef.mapping.x"},
		{"leef: {mapping: {kafkaOffset: a}}", "routes[0].sink.leef.mapping.kafkaOffset"},
	} {
		_, err := Parse([]byte(sink("type: syslog\naddress: q:514\n" + tc.body + "\n")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one with %q", tc.body, err, tc.want)
		}
	}
}

func TestLEEFDelimiter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]byte{"\t": '\t', "tab": '\t', "^": '^', "x5E": '^', "0x5e": '^', "x09": '\t', "~": '~'} {
		if got, err := LEEFDelimiter(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "a", "5", "|", "=", "\\", "0x", "0xZZ", "x00", "\n", "é", "-", ":"} {
		if got, err := LEEFDelimiter(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestRELPTLS(t *testing.T) {
	t.Parallel()
	if _, err := Parse([]byte(sink("type: syslog\naddress: q:514\nrelp_tls: true\n"))); err == nil || !strings.Contains(err.Error(), "routes[0].sink.relp_tls: applies to network relp only") {
		t.Errorf("relp_tls with tcp: %v", err)
	}
	if _, err := Parse([]byte(sink("type: syslog\naddress: q:514\nnetwork: relp\nca_file: testdata/tls/ca.pem\n"))); err == nil || !strings.Contains(err.Error(), "routes[0].sink.ca_file: needs network: tls") {
		t.Errorf("ca_file with relp without relp_tls: %v", err)
	}
	c, err := Parse([]byte(sink("type: syslog\naddress: q:514\nnetwork: relp\nrelp_tls: true\nca_file: testdata/tls/ca.pem\n")))
	if err != nil {
		t.Fatal(err)
	}
	if tl := c.Routes[0].Sink.Syslog.TLS(); !tl.Enabled || tl.ServerName != "q" {
		t.Errorf("TLS() = %+v", tl)
	}
}

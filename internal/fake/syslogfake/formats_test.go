package syslogfake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      bool
	}{
		{"empty", "", nil, false},
		{"two", "a b\nc\n", []string{"a b", "c"}, false},
		{"no trailer", "abc", nil, true},
		{"empty line", "\n", nil, true},
		{"too long", strings.Repeat("x", 20) + "\n", nil, true},
		{"at the limit", strings.Repeat("x", 16) + "\n", []string{strings.Repeat("x", 16)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			var got []string
			var err error
			for {
				var l []byte
				if l, err = ReadLine(r, 16); err != nil {
					break
				}
				got = append(got, string(l))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || tc.err == errors.Is(err, io.EOF) {
				t.Errorf("got %q, %v", got, err)
			}
		})
	}
}

func TestParseRFC3164(t *testing.T) {
	m, err := ParseRFC3164([]byte("<13>May  7 06:03:07 web-1 siembridge: CEF:0|a|b"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Facility != 1 || m.Severity != 5 || m.Hostname != "web-1" || m.AppName != "siembridge" || m.Msg != "CEF:0|a|b" ||
		m.Timestamp.Month() != time.May || m.Timestamp.Day() != 7 || m.Timestamp.Hour() != 6 {
		t.Errorf("parsed %+v", m)
	}
	for _, bad := range []string{
		"", "13>May  7 06:03:07 h t: m", "<192>May  7 06:03:07 h t: m", "<013>May  7 06:03:07 h t: m",
		"<13>May 7 06:03:07 h t: m", "<13>Mai  7 06:03:07 h t: m", "<13>May  7 06:03:07 h", "<13>May  7 06:03:07  t: m",
		"<13>May  7 06:03:07 h t m", "<13>May  7 06:03:07 h t[1]: m", "<13>May  7 06:03:07 h " + strings.Repeat("t", 33) + ": m",
		"<13>May  7 06:03:07 h t: a\nb",
	} {
		if m, err := ParseRFC3164([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %+v", bad, m)
		}
	}
}

func TestParseLEEF(t *testing.T) {
	l, err := ParseLEEF("LEEF:2.0|Lancope|Stealth\\|Watch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^url=http://x/?a=b")
	if err != nil {
		t.Fatal(err)
	}
	if l.Vendor != "Lancope" || l.Product != "Stealth|Watch" || l.Version != "1.0" || l.EventID != "41" || l.Delimiter != '^' || len(l.Attrs) != 3 {
		t.Fatalf("parsed %+v", l)
	}
	if v, _ := l.Attr("url"); v != "http://x/?a=b" {
		t.Errorf("url %q", v)
	}
	if l, err := ParseLEEF("LEEF:2.0|v|p|1|e|x09|a=1\tb=2"); err != nil || l.Delimiter != '\t' || len(l.Attrs) != 2 {
		t.Errorf("hex delimiter: %+v %v", l, err)
	}
	for _, bad := range []string{
		"LEEF:1.0|v|p|1|e|a=1", "LEEF:2.0|v|p|1|e", "LEEF:2.0|v\\x|p|1|e|^|a=1", "LEEF:2.0|v|p|1|e|^^|a=1",
		"LEEF:2.0|v|p|1|e|^|a=1^a=2", "LEEF:2.0|v|p|1|e|^|=1", "LEEF:2.0|v|p|1|e|^|a b=1", "LEEF:2.0|v|p|1|e|^|a=1\n",
		"LEEF:2.0|v|p|1|e|^|a", "LEEF:2.0|v|p|1|e|x00|a=1",
	} {
		if l, err := ParseLEEF(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, l)
		}
	}
}

func TestReadRELPFrame(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("1 open 5 a\nb=c\n2 close 0\n"))
	f, err := ReadRELPFrame(r, 100)
	if err != nil || f.Txnr != 1 || f.Command != "open" || string(f.Data) != "a\nb=c" {
		t.Fatalf("first: %+v %v", f, err)
	}
	if f, err = ReadRELPFrame(r, 100); err != nil || f.Txnr != 2 || f.Command != "close" || f.Data != nil {
		t.Fatalf("second: %+v %v", f, err)
	}
	if _, err = ReadRELPFrame(r, 100); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
	for _, bad := range []string{"1 syslog 3 abc", "1 syslog 3 abcd", "1 syslog 0 \n", "1 syslog 3\n", "x syslog 0\n",
		"1 sys1og 0\n", "1  0\n", "1 syslog 200 " + strings.Repeat("x", 200) + "\n", "0123456789 a 0\n", "1 syslog"} {
		if f, err := ReadRELPFrame(bufio.NewReader(strings.NewReader(bad)), 100); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%q accepted as %+v (%v)", bad, f, err)
		}
	}
}

// TestRELPServer drives the fake's RELP session by hand: open, a syslog
// command, a refused one, txnr checking.
func TestRELPServer(t *testing.T) {
	s := New(Options{Network: "relp"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	exchange := func(f RELPFrame) RELPFrame {
		t.Helper()
		if _, err := c.Write(AppendRELPFrame(nil, f)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadRELPFrame(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := exchange(RELPFrame{1, "open", []byte("relp_version=0\ncommands=syslog")}); got.Txnr != 1 || !bytes.HasPrefix(got.Data, []byte("200 OK\n")) || !bytes.Contains(got.Data, []byte("commands=syslog")) {
		t.Fatalf("open answered %+v", got)
	}
	if got := exchange(RELPFrame{2, "syslog", []byte("<14>1 - h a - - - hi")}); got.Txnr != 2 || string(got.Data) != "200 OK" {
		t.Fatalf("syslog answered %+v", got)
	}
	s.SetRELPStatus(500)
	if got := exchange(RELPFrame{3, "syslog", []byte("<14>1 - h a - - - no")}); !bytes.HasPrefix(got.Data, []byte("500 ")) {
		t.Fatalf("refused syslog answered %+v", got)
	}
	if got := exchange(RELPFrame{4, "close", nil}); got.Txnr != 4 || got.Command != "rsp" || len(got.Data) != 0 {
		t.Fatalf("close answered %+v", got)
	}
	if s.Count() != 1 || len(s.Errors()) != 0 {
		t.Errorf("%d stored, errors %v", s.Count(), s.Errors())
	}
}

// FuzzReadLine: never panics, never returns more than the limit or a LF.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), 16)
		for {
			l, err := ReadLine(r, 64)
			if err != nil {
				return
			}
			if len(l) > 64 || len(l) == 0 || bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("line %q", l)
			}
		}
	})
}

// FuzzParseRFC3164: never panics; what it accepts is in range.
func FuzzParseRFC3164(f *testing.F) {
	f.Add([]byte("<13>May  7 06:03:07 web-1 siembridge: x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseRFC3164(b)
		if err == nil && (m.Facility > 23 || m.Severity > 7 || m.Hostname == "" || m.AppName == "") {
			t.Fatalf("accepted %q as %+v", b, m)
		}
	})
}

// FuzzParseLEEF: never panics; an accepted line has unique keys.
func FuzzParseLEEF(f *testing.F) {
	f.Add("LEEF:2.0|v|p|1|e|^|a=1^b=2")
	f.Add("LEEF:2.0|v\\|w|p|1|e|x09|a=1\tb==")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLEEF(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range l.Attrs {
			if seen[a.Name] || a.Name == "" {
				t.Fatalf("%q: attributes %+v", s, l.Attrs)
			}
			seen[a.Name] = true
		}
	})
}

// FuzzReadRELPFrame: never panics; an accepted frame re-encodes to the
// bytes read (when its numbers have no leading zeros).
func FuzzReadRELPFrame(f *testing.F) {
	f.Add([]byte("1 open 5 a\nb=c\n2 close 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		fr, err := ReadRELPFrame(r, 256)
		if err != nil {
			return
		}
		read := b[:len(b)-r.Buffered()]
		if back := AppendRELPFrame(nil, fr); !bytes.Equal(back, read) && !bytes.HasPrefix(read, []byte("0")) && !bytes.Contains(read, []byte(" 0")) {
			t.Fatalf("read %q, re-encoded %q", read, back)
		}
	})
}

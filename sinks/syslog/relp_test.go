package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/syslogfake"
	"github.com/siembridge/siembridge/sinks"
)

// relpSink starts a RELP syslogfake and a sink sending to it.
func relpSink(t *testing.T, window int) (*Sink, *syslogfake.Server) {
	t.Helper()
	f := startFake(t, syslogfake.Options{Network: "relp"})
	cfg := testConfig(f.Addr())
	cfg.Network, cfg.RELPWindow = "relp", window
	return newSink(t, cfg), f
}

// retryIndexes returns the indexes of err's Retry items, or fails.
func retryIndexes(t *testing.T, err error) []int {
	t.Helper()
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want a *sinks.BatchError, got %T %v", err, err)
	}
	var out []int
	for _, it := range be.Items {
		if it.Outcome != sinks.Retry {
			t.Errorf("item %d: outcome %v, want Retry", it.Index, it.Outcome)
		}
		out = append(out, it.Index)
	}
	return out
}

func TestRELPDelivers(t *testing.T) {
	for _, window := range []int{1, 3, 128} {
		t.Run("window "+strconv.Itoa(window), func(t *testing.T) {
			s, f := relpSink(t, window)
			for i := range 3 {
				if err := s.Send(context.Background(), batchOf(i*40, 40)); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
			}
			// Delivered means answered, which the fake does only after
			// storing: no waiting here.
			if got := f.Count(); got != 120 {
				t.Fatalf("%d messages stored, want 120", got)
			}
			assertOffsets(t, f, 120)
			if f.Accepted() != 1 {
				t.Errorf("%d sessions, want 1", f.Accepted())
			}
		})
	}
}

func TestRELPStatus500IsRetry(t *testing.T) {
	s, f := relpSink(t, 128)
	f.SetRELPStatus(500)
	err := s.Send(context.Background(), batchOf(0, 5))
	if got := retryIndexes(t, err); len(got) != 5 {
		t.Fatalf("retry items %v, want all 5", got)
	}
	var be *sinks.BatchError
	errors.As(err, &be)
	if be.Items[0].Status != 500 || !strings.Contains(be.Items[0].Reason, "refused by syslogfake") {
		t.Errorf("item %+v: want status 500 and the server's text", be.Items[0])
	}
	f.SetRELPStatus(200)
	if err := s.Send(context.Background(), batchOf(0, 5)); err != nil {
		t.Fatal(err)
	}
	if f.Count() != 5 || f.Accepted() != 1 {
		t.Errorf("%d stored on %d sessions; a 500 must not end the session", f.Count(), f.Accepted())
	}
}

// TestRELPBrokenSession: the receiver drops the session after storing the
// third message, before answering it. The first two are delivered, the
// rest (the third included: unanswered) are Retry, and the retry goes out
// on a new session.
func TestRELPBrokenSession(t *testing.T) {
	s, f := relpSink(t, 128)
	f.SetDropAfter(3)
	batch := batchOf(0, 10)
	got := retryIndexes(t, s.Send(context.Background(), batch))
	if want := []int{2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("retry items %v, want %v", got, want)
	}
	f.SetDropAfter(0)
	var again = batch[2:]
	if err := s.Send(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, f, 10)
	if f.Accepted() != 2 {
		t.Errorf("%d sessions, want 2", f.Accepted())
	}
}

func TestRELPServerCloseHint(t *testing.T) {
	s, f := relpSink(t, 128)
	if err := s.Send(context.Background(), batchOf(0, 3)); err != nil {
		t.Fatal(err)
	}
	f.ServerClose()
	waitFor(t, "the session to end", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.relp.failed() != nil
	})
	if err := s.Send(context.Background(), batchOf(3, 3)); err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, f, 6)
	if f.Accepted() != 2 {
		t.Errorf("%d sessions, want 2", f.Accepted())
	}
}

// scriptedRELP is a RELP server driven by the test: it answers open with
// openRsp and hands every later frame to answer, which returns the
// response data or false for none. It records the frames it read.
type scriptedRELP struct {
	ln     net.Listener
	mu     sync.Mutex
	frames []relpFrame
	wg     sync.WaitGroup
}

func startScripted(t testing.TB, openRsp string, answer func(relpFrame) (string, bool)) *scriptedRELP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sr := &scriptedRELP{ln: ln}
	sr.wg.Add(1)
	go func() {
		defer sr.wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			f, err := readRELPFrame(br, 1<<20)
			if err != nil {
				return
			}
			sr.mu.Lock()
			sr.frames = append(sr.frames, f)
			sr.mu.Unlock()
			data, ok := openRsp, f.cmd == "open"
			if !ok {
				data, ok = answer(f)
			}
			if ok {
				if _, err := c.Write(appendRELPFrame(nil, f.txnr, "rsp", []byte(data))); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); sr.wg.Wait() })
	return sr
}

func (sr *scriptedRELP) commands() []string {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	var out []string
	for _, f := range sr.frames {
		out = append(out, strconv.Itoa(f.txnr)+" "+f.cmd)
	}
	return out
}

const okOpen = "200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog"

// TestRELPWindow: a server that never answers gets exactly window
// commands, and the batch then fails as Unavailable within the timeout.
func TestRELPWindow(t *testing.T) {
	sr := startScripted(t, okOpen, func(relpFrame) (string, bool) { return "", false })
	cfg := testConfig(sr.ln.Addr().String())
	cfg.Network, cfg.RELPWindow, cfg.Timeout = "relp", 4, 300*time.Millisecond
	s := newSink(t, cfg)
	err := s.Send(context.Background(), batchOf(0, 10))
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Unavailable {
		t.Fatalf("want an Unavailable RequestError, got %v", err)
	}
	if got, want := sr.commands(), []string{"1 open", "2 syslog", "3 syslog", "4 syslog", "5 syslog"}; !slices.Equal(got, want) {
		t.Errorf("server read %v, want %v", got, want)
	}
}

// TestRELPMixedAnswers: per message outcomes; only the refused ones are
// retried.
func TestRELPMixedAnswers(t *testing.T) {
	sr := startScripted(t, okOpen, func(f relpFrame) (string, bool) {
		if f.cmd == "close" {
			return "", true
		}
		if f.txnr%2 == 0 {
			return "500 queue full", true
		}
		return "200 OK", true
	})
	cfg := testConfig(sr.ln.Addr().String())
	cfg.Network, cfg.RELPWindow = "relp", 2
	s := newSink(t, cfg)
	// txnr 2..7 carry batch items 0..5: the even txnrs, items 0, 2, 4, are refused.
	got := retryIndexes(t, s.Send(context.Background(), batchOf(0, 6)))
	if want := []int{0, 2, 4}; !slices.Equal(got, want) {
		t.Fatalf("retry items %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmds := sr.commands()
	if last := cmds[len(cmds)-1]; last != "8 close" {
		t.Errorf("last command %q, want 8 close (txnrs go on after the window waits)", last)
	}
}

func TestRELPOpenRefused(t *testing.T) {
	for _, tc := range []struct{ name, open string }{
		{"500", "500 required command not supported by client"},
		{"no syslog command", "200 OK\nrelp_version=0\ncommands=eventlog"},
		{"no version", "200 OK\ncommands=syslog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := startScripted(t, tc.open, func(relpFrame) (string, bool) { return "", false })
			cfg := testConfig(sr.ln.Addr().String())
			cfg.Network = "relp"
			s := newSink(t, cfg)
			err := s.Send(context.Background(), batchOf(0, 1))
			var re *sinks.RequestError
			if !errors.As(err, &re) || re.Outcome != sinks.Retry || !strings.Contains(err.Error(), "relp open") {
				t.Fatalf("want a retryable open failure, got %v", err)
			}
			if got := sr.commands(); len(got) != 1 {
				t.Errorf("server read %v; nothing may follow a failed open", got)
			}
		})
	}
}

func TestReadRELPFrame(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    relpFrame
		wantErr string
	}{
		{in: "2 rsp 6 200 OK\n", want: relpFrame{txnr: 2, cmd: "rsp", data: []byte("200 OK")}},
		{in: "0 serverclose 0\n", want: relpFrame{txnr: 0, cmd: "serverclose"}},
		{in: "5 rsp 0\n", want: relpFrame{txnr: 5, cmd: "rsp"}},
		{in: "1 rsp 10 200 OK\nx=y\n", want: relpFrame{txnr: 1, cmd: "rsp", data: []byte("200 OK\nx=y")}},
		{in: "", wantErr: "EOF"},
		{in: "x rsp 0\n", wantErr: "TXNR starts"},
		{in: "1234567890 rsp 0\n", wantErr: "more than 9 digits"},
		{in: "1 r2p 0\n", wantErr: "COMMAND"},
		{in: "1  0\n", wantErr: "empty COMMAND"},
		{in: "1 rsp 6 200 OK", wantErr: "unexpected EOF"},
		{in: "1 rsp 6 200 OKX", wantErr: "TRAILER"},
		{in: "1 rsp 0 \n", wantErr: "followed by"},
		{in: "1 rsp 3\n", wantErr: "followed by"},
		{in: "1 rsp 999999 " + strings.Repeat("x", 10), wantErr: "exceeds"},
	} {
		got, err := readRELPFrame(bufio.NewReader(strings.NewReader(tc.in)), 1000)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.txnr != tc.want.txnr || got.cmd != tc.want.cmd || !bytes.Equal(got.data, tc.want.data) {
			t.Errorf("%q: got %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRELPResponse(t *testing.T) {
	for _, tc := range []struct {
		in       string
		code     int
		text     string
		rest     string
		wantFail bool
	}{
		{in: "200 OK", code: 200, text: "OK"},
		{in: "200", code: 200},
		{in: "500 queue full", code: 500, text: "queue full"},
		{in: "200 OK\nrelp_version=0\ncommands=syslog", code: 200, text: "OK", rest: "relp_version=0\ncommands=syslog"},
		{in: "", wantFail: true},
		{in: "20", wantFail: true},
		{in: "2x0 OK", wantFail: true},
		{in: "+20 OK", wantFail: true},
		{in: "200OK", wantFail: true},
	} {
		code, text, rest, err := parseRELPResponse([]byte(tc.in))
		if (err != nil) != tc.wantFail || code != tc.code || text != tc.text || string(rest) != tc.rest {
			t.Errorf("%q: got %d %q %q %v", tc.in, code, text, rest, err)
		}
	}
	if got := nextTxnr(relpMaxTxnr); got != 1 {
		t.Errorf("after %d comes %d, want 1", relpMaxTxnr, got)
	}
}

// FuzzRELPResponse: the client's frame and response parsers never panic,
// and a frame they accept re-encodes to the bytes read.
func FuzzRELPResponse(f *testing.F) {
	for _, s := range []string{"2 rsp 6 200 OK\n", "0 serverclose 0\n", "1 rsp 10 200 OK\nx=y\n", "1 rsp 0\n", "9 rsp 3 500\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		fr, err := readRELPFrame(r, 4096)
		if err != nil {
			if errors.Is(err, io.EOF) && len(in) != 0 {
				t.Fatalf("io.EOF for non-empty input %q", in)
			}
			return
		}
		back := appendRELPFrame(nil, fr.txnr, fr.cmd, fr.data)
		consumed := len(in) - r.Buffered()
		if !bytes.Equal(back, in[:consumed]) && !leadingZeros(in[:consumed]) {
			t.Fatalf("read %q, re-encoded %q", in[:consumed], back)
		}
		code, _, _, err := parseRELPResponse(fr.data)
		if err == nil && (code < 0 || code > 999) {
			t.Fatalf("code %d from %q", code, fr.data)
		}
	})
}

// leadingZeros reports whether a frame's numbers had leading zeros, which
// the reader accepts and the writer never produces.
func leadingZeros(b []byte) bool {
	fields := strings.SplitN(string(b), " ", 4)
	for _, i := range []int{0, 2} {
		if i < len(fields) && len(strings.TrimSpace(fields[i])) > 1 && fields[i][0] == '0' {
			return true
		}
	}
	return false
}

// TestRELPOverTLS: relp_tls runs the session over TLS with mutual
// authentication; a server certificate from another CA is Fatal.
func TestRELPOverTLS(t *testing.T) {
	ca, err := syslogfake.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := ca.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, syslogfake.Options{Network: "relp", TLS: serverTLS})
	cfg := testConfig(f.Addr())
	cfg.Network, cfg.RELPTLS, cfg.RELPWindow = "relp", true, 16
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = caFile, certFile, keyFile
	s := newSink(t, cfg)
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Send(context.Background(), batchOf(0, 50)); err != nil {
		t.Fatal(err)
	}
	if f.Count() != 50 {
		t.Fatalf("%d stored, want 50", f.Count())
	}

	other, err := syslogfake.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _, _, err := other.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.CAFile = otherCA
	bad := newSink(t, cfg)
	err = bad.Send(context.Background(), batchOf(0, 1))
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Fatal {
		t.Fatalf("untrusted server certificate: want Fatal, got %v", err)
	}
}

// BenchmarkRELPSend: batches of 500 events of about 120 bytes through a
// RELP session over loopback to a responder that answers every command
// 200 without parsing the message (as BenchmarkSend's receiver discards),
// each batch waiting for all its responses; window 128 (the default) and
// 1 (one round trip per message).
func BenchmarkRELPSend(b *testing.B) {
	for _, window := range []int{128, 1} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			sr := startScripted(b, okOpen, func(f relpFrame) (string, bool) { return "200 OK", true })
			cfg := testConfig(sr.ln.Addr().String())
			cfg.Network, cfg.RELPWindow = "relp", window
			s, err := New(cfg, WithLogger(quietLogger()))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := batchOf(0, 500)
			b.ResetTimer()
			for range b.N {
				if err := s.Send(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

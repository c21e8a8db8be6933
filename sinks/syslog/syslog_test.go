package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
	"github.com/siembridge/siembridge/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ sinks.Sink = (*Sink)(nil)

func testConfig(addr string) config.Syslog {
	facility := 1
	return config.Syslog{
		Address: addr, Network: "tcp", Format: "json", Facility: &facility,
		AppName: "siembridge", CEFVendor: "siembridge", CEFProduct: "siembridge", CEFVersion: "1.0",
		Timeout: 5 * time.Second, TCPUserTimeout: 30 * time.Second, MaxMessageBytes: 64 * config.KiB,
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSink(t *testing.T, cfg config.Syslog) *Sink {
	t.Helper()
	s, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startFake(t *testing.T, opts syslogfake.Options) *syslogfake.Server {
	t.Helper()
	f := syslogfake.New(opts)
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.Close()
		for _, err := range f.Errors() {
			t.Errorf("syslogfake: %v", err)
		}
	})
	return f
}

// batchOf makes n events on topic t, partition 0, offsets from..from+n-1.
func batchOf(from, n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		off := int64(from + i)
		out[i] = newEvent("events", 0, off, fmt.Sprintf(`{"@timestamp":"2024-05-17T07:03:07.123Z","n":%d,"message":"ünïcode"}`, off))
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// offsets returns the offsets of the received messages, in arrival order.
func offsets(t *testing.T, msgs []syslogfake.Message) []int64 {
	t.Helper()
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		v, ok := m.Param(sdID, "offset")
		if !ok {
			t.Fatalf("message without offset: %+v", m)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

func assertOffsets(t *testing.T, f *syslogfake.Server, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d messages", n), func() bool { return f.Count() >= n })
	seen := map[int64]int{}
	for _, o := range offsets(t, f.Messages()) {
		seen[o]++
	}
	for o := range int64(n) {
		if seen[o] == 0 {
			t.Errorf("offset %d never arrived", o)
		}
	}
}

// TestFraming captures the raw byte stream: each message is framed as
// "<octet count> <message>", the count in bytes (not characters), one
// frame after the other without separators.
func TestFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		docs []string
	}{
		{"one ascii", []string{`{"a":1}`}},
		{"multibyte counts bytes", []string{`{"m":"ünïcödé ☃"}`}},
		{"pretty printed", []string{"{\n  \"a\": 1\n}"}},
		{"several", []string{`{"a":1}`, `{"b":"` + strings.Repeat("x", 1000) + `"}`, `{}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- nil
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c) // until the sink closes
				got <- b
			}()
			s, err := New(testConfig(ln.Addr().String()), WithLogger(quietLogger()))
			if err != nil {
				t.Fatal(err)
			}
			s.host = "h"
			var batch []*event.Event
			var want strings.Builder
			for i, d := range tc.docs {
				e := newEvent("events", 0, int64(i), d)
				batch = append(batch, e)
				msg := string(appendHeader(nil, e, 1, "h", "siembridge")) + strings.NewReplacer("\n", " ", "\r", " ").Replace(d)
				fmt.Fprintf(&want, "%d %s", len(msg), msg)
			}
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; string(b) != want.String() {
				t.Errorf("stream\n got %q\nwant %q", b, want.String())
			}
		})
	}
}

func TestSendJSONAndCEF(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	cfg := testConfig(f.Addr())
	cfg.HostField = "host.name"
	s := newSink(t, cfg)
	doc := `{"@timestamp":"2024-05-17T07:03:07.123Z","host":{"name":"dc01"},"event":{"action":"logon-failed","code":"4625"},"source":{"ip":"10.0.0.1"}}`
	if err := s.Send(context.Background(), []*event.Event{newEvent("events", 1, 5, doc)}); err != nil {
		t.Fatal(err)
	}
	cfg.Format = "cef"
	c := newSink(t, cfg)
	if err := c.Send(context.Background(), []*event.Event{newEvent("events", 1, 6, doc)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 messages", func() bool { return f.Count() == 2 })
	msgs := f.Messages()
	if msgs[0].Conn == msgs[1].Conn {
		msgs[0], msgs[1] = msgs[1], msgs[0] // order across connections is not defined
	}
	byOffset := map[string]syslogfake.Message{}
	for _, m := range msgs {
		o, _ := m.Param(sdID, "offset")
		byOffset[o] = m
	}
	j, cef := byOffset["5"], byOffset["6"]
	if j.Msg != doc || j.Hostname != "dc01" || j.MsgID != "logon-failed" || j.AppName != "siembridge" || j.Facility != 1 || j.Severity != 6 {
		t.Errorf("json message %+v", j)
	}
	if !j.Timestamp.Equal(time.Date(2024, 5, 17, 7, 3, 7, 123e6, time.UTC)) {
		t.Errorf("timestamp %v", j.Timestamp)
	}
	if want := "CEF:0|siembridge|siembridge|1.0|4625|logon-failed|1|src=10.0.0.1 dvchost=dc01 act=logon-failed rt=1715929387123 cs2Label=kafka.topic cs2=events cs3Label=kafka.partition cs3=1 cn1Label=kafka.offset cn1=6"; cef.Msg != want {
		t.Errorf("cef message\n got %s\nwant %s", cef.Msg, want)
	}
}

func TestOversizeRejected(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	cfg := testConfig(f.Addr())
	cfg.MaxMessageBytes = 300
	s := newSink(t, cfg)
	batch := batchOf(0, 3)
	batch[1] = newEvent("events", 0, 1, `{"big":"`+strings.Repeat("x", 300)+`"}`)
	err := s.Send(context.Background(), batch)
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 || be.Items[0].Outcome != sinks.Reject {
		t.Fatalf("Send = %v, want event 1 rejected", err)
	}
	if !strings.Contains(be.Items[0].Reason, "max_message_bytes") {
		t.Errorf("reason %q", be.Items[0].Reason)
	}
	waitFor(t, "2 messages", func() bool { return f.Count() == 2 })
	if got := offsets(t, f.Messages()); got[0] != 0 || got[1] != 2 {
		t.Errorf("offsets %v, want [0 2]", got)
	}
	// A batch of nothing but oversize events sends nothing.
	err = s.Send(context.Background(), batch[1:2])
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 0 {
		t.Fatalf("Send = %v", err)
	}
}

// TestReconnectAfterDrop: the receiver closes each connection after 5
// messages, gracefully (linger) or abruptly; the sink notices the close
// before its next write and reconnects, so nothing is lost.
func TestReconnectAfterDrop(t *testing.T) {
	for _, linger := range []time.Duration{0, time.Second} {
		t.Run("linger="+linger.String(), func(t *testing.T) {
			f := startFake(t, syslogfake.Options{Linger: linger})
			f.SetDropAfter(5)
			s := newSink(t, testConfig(f.Addr()))
			for i := range 6 {
				if err := s.Send(context.Background(), batchOf(i*5, 5)); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				waitFor(t, "the messages", func() bool { return f.Count() == (i+1)*5 })
				waitFor(t, "the sink to notice the close", func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return s.conn == nil || s.conn.dead.Load()
				})
			}
			assertOffsets(t, f, 30)
			if got := f.Accepted(); got != 6 {
				t.Errorf("%d connections, want 6", got)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	f.SetIdleTimeout(50 * time.Millisecond)
	s := newSink(t, testConfig(f.Addr()))
	for i := range 3 {
		if err := s.Send(context.Background(), batchOf(i*2, 2)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the idle close", func() bool { return f.Open() == 0 })
		waitFor(t, "the sink to notice the close", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.conn == nil || s.conn.dead.Load()
		})
	}
	assertOffsets(t, f, 6)
}

// TestRefused: while the receiver refuses, Send and Probe fail retryably
// (Retry: never Fatal, never Reject); once it listens again both work.
func TestRefused(t *testing.T) {
	f := startFake(t, syslogfake.Options{Linger: time.Second})
	s := newSink(t, testConfig(f.Addr()))
	if err := s.Send(context.Background(), batchOf(0, 3)); err != nil {
		t.Fatal(err)
	}
	// Delivered means acknowledged by the receiver's kernel, not parsed:
	// under load the fake could still be parsing when Refuse closes it.
	waitFor(t, "3 messages", func() bool { return f.Count() == 3 })
	f.Refuse()
	waitFor(t, "connections dropped", func() bool { return f.Open() == 0 })
	for range 3 {
		err := s.Send(context.Background(), batchOf(3, 3))
		var re *sinks.RequestError
		if !errors.As(err, &re) || re.Outcome != sinks.Retry {
			t.Fatalf("Send while refused = %#v, want a retryable RequestError", err)
		}
	}
	if err := s.Probe(context.Background()); err == nil || sinks.Of(err) == sinks.Fatal {
		t.Fatalf("Probe while refused = %v", err)
	}
	if err := f.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe after resume: %v", err)
	}
	if err := s.Send(context.Background(), batchOf(3, 3)); err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, f, 6)
}

func TestTLS(t *testing.T) {
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
	f := startFake(t, syslogfake.Options{TLS: serverTLS, Linger: time.Second})
	cfg := testConfig(f.Addr())
	cfg.Network, cfg.CAFile, cfg.CertFile, cfg.KeyFile = "tls", caFile, certFile, keyFile
	s := newSink(t, cfg)
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if err := s.Send(context.Background(), batchOf(0, 10)); err != nil {
		t.Fatal(err)
	}
	// A drop over TLS (close_notify, then FIN) is noticed too.
	waitFor(t, "10 messages", func() bool { return f.Count() == 10 })
	f.DropAll()
	waitFor(t, "the sink to notice the close", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn == nil || s.conn.dead.Load()
	})
	if err := s.Send(context.Background(), batchOf(10, 10)); err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, f, 20)

	t.Run("unknown CA is fatal", func(t *testing.T) {
		other, err := syslogfake.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		otherCA, _, _, err := other.WriteFiles(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		bad := cfg
		bad.CAFile = otherCA
		s := newSink(t, bad)
		for _, err := range []error{s.Probe(context.Background()), s.Send(context.Background(), batchOf(0, 1))} {
			if sinks.Of(err) != sinks.Fatal {
				t.Errorf("got %v, want a fatal error", err)
			}
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		insecure := cfg
		insecure.CAFile = ""
		insecure.InsecureSkipVerify = true
		var logs strings.Builder
		s, err := New(insecure, WithLogger(slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.Contains(logs.String(), "DISABLED") {
			t.Errorf("no loud warning: %q", logs.String())
		}
		if err := s.Probe(context.Background()); err != nil {
			t.Errorf("Probe: %v", err)
		}
	})
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestConcurrentSends: frames of concurrent batches never interleave.
func TestConcurrentSends(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	s := newSink(t, testConfig(f.Addr()))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := s.Send(context.Background(), batchOf(g*1000+i*50, 50)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "4000 messages", func() bool { return f.Count() == 4000 })
	if got := f.Accepted(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestWriteTimeout: a receiver that stops reading makes the write time
// out; that is an unavailable failure (throttled, counted by the breaker)
// and the connection is replaced.
func TestWriteTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // never read
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	cfg := testConfig(ln.Addr().String())
	cfg.Timeout = 200 * time.Millisecond
	cfg.MaxMessageBytes = 8 * config.MiB
	s := newSink(t, cfg)
	big := []*event.Event{newEvent("events", 0, 0, `{"x":"`+strings.Repeat("y", 32<<20/8)+`"}`)}
	var err2 error
	for range 20 { // fill the socket buffers
		if err2 = s.Send(context.Background(), big); err2 != nil {
			break
		}
	}
	var re *sinks.RequestError
	if !errors.As(err2, &re) || re.Outcome != sinks.Unavailable {
		t.Fatalf("Send = %v, want an unavailable RequestError", err2)
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		t.Error("the connection was kept after a failed write")
	}
}

// TestContextCancel: a write blocked on a full socket ends with ctx.
func TestContextCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		time.Sleep(200 * time.Millisecond) // let the write block
		cancel()
	}()
	cfg := testConfig(ln.Addr().String())
	cfg.MaxMessageBytes = 32 * config.MiB
	s := newSink(t, cfg)
	err = s.Send(ctx, []*event.Event{newEvent("events", 0, 0, `{"x":"`+strings.Repeat("y", 24<<20)+`"}`)})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want it ended by the context", err)
	}
	(<-accepted).Close()
}

func TestClose(t *testing.T) {
	f := startFake(t, syslogfake.Options{})
	s, err := New(testConfig(f.Addr()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), batchOf(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), batchOf(1, 1)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	if err := s.Probe(context.Background()); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Probe after Close = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	good := testConfig("127.0.0.1:514")
	for _, tc := range []struct {
		name string
		mod  func(*config.Syslog)
	}{
		// What config.Validate checks (address, network, format, timeouts,
		// sizes, facility range, TLS files on tcp), New does not check
		// again; what it cannot know is New's to find.
		{"facility not defaulted", func(c *config.Syslog) { c.Facility = nil }},
		{"missing ca file", func(c *config.Syslog) { c.Network = "tls"; c.CAFile = "/nonexistent/ca.pem" }},
		{"cert without key", func(c *config.Syslog) { c.Network = "tls"; c.CertFile = "/x" }},
	} {
		cfg := good
		tc.mod(&cfg)
		if s, err := New(cfg, WithLogger(quietLogger())); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

// TestFakeRejectsGarbage makes sure the fake's strictness is real: a bad
// frame is recorded as an error.
func TestFakeRejectsGarbage(t *testing.T) {
	f := syslogfake.New(syslogfake.Options{})
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "17 <14>1 - - - - - -17 <14>2 - - - - - -")
	w.Flush()
	c.Close()
	waitFor(t, "an error", func() bool { return len(f.Errors()) == 1 })
	if f.Count() != 1 {
		t.Errorf("count %d, want 1", f.Count())
	}
}

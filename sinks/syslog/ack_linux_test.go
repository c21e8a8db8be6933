package syslog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/syslogfake"
	"github.com/siembridge/siembridge/sinks"
)

// These tests need the Linux acknowledgement wait (ack_linux.go); on other
// systems a completed write still counts as delivered.

// stallWindow is the receive buffer of a stalled receiver: the kernel
// doubles it, so the receiver acknowledges about 8 KiB and no more.
const stallWindow = 4096

// bigBatch returns n events of about 8 KiB each from offset from: far more
// than a stalled receiver's window, far less than the sender's socket
// buffer, so the write completes at once and the bytes wait in our kernel.
func bigBatch(from, n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		off := int64(from + i)
		out[i] = newEvent("events", 0, off, fmt.Sprintf(`{"n":%d,"pad":%q}`, off, strings.Repeat("p", 8<<10)))
	}
	return out
}

// stalledFake starts a receiver (Linger 0: it closes abruptly) with a
// small window, connects a sink with the given timeout, sends it one
// message and then stops reading without closing: a hung receiver process.
func stalledFake(t *testing.T, network string, timeout time.Duration) (*syslogfake.Server, *Sink) {
	t.Helper()
	opts := syslogfake.Options{ReceiveBuffer: stallWindow}
	var caFile string
	if network == "tls" {
		ca, err := syslogfake.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		if opts.TLS, err = ca.ServerTLS(false); err != nil {
			t.Fatal(err)
		}
		if caFile, _, _, err = ca.WriteFiles(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	f := startFake(t, opts)
	cfg := testConfig(f.Addr())
	if network == "tls" {
		cfg.Network, cfg.CAFile = "tls", caFile
	}
	cfg.Timeout = timeout
	cfg.MaxMessageBytes = config.MiB
	s := newSink(t, cfg)
	// The first batch opens the connection (and completes the TLS
	// handshake, which needs the receiver to read).
	if err := s.Send(context.Background(), batchOf(1000, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message", func() bool { return f.Count() == 1 })
	f.Pause()
	return f, s
}

// TestStalledReceiverNotDelivered: a receiver that accepted the connection
// and then stops reading, without closing, acknowledges only what fits its
// receive buffer. A batch whose bytes it did not acknowledge within the
// timeout is not delivered: Send fails retryably (throttled: the receiver
// does not keep up) and drops the connection. Once the receiver reads
// again, the retry on a new connection delivers every event.
func TestStalledReceiverNotDelivered(t *testing.T) {
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			const timeout = 500 * time.Millisecond
			f, s := stalledFake(t, network, timeout)

			batch := bigBatch(0, 20)
			start := time.Now()
			err := s.Send(context.Background(), batch)
			took := time.Since(start)
			var re *sinks.RequestError
			if !errors.As(err, &re) || !retryable(err) {
				t.Fatalf("Send = %v after %v with the receiver stalled (it parsed %d of 1+%d messages); want a retryable RequestError: the batch was never acknowledged",
					err, took.Round(time.Millisecond), f.Count(), len(batch))
			}
			if re.Outcome != sinks.Unavailable {
				t.Errorf("Send = %v: %v, want unavailable (throttled, counted by the breaker)", err, re.Outcome)
			}
			if took < timeout-50*time.Millisecond || took > timeout+2*time.Second {
				t.Errorf("Send failed after %v, want about the timeout %v", took, timeout)
			}
			s.mu.Lock()
			c := s.conn
			s.mu.Unlock()
			if c != nil {
				t.Error("the connection was kept after an unacknowledged batch")
			}

			f.Unpause()
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatalf("retry: %v", err)
			}
			assertOffsets(t, f, len(batch))
		})
	}
}

// TestReceiverDiesMidBatch: the receiver stops reading, and while a batch
// waits for its acknowledgement the receiver goes away: its connections
// are closed abruptly (a crash: the unread bytes make its kernel answer
// with a reset) or it stops listening altogether. The batch in flight is
// not delivered; Send fails retryably as soon as the reset arrives, long
// before the timeout, and the retry delivers every event.
func TestReceiverDiesMidBatch(t *testing.T) {
	for _, tc := range []struct {
		network string
		refuse  bool // stop listening too, and resume before the retry
	}{
		{"tcp", false}, {"tcp", true}, {"tls", false}, {"tls", true},
	} {
		t.Run(fmt.Sprintf("%s/refuse=%v", tc.network, tc.refuse), func(t *testing.T) {
			const timeout = 10 * time.Second
			f, s := stalledFake(t, tc.network, timeout)

			batch := bigBatch(0, 20)
			result := make(chan error, 1)
			start := time.Now()
			go func() { result <- s.Send(context.Background(), batch) }()
			select {
			case err := <-result:
				t.Fatalf("Send = %v after %v, before the receiver acknowledged the batch (it parsed %d of 1+%d messages)",
					err, time.Since(start).Round(time.Millisecond), f.Count(), len(batch))
			case <-time.After(300 * time.Millisecond):
			}
			if tc.refuse {
				f.Refuse()
			} else {
				f.DropAll()
			}
			err := <-result
			took := time.Since(start)
			if err == nil || !retryable(err) {
				t.Fatalf("Send = %v, want a retryable error for the batch in flight", err)
			}
			if took > timeout/2 {
				t.Errorf("Send noticed the reset only after %v", took)
			}
			if tc.refuse {
				if err := s.Send(context.Background(), batch); err == nil {
					t.Fatal("Send succeeded while the receiver refuses")
				}
				if err := f.Resume(); err != nil {
					t.Fatal(err)
				}
			}
			f.Unpause()
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatalf("retry: %v", err)
			}
			assertOffsets(t, f, len(batch))
		})
	}
}

// TestAckWaitsSideBySide: Sends release the connection once written and
// wait for their acknowledgements together. With the receiver stalled,
// four concurrent batches all fail after about one timeout (not one
// timeout after the other) and none is counted delivered.
func TestAckWaitsSideBySide(t *testing.T) {
	const timeout = time.Second
	f, s := stalledFake(t, "tcp", timeout)
	start := time.Now()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() { errs <- s.Send(context.Background(), bigBatch(g*100, 5)) }()
	}
	for range 4 {
		if err := <-errs; err == nil || !retryable(err) {
			t.Errorf("Send = %v, want a retryable error", err)
		}
	}
	if took := time.Since(start); took > timeout+timeout/2 {
		t.Errorf("4 Sends took %v: they waited one after the other", took)
	}
	f.Unpause()
}

// TestUserTimeout: tcp_user_timeout is set on the socket, for TCP and TLS.
func TestUserTimeout(t *testing.T) {
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			_, s := stalledFake(t, network, time.Second) // connected
			assertUserTimeout(t, s, 30*time.Second)
		})
	}
}

func assertUserTimeout(t *testing.T, s *Sink, want time.Duration) {
	t.Helper()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	var (
		ms     int
		sysErr error
	)
	if err := c.raw.Control(func(fd uintptr) {
		ms, sysErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}); err != nil {
		t.Fatal(err)
	}
	if sysErr != nil {
		t.Fatal(sysErr)
	}
	if got := time.Duration(ms) * time.Millisecond; got != want {
		t.Errorf("TCP_USER_TIMEOUT %v, want %v", got, want)
	}
}

// retryable reports whether err sends the batch again later without
// marking the sink down: Retry, Throttled or Unavailable.
func retryable(err error) bool {
	switch sinks.Of(err) {
	case sinks.Retry, sinks.Throttled, sinks.Unavailable:
		return true
	}
	return false
}

package syslog

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/syslogfake"
)

// TestAckedIsNotProcessed pins down what a delivered batch means, and the
// window that remains: the receiver's kernel acknowledged the bytes (here
// they sit in its socket buffer, which has room), not that the receiver
// read them. Send returns nil at once although the paused receiver parsed
// nothing; had it crashed now, those messages would be lost. Only an
// application-level acknowledgement (RELP) would close this window.
func TestAckedIsNotProcessed(t *testing.T) {
	f := startFake(t, syslogfake.Options{}) // the system's receive buffer
	s := newSink(t, testConfig(f.Addr()))
	if err := s.Send(context.Background(), batchOf(0, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message", func() bool { return f.Count() == 1 })
	f.Pause()
	start := time.Now()
	if err := s.Send(context.Background(), batchOf(1, 20)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send took %v with room in the receiver's buffer", took)
	}
	if n := f.Count(); n != 1 {
		t.Fatalf("the paused receiver parsed %d messages", n)
	}
	f.Unpause()
	assertOffsets(t, f, 21)
}

// TestHappyPath: a receiver that keeps up gets every message, and Send
// waits only for the acknowledgement, which on loopback is immediate, so
// sequential Sends are not slowed to one delayed-ACK timer (40ms) each.
func TestHappyPath(t *testing.T) {
	for _, tc := range []struct {
		name           string
		events, sends  int
		maxMedian, max time.Duration
	}{
		// A batch of one small message is one small segment: the case a
		// delayed ACK (40ms) would hurt most.
		{"one event", 1, 200, 20 * time.Millisecond, 2 * time.Second},
		// Here the receiver's parsing sets the pace (slow under -race),
		// before and after the acknowledgement wait alike: bounds loose.
		{"500 events", 500, 40, time.Second, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, syslogfake.Options{})
			s := newSink(t, testConfig(f.Addr()))
			took := make([]time.Duration, tc.sends)
			for i := range tc.sends {
				start := time.Now()
				if err := s.Send(context.Background(), batchOf(i*tc.events, tc.events)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				took[i] = time.Since(start)
			}
			slices.Sort(took)
			median, maxTook := took[len(took)/2], took[len(took)-1]
			t.Logf("%d sends of %d events: median %v, max %v", tc.sends, tc.events, median, maxTook)
			if median > tc.maxMedian || maxTook > tc.max {
				t.Errorf("Send took median %v, max %v; want at most %v, %v", median, maxTook, tc.maxMedian, tc.max)
			}
			assertOffsets(t, f, tc.sends*tc.events)
			if got := f.Accepted(); got != 1 {
				t.Errorf("%d connections, want 1", got)
			}
		})
	}
}

// BenchmarkSend: batches of 500 events of about 120 bytes, over loopback,
// to a receiver that reads and discards (the fake's strict parser would
// be what is measured), from one goroutine and from eight (the partitions
// of a route share the sink, and their Sends wait for their
// acknowledgements side by side). b.N is the number of batches.
func BenchmarkSend(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var rx sync.WaitGroup
			defer rx.Wait()
			defer ln.Close()
			rx.Go(func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					rx.Go(func() {
						defer c.Close()
						_, _ = io.Copy(io.Discard, c) // until the sink closes
					})
				}
			})
			s, err := New(testConfig(ln.Addr().String()), WithLogger(quietLogger()))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const n = 500
			batch := batchOf(0, n)
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for range par {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if err := s.Send(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

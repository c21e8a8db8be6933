package splunkhec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/sinks"
)

// TestSendPendingReturnsBeforeAck: SendPending returns as soon as HEC
// answered the POST, with the events stored but not yet acknowledged; the
// ack it returns then waits for the acknowledgement.
func TestSendPendingReturnsBeforeAck(t *testing.T) {
	const delay = 400 * time.Millisecond
	hec := startHEC(t, hecfake.Options{Ack: true, AckDelay: delay})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)

	start := time.Now()
	ack, err := s.SendPending(context.Background(), mkBatch(5))
	pending := time.Since(start)
	if err != nil || ack == nil {
		t.Fatalf("SendPending: ack %v, err %v; want an ack to wait for", ack != nil, err)
	}
	if pending >= delay/2 {
		t.Errorf("SendPending took %s: it waited for the acknowledgement (%s)", pending, delay)
	}
	if hec.Len() != 5 {
		t.Errorf("hec has %d events when SendPending returned, want 5", hec.Len())
	}
	if err := ack(context.Background()); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("ack returned after %s, before HEC acknowledged (%s)", d, delay)
	}
}

// TestPendingFreesTheWorkerSlot plays the deliver stage: two worker slots,
// each held only during SendPending, the acks awaited outside them. Eight
// batches against an acknowledgement latency of 300ms take about one
// latency, not four (batches / slots × latency, as when Send holds the
// slot).
func TestPendingFreesTheWorkerSlot(t *testing.T) {
	const delay = 300 * time.Millisecond
	hec := startHEC(t, hecfake.Options{Ack: true, AckDelay: delay})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)

	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := time.Now()
	for i := range 8 {
		slots <- struct{}{}
		b := mkBatch(10)
		for _, e := range b {
			e.Offset += int64(10 * i)
		}
		ack, err := s.SendPending(context.Background(), b)
		<-slots
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ack(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > 2*delay {
		t.Errorf("8 batches through 2 slots took %s with an ack latency of %s: the slots waited for acks", d, delay)
	}
	if hec.Len() != 80 {
		t.Errorf("hec has %d events, want 80", hec.Len())
	}
}

// TestSendPendingOutcomes: for each answer, SendPending then ack returns
// exactly what Send returns (same outcome, same items), and decides at
// SendPending (ack nil) what needs no acknowledgement.
func TestSendPendingOutcomes(t *testing.T) {
	big := func(b []*event.Event) []*event.Event {
		b[1] = mkEvent("events", 3, 101, `{"big":"`+strings.Repeat("x", 300)+`"}`)
		return b
	}
	bad := func(b []*event.Event) []*event.Event {
		b[2] = mkEvent("events", 3, 102, `{"bad":true}`)
		return b
	}
	tests := []struct {
		name    string
		opts    hecfake.Options
		ack     bool
		setup   func(*hecfake.Server)
		batch   func([]*event.Event) []*event.Event
		pending bool   // SendPending returns an ack to wait for
		want    string // summary of the outcome
	}{
		{name: "no ack", want: "delivered"},
		{name: "no ack, one event too large", batch: big, want: "batch[1:reject/413]"},
		{name: "token without ack", ack: true, want: "delivered"},
		{name: "acknowledged", opts: hecfake.Options{Ack: true}, ack: true, pending: true, want: "delivered"},
		{name: "acknowledged, one event too large", opts: hecfake.Options{Ack: true}, ack: true, batch: big, pending: true, want: "batch[1:reject/413]"},
		{name: "ack timeout", opts: hecfake.Options{Ack: true, AckNever: true}, ack: true, pending: true, want: "request unavailable: ack_timeout"},
		{name: "ack refused", opts: hecfake.Options{Ack: true}, ack: true, setup: func(h *hecfake.Server) { h.RefuseAck(http.StatusBadRequest) },
			pending: true, want: "request fatal: indexer acknowledgement refused"},
		{name: "busy", opts: hecfake.Options{Ack: true}, ack: true, setup: func(h *hecfake.Server) { _ = h.SetMode(hecfake.Busy) }, want: "request unavailable: Server is busy"},
		{name: "invalid event", ack: true, opts: hecfake.Options{Ack: true, InvalidAt: func(ev hecfake.Event) bool { return strings.Contains(string(ev.Event), "bad") }},
			batch: bad, want: "batch[0:retry/400 1:retry/400 2:reject/400 3:retry/400]"},
		{name: "wrong token", ack: true, opts: hecfake.Options{Ack: true, Token: "other"}, want: "request fatal: Invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(pending bool) string {
				hec := startHEC(t, tt.opts)
				if tt.setup != nil {
					tt.setup(hec)
				}
				cfg := baseConfig(hec.URL())
				cfg.Ack, cfg.MaxEventBytes, cfg.AckTimeout = tt.ack, 250, 300*time.Millisecond
				s := newSink(t, cfg)
				batch := mkBatch(4)
				if tt.batch != nil {
					batch = tt.batch(batch)
				}
				if !pending {
					return summary(s.Send(context.Background(), batch))
				}
				ack, err := s.SendPending(context.Background(), batch)
				if (ack != nil) != tt.pending {
					t.Errorf("SendPending: ack %v, want %v (err %v)", ack != nil, tt.pending, err)
				}
				if err != nil && ack != nil {
					t.Errorf("SendPending returned both an ack and %v", err)
				}
				if ack == nil {
					return summary(err)
				}
				return summary(ack(context.Background()))
			}
			viaPending, viaSend := run(true), run(false)
			if !strings.HasPrefix(viaPending, tt.want) {
				t.Errorf("SendPending+ack: %s, want %s", viaPending, tt.want)
			}
			if !strings.HasPrefix(viaSend, tt.want) {
				t.Errorf("Send: %s, want %s", viaSend, tt.want)
			}
		})
	}
}

// summary renders an outcome for comparison: "delivered",
// "batch[i:outcome/status ...]" or "request <outcome>: <message>".
func summary(err error) string {
	if err == nil {
		return "delivered"
	}
	var be *sinks.BatchError
	if errors.As(err, &be) {
		var parts []string
		for _, it := range be.Items {
			parts = append(parts, fmt.Sprintf("%d:%s/%d", it.Index, it.Outcome, it.Status))
		}
		return "batch[" + strings.Join(parts, " ") + "]"
	}
	msg := err.Error()
	for _, key := range []string{"ack_timeout", "indexer acknowledgement refused", "Server is busy", "Invalid token"} {
		if strings.Contains(msg, key) {
			msg = key
		}
	}
	return "request " + sinks.Of(err).String() + ": " + msg
}

// TestAckContextEnds: an ack whose context ends returns the context's error
// at once and leaves nothing behind; an acknowledgement that arrived before
// is still reported whatever the context.
func TestAckContextEnds(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	p := s.targets[0].acks

	ack, err := s.SendPending(context.Background(), mkBatch(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ack(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ack: %v, want the context's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ack returned %s after its context ended", d)
	}
	if n := waiting(p); n != 0 {
		t.Errorf("%d waiters left after the ack's context ended", n)
	}
	if err := ack(context.Background()); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("second ack: %v, want a refusal", err)
	}

	// Acknowledged before the ack is called: a cancelled context does not
	// hide it.
	hec2 := startHEC(t, hecfake.Options{Ack: true})
	cfg2 := baseConfig(hec2.URL())
	cfg2.Ack = true
	s2 := newSink(t, cfg2)
	ack, err = s2.SendPending(context.Background(), mkBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return waiting(s2.targets[0].acks) == 0 })
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := ack(done); err != nil {
		t.Errorf("ack of an acknowledged batch with a cancelled context: %v", err)
	}
}

// TestAckNotCollected: an acknowledgement nobody waits for is dropped at
// ack_timeout, not polled for ever.
func TestAckNotCollected(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack, cfg.AckTimeout = true, 100*time.Millisecond
	s := newSink(t, cfg)
	ack, err := s.SendPending(context.Background(), mkBatch(1))
	if err != nil || ack == nil {
		t.Fatalf("SendPending: %v", err)
	}
	waitUntil(t, func() bool { return waiting(s.targets[0].acks) == 0 })
	polls := hec.AckRequests()
	time.Sleep(5 * cfg.AckPollInterval)
	if hec.AckRequests() != polls {
		t.Errorf("%d ack polls after the only waiter timed out", hec.AckRequests()-polls)
	}
	// Collected late, it reports the timeout.
	if err := ack(context.Background()); sinks.Of(err) != sinks.Unavailable || !strings.Contains(err.Error(), "ack_timeout") {
		t.Errorf("late ack: %v, want the ack timeout", err)
	}
}

// TestAckAfterClose: Close fails the acknowledgements still pending, and
// SendPending after Close sends nothing.
func TestAckAfterClose(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	ack, err := s.SendPending(context.Background(), mkBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ack(context.Background()); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("ack after Close: %v, want ErrClosed", err)
	}
	if ack, err := s.SendPending(context.Background(), mkBatch(1)); ack != nil || !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("SendPending after Close: %v", err)
	}
	if hec.Requests() != 1 {
		t.Errorf("%d requests, want 1", hec.Requests())
	}
}

func waiting(p *ackPoller) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// TestAckIDReissued: HEC restarted and numbers its acks from 0 again; the
// batch waiting for the old ID 0 cannot be confirmed any more and is
// retried.
func TestAckIDReissued(t *testing.T) {
	p := &ackPoller{s: &Sink{ackTimeout: time.Minute}, t: &target{}, waiters: map[int64]*ackWaiter{}}
	old, err := p.register(0, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.register(0, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := p.await(context.Background(), old); sinks.Of(err) != sinks.Retry || !strings.Contains(err.Error(), "issued again") {
		t.Errorf("old waiter: %v", err)
	}
	if ids := p.pending(nil, time.Now()); !slices.Equal(ids, []int64{0}) {
		t.Errorf("pending %v, want the new waiter", ids)
	}
	if ids := p.pending(nil, time.Now().Add(2*time.Minute)); len(ids) != 0 || len(p.waiters) != 0 {
		t.Errorf("after the deadline: pending %v, %d waiters", ids, len(p.waiters))
	}
}

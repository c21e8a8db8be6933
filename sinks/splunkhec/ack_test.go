package splunkhec

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/sinks"
)

// TestAckRefused: /services/collector/event takes the events and answers
// an ackId, but /services/collector/ack is refused (a token whose ack
// setting changed, a proxy or load balancer that does not pass /ack).
// Send must fail as fatal with the reason, and Probe must keep failing
// until /ack answers again: a Probe that passes on the event endpoint alone
// would let the bridge send the same batch again on every probe cycle.
func TestAckRefused(t *testing.T) {
	tests := []struct {
		status int
		msg    string // in the error, besides the common advice
	}{
		{http.StatusBadRequest, "code 14: ACK is disabled"},
		{http.StatusForbidden, "HTTP 403"},
		{http.StatusNotFound, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			hec := startHEC(t, hecfake.Options{Ack: true})
			cfg := baseConfig(hec.URL())
			cfg.Ack = true
			s := newSink(t, cfg)
			hec.RefuseAck(tt.status)

			err := s.Send(context.Background(), mkBatch(3))
			assertAckRefused(t, "Send", err, tt.msg)
			if hec.Count("events", 3, 100) != 1 {
				t.Fatalf("offset 100 stored %d times, want 1", hec.Count("events", 3, 100))
			}

			assertAckRefused(t, "Probe", s.Probe(context.Background()), tt.msg)
			// A Send that comes anyway does not post the events again: it
			// is known that their acknowledgement cannot be confirmed.
			assertAckRefused(t, "second Send", s.Send(context.Background(), mkBatch(3)), tt.msg)
			if n := hec.Count("events", 3, 100); n != 1 {
				t.Errorf("offset 100 stored %d times while ack is refused, want 1", n)
			}

			hec.RefuseAck(0)
			if err := s.Probe(context.Background()); err != nil {
				t.Fatalf("Probe once /ack answers again: %v", err)
			}
			if err := s.Send(context.Background(), mkBatch(3)); err != nil {
				t.Fatalf("Send once /ack answers again: %v", err)
			}
			// At-least-once: the batch whose ack could not be confirmed is
			// indexed twice, findably, and no more.
			if n := hec.Count("events", 3, 100); n != 2 {
				t.Errorf("offset 100 stored %d times, want 2", n)
			}
		})
	}
}

func assertAckRefused(t *testing.T, op string, err error, msg string) {
	t.Helper()
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Fatal {
		t.Fatalf("%s: got %v, want a fatal RequestError (sink down, events kept)", op, err)
	}
	for _, want := range []string{"indexer acknowledgement refused", msg, "ack: false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", op, err, want)
		}
	}
}

// TestAckRefusedProbeCycle plays the bridge against a sink whose /ack is
// refused for a while: on a fatal Send it probes (every 20ms, faster than
// the breaker would) until Probe passes, then sends the same batch again.
// The receiver must see a bounded number of copies, not one per cycle.
func TestAckRefusedProbeCycle(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	hec.RefuseAck(http.StatusBadRequest)
	refusedFor := 1 * time.Second
	time.AfterFunc(refusedFor, func() { hec.RefuseAck(0) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	batch := mkBatch(5)
	sends, fatal := 0, 0
	for {
		sends++
		err := s.Send(ctx, batch)
		if err == nil {
			break
		}
		if sinks.Of(err) != sinks.Fatal {
			t.Fatalf("send %d: %v, want fatal while /ack is refused", sends, err)
		}
		fatal++
		for s.Probe(ctx) != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("no delivery within 10s; hec has %d events", hec.Len())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	for i := range batch {
		if n := hec.Count("events", 3, int64(100+i)); n < 1 || n > 2 {
			t.Errorf("offset %d stored %d times in %s of refused acks, want 1 or 2", 100+i, n, refusedFor)
		}
	}
	if fatal != 1 {
		t.Errorf("%d fatal sends, want 1: the sink down once, until /ack answers", fatal)
	}
}

// TestStickySessionCookie: HEC behind a load balancer with sticky sessions
// (AWS ALB's AWSALB cookie, Splunk Cloud). The cookie set on the event
// answer must come back on the ack poll, or the poll reaches an indexer
// that does not know the channel and the acks never read true.
func TestStickySessionCookie(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, StickyCookie: "AWSALB"})
	cfg := baseConfig(hec.URL())
	cfg.Ack, cfg.AckTimeout = true, time.Second
	s := newSink(t, cfg)
	for i := range 3 {
		b := mkBatch(2)
		for _, e := range b {
			e.Offset += int64(10 * i)
		}
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("send %d: %v (stray ack polls without the load balancer's cookie: %d)", i, err, hec.StrayAckRequests())
		}
	}
	if n := hec.StrayAckRequests(); n != 0 {
		t.Errorf("%d ack polls without the sticky cookie", n)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Errorf("Probe: %v", err)
	}
	if hec.Len() != 6 {
		t.Errorf("hec has %d events, want 6 (no re-send)", hec.Len())
	}
}

// TestProbeAck: Probe asks the ack endpoint only once HEC answered an
// ackId, so that a token without acknowledgement (no ackId, the 200
// counts) still probes fine; and an ack endpoint that is only busy or
// failing keeps the sink down with a retryable error, not a fatal one.
func TestProbeAck(t *testing.T) {
	t.Run("token without ack", func(t *testing.T) {
		hec := startHEC(t, hecfake.Options{}) // answers /ack with 400 code 14
		cfg := baseConfig(hec.URL())
		cfg.Ack = true
		s := newSink(t, cfg)
		if err := s.Send(context.Background(), mkBatch(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.Probe(context.Background()); err != nil {
			t.Errorf("Probe: %v", err)
		}
		if hec.AckRequests() != 0 {
			t.Errorf("%d ack requests to a token without acknowledgement", hec.AckRequests())
		}
	})
	for _, tt := range []struct {
		status int
		want   sinks.Outcome
	}{{http.StatusServiceUnavailable, sinks.Unavailable}, {http.StatusTooManyRequests, sinks.Throttled}, {http.StatusBadGateway, sinks.Retry}} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			hec := startHEC(t, hecfake.Options{Ack: true})
			cfg := baseConfig(hec.URL())
			cfg.Ack = true
			s := newSink(t, cfg)
			if err := s.Send(context.Background(), mkBatch(1)); err != nil {
				t.Fatal(err)
			}
			polls := hec.AckRequests()
			hec.RefuseAck(tt.status)
			err := s.Probe(context.Background())
			if err == nil || sinks.Of(err) != tt.want {
				t.Errorf("Probe: %v (%v), want a retryable error (%v)", err, sinks.Of(err), tt.want)
			}
			if hec.AckRequests() != polls+1 {
				t.Errorf("Probe made %d ack requests, want 1", hec.AckRequests()-polls)
			}
			hec.RefuseAck(0)
			if err := s.Probe(context.Background()); err != nil {
				t.Errorf("Probe once /ack answers: %v", err)
			}
			// The probe's ack ID consumed no real acknowledgement.
			if err := s.Send(context.Background(), mkBatch(1)); err != nil {
				t.Errorf("Send after the probes: %v", err)
			}
		})
	}
}

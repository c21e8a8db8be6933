package deliver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/breaker"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/ratelimit"
	"github.com/siembridge/siembridge/sinks"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stepClock is an explicit clock: a timer fires at once and moves the
// time on by its duration, which is recorded.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() bool { return false }
}

// scriptSink answers each Send with the next answer of its script (nil
// once the script is used up) and records what it was sent; Probe fails
// while probeFails > 0.
type scriptSink struct {
	script     []func(batch []*event.Event) error
	sent       [][]int64
	probes     int
	probeFails int
	onSend     func(call int) // called before answering, optional
}

func (s *scriptSink) Send(_ context.Context, batch []*event.Event) error {
	call := len(s.sent)
	s.sent = append(s.sent, offsets(batch))
	if s.onSend != nil {
		s.onSend(call)
	}
	if call < len(s.script) {
		return s.script[call](batch)
	}
	return nil
}

func (s *scriptSink) Probe(context.Context) error {
	s.probes++
	if s.probeFails > 0 {
		s.probeFails--
		return errors.New("connection refused")
	}
	return nil
}

func (s *scriptSink) Close() error { return nil }

// memDLQ keeps what it is given.
type memDLQ struct{ got []Rejected }

func (d *memDLQ) Write(_ context.Context, rs []Rejected) error {
	d.got = append(d.got, rs...)
	return nil
}

func offsets(evs []*event.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Offset
	}
	return out
}

func events(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = new(event.Event)
		out[i].Init("t", 0, int64(i), time.Unix(0, 0), nil, []byte(`{"@timestamp":"2026-11-29T10:00:00Z","n":1}`), false)
	}
	return out
}

// Answers.
func ok([]*event.Event) error { return nil }

func request(o sinks.Outcome, status int) func([]*event.Event) error {
	return func([]*event.Event) error {
		return &sinks.RequestError{Outcome: o, Status: status, Err: errors.New(o.String())}
	}
}

func items(o sinks.Outcome, status int, idx ...int) func([]*event.Event) error {
	return func([]*event.Event) error {
		be := &sinks.BatchError{}
		for _, i := range idx {
			be.Items = append(be.Items, sinks.ItemError{Index: i, Outcome: o, Status: status, Reason: o.String()})
		}
		return be
	}
}

func tooLargeOver(n int) func([]*event.Event) error {
	return func(b []*event.Event) error {
		if len(b) > n {
			return &sinks.RequestError{Outcome: sinks.TooLarge, Status: 413, Err: errors.New("too large")}
		}
		if len(b) == 1 && n == 0 {
			return &sinks.RequestError{Outcome: sinks.Reject, Status: 413, Err: errors.New("too large")}
		}
		return nil
	}
}

// TestDeliver runs one Deliver of a batch against a scripted sink and
// checks every request, what was delivered, dead-lettered and retried,
// the backoff slept and the breaker's probes.
func TestDeliver(t *testing.T) {
	retry := config.Retry{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second}
	for _, tc := range []struct {
		name       string
		n          int
		script     []func([]*event.Event) error
		probeFails int
		filter     func(*event.Event) bool

		wantSent                    [][]int64
		wantDelivered, wantRetried  int64
		wantDLQ                     []int64
		wantFiltered, wantFailedReq int64
		wantProbes                  int
		wantSleeps                  int
		wantMinSleep                time.Duration
	}{
		{name: "all delivered", n: 3, script: nil,
			wantSent: [][]int64{{0, 1, 2}}, wantDelivered: 3},
		{name: "item reject goes to the DLQ", n: 3, script: append([]func([]*event.Event) error{}, items(sinks.Reject, 400, 1)),
			wantSent: [][]int64{{0, 1, 2}}, wantDelivered: 2, wantDLQ: []int64{1}},
		{name: "only failed items are retried", n: 3, script: append([]func([]*event.Event) error{}, items(sinks.Retry, 500, 0, 2)),
			wantSent: [][]int64{{0, 1, 2}, {0, 2}}, wantDelivered: 3, wantRetried: 2, wantSleeps: 1, wantMinSleep: 50 * time.Millisecond},
		{name: "throttled items are retried", n: 2, script: append([]func([]*event.Event) error{}, items(sinks.Throttled, 429, 1), items(sinks.Throttled, 429, 0)),
			wantSent: [][]int64{{0, 1}, {1}, {1}}, wantDelivered: 2, wantRetried: 2, wantSleeps: 2},
		{name: "whole reject dead-letters every event", n: 2, script: append([]func([]*event.Event) error{}, request(sinks.Reject, 400)),
			wantSent: [][]int64{{0, 1}}, wantDLQ: []int64{0, 1}},
		{name: "retry failures trip the breaker, a probe brings it back", n: 2, probeFails: 1,
			script:   append([]func([]*event.Event) error{}, request(sinks.Retry, 0), request(sinks.Retry, 502)),
			wantSent: [][]int64{{0, 1}, {0, 1}, {0, 1}}, wantDelivered: 2, wantRetried: 4, wantFailedReq: 2, wantProbes: 2, wantSleeps: 3},
		{name: "fatal trips at once, events kept", n: 2,
			script:   append([]func([]*event.Event) error{}, request(sinks.Fatal, 401)),
			wantSent: [][]int64{{0, 1}, {0, 1}}, wantDelivered: 2, wantRetried: 2, wantFailedReq: 1, wantProbes: 1, wantSleeps: 1},
		{name: "unavailable counts toward the breaker", n: 1,
			script:   append([]func([]*event.Event) error{}, request(sinks.Unavailable, 503)),
			wantSent: [][]int64{{0}, {0}}, wantDelivered: 1, wantRetried: 1, wantFailedReq: 1, wantSleeps: 1},
		{name: "throttled request is no failure", n: 1,
			script:   append([]func([]*event.Event) error{}, request(sinks.Throttled, 429)),
			wantSent: [][]int64{{0}, {0}}, wantDelivered: 1, wantRetried: 1, wantSleeps: 1},
		{name: "too large splits in halves, in order", n: 4,
			script:   []func([]*event.Event) error{tooLargeOver(2), tooLargeOver(2), tooLargeOver(2)},
			wantSent: [][]int64{{0, 1, 2, 3}, {0, 1}, {2, 3}}, wantDelivered: 4},
		{name: "a single event too large is rejected", n: 2,
			script:   []func([]*event.Event) error{tooLargeOver(0), tooLargeOver(0), tooLargeOver(0)},
			wantSent: [][]int64{{0, 1}, {0}, {1}}, wantDLQ: []int64{0, 1}},
		{name: "blocked items are held, never dead-lettered", n: 2,
			script:   append([]func([]*event.Event) error{}, items(sinks.Blocked, 403, 0, 1), items(sinks.Blocked, 403, 0, 1)),
			wantSent: [][]int64{{0, 1}, {0, 1}, {0, 1}}, wantDelivered: 2, wantRetried: 4, wantSleeps: 2},
		{name: "the filter drops events before sending", n: 4, filter: func(ev *event.Event) bool { return ev.Offset%2 == 0 },
			wantSent: [][]int64{{0, 2}}, wantDelivered: 2, wantFiltered: 2},
		{name: "retry-after beats the backoff, capped", n: 1,
			script: append([]func([]*event.Event) error{}, func([]*event.Event) error {
				return &sinks.RequestError{Outcome: sinks.Throttled, Status: 429, Err: errors.New("slow down"), RetryAfter: time.Hour}
			}),
			wantSent: [][]int64{{0}, {0}}, wantDelivered: 1, wantRetried: 1, wantSleeps: 1, wantMinSleep: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &stepClock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
			sink := &scriptSink{script: tc.script, probeFails: tc.probeFails}
			lim, err := ratelimit.New(ratelimit.Config{BatchEvents: 10, BatchBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			brk, err := breaker.New(breaker.Config{Failures: 2, InitialProbe: 10 * time.Millisecond, MaxProbe: 10 * time.Millisecond}, breaker.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			dlq := &memDLQ{}
			var degradedSeen bool
			st := New(Config{Route: "r", SinkType: "test", Retry: retry, Workers: 1, Filter: tc.filter}, sink, lim, brk, dlq,
				WithLogger(quiet), WithClock(clk))
			sink.onSend = func(int) { degradedSeen = degradedSeen || st.Degraded() != "" }
			if err := st.Deliver(context.Background(), context.Background(), events(tc.n)); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if !slices.EqualFunc(sink.sent, tc.wantSent, slices.Equal) {
				t.Errorf("sent %v, want %v", sink.sent, tc.wantSent)
			}
			c := st.Counters()
			if got := c.Delivered.Load(); got != tc.wantDelivered {
				t.Errorf("delivered %d, want %d", got, tc.wantDelivered)
			}
			if got := c.Retried.Load(); got != tc.wantRetried {
				t.Errorf("retried %d, want %d", got, tc.wantRetried)
			}
			if got := c.Filtered.Load(); got != tc.wantFiltered {
				t.Errorf("filtered %d, want %d", got, tc.wantFiltered)
			}
			if got := c.FailedRequests.Load(); got != tc.wantFailedReq {
				t.Errorf("failed requests %d, want %d", got, tc.wantFailedReq)
			}
			var dl []int64
			for _, rj := range dlq.got {
				dl = append(dl, rj.Event.Offset)
			}
			if !slices.Equal(dl, tc.wantDLQ) {
				t.Errorf("dead-lettered %v, want %v", dl, tc.wantDLQ)
			}
			if got := c.DeadLettered.Load(); got != int64(len(tc.wantDLQ)) {
				t.Errorf("dead-letter counter %d, want %d", got, len(tc.wantDLQ))
			}
			if sink.probes != tc.wantProbes {
				t.Errorf("probes %d, want %d", sink.probes, tc.wantProbes)
			}
			if len(clk.slept) != tc.wantSleeps {
				t.Errorf("slept %v, want %d sleeps", clk.slept, tc.wantSleeps)
			}
			for _, d := range clk.slept {
				if d < tc.wantMinSleep {
					t.Errorf("slept %v, want at least %v", d, tc.wantMinSleep)
				}
			}
			if brk.State() != breaker.Up {
				t.Errorf("breaker %v after delivery, want up", brk.State())
			}
			if tc.name == "blocked items are held, never dead-lettered" && !degradedSeen {
				t.Error("the sink was never reported degraded while events were blocked")
			}
			if st.Degraded() != "" {
				t.Errorf("still degraded after delivery: %q", st.Degraded())
			}
		})
	}
}

// TestDeliverStopsWhenWaitEnds: a retry whose backoff is cut by the end of
// wait returns the error, and the events are not counted as delivered.
func TestDeliverStopsWhenWaitEnds(t *testing.T) {
	wait, cancel := context.WithCancel(context.Background())
	sink := &scriptSink{script: []func([]*event.Event) error{request(sinks.Retry, 500)}}
	sink.onSend = func(int) { cancel() }
	lim, _ := ratelimit.New(ratelimit.Config{BatchEvents: 10, BatchBytes: 1 << 20})
	brk, _ := breaker.New(breaker.Config{Failures: 5, InitialProbe: time.Millisecond, MaxProbe: time.Millisecond})
	st := New(Config{Route: "r", Retry: config.Retry{InitialInterval: time.Hour, MaxInterval: time.Hour}}, sink, lim, brk, &memDLQ{}, WithLogger(quiet))
	if err := st.Deliver(wait, context.Background(), events(2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver = %v, want context.Canceled", err)
	}
	if d := st.Counters().Delivered.Load(); d != 0 {
		t.Errorf("delivered %d after the stop", d)
	}
	if len(sink.sent) != 1 {
		t.Errorf("%d requests, want 1: nothing is sent after wait ended", len(sink.sent))
	}
}

// TestDeliverSendCancelled: a request cut by the end of send has no
// outcome: an error, nothing accounted.
func TestDeliverSendCancelled(t *testing.T) {
	send, cancel := context.WithCancel(context.Background())
	sink := &scriptSink{}
	sink.onSend = func(int) { cancel() }
	lim, _ := ratelimit.New(ratelimit.Config{BatchEvents: 10, BatchBytes: 1 << 20})
	brk, _ := breaker.New(breaker.Config{Failures: 5, InitialProbe: time.Millisecond, MaxProbe: time.Millisecond})
	st := New(Config{Route: "r", Retry: config.Retry{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}}, sink, lim, brk, &memDLQ{}, WithLogger(quiet))
	if err := st.Deliver(context.Background(), send, events(2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver = %v, want context.Canceled", err)
	}
	if d := st.Counters().Delivered.Load(); d != 0 {
		t.Errorf("delivered %d for a cancelled request", d)
	}
}

package metrics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/siembridge/siembridge/sinks"
)

func newHooks(t testing.TB) (*Hooks, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

func TestHooksCounters(t *testing.T) {
	h, reg := newHooks(t)
	h.OnConsumed("elastic", "events", 0, 1, 100)
	h.OnConsumed("elastic", "events", 1, 1, 50)
	h.OnConsumed("hec", "events", 0, 3, 30)
	h.OnDelivered("elastic", 2, 150)
	h.OnRetried("elastic", 5, 500)
	h.OnRetried("elastic", 5, 500) // the same events again: counted per attempt
	h.OnDeadLettered("elastic", 1, 42)
	h.OnRateWait("elastic", 1500*time.Millisecond)
	h.OnCommitted("elastic", "events", 3, 1234)
	h.OnCommitted("elastic", "events", 3, 1240)

	compare(t, gather(t, reg,
		"siembridge_events_consumed_total", "siembridge_bytes_consumed_total",
		"siembridge_events_delivered_total", "siembridge_bytes_delivered_total",
		"siembridge_events_retried_total", "siembridge_bytes_retried_total",
		"siembridge_events_dead_lettered_total", "siembridge_bytes_dead_lettered_total",
		"siembridge_rate_limiter_wait_seconds_total", "siembridge_committed_offset",
	), map[string]float64{
		`siembridge_events_consumed_total{route="elastic"}`:                         2,
		`siembridge_events_consumed_total{route="hec"}`:                             3,
		`siembridge_bytes_consumed_total{route="elastic"}`:                          150,
		`siembridge_bytes_consumed_total{route="hec"}`:                              30,
		`siembridge_events_delivered_total{route="elastic"}`:                        2,
		`siembridge_events_delivered_total{route="hec"}`:                            0,
		`siembridge_bytes_delivered_total{route="elastic"}`:                         150,
		`siembridge_bytes_delivered_total{route="hec"}`:                             0,
		`siembridge_events_retried_total{route="elastic"}`:                          10,
		`siembridge_events_retried_total{route="hec"}`:                              0,
		`siembridge_bytes_retried_total{route="elastic"}`:                           1000,
		`siembridge_bytes_retried_total{route="hec"}`:                               0,
		`siembridge_events_dead_lettered_total{route="elastic"}`:                    1,
		`siembridge_events_dead_lettered_total{route="hec"}`:                        0,
		`siembridge_bytes_dead_lettered_total{route="elastic"}`:                     42,
		`siembridge_bytes_dead_lettered_total{route="hec"}`:                         0,
		`siembridge_rate_limiter_wait_seconds_total{route="elastic"}`:               1.5,
		`siembridge_rate_limiter_wait_seconds_total{route="hec"}`:                   0,
		`siembridge_committed_offset{partition="3",route="elastic",topic="events"}`: 1240,
	})
	// Nothing is ever counted as dropped.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.Contains(mf.GetName(), "drop") {
			t.Errorf("metric %s: retried events must not be counted as dropped", mf.GetName())
		}
	}
}

func TestHooksRequests(t *testing.T) {
	h, reg := newHooks(t)
	h.OnRequest("elastic", 500, 1<<20, 20*time.Millisecond, nil)
	h.OnRequest("elastic", 500, 1<<20, 40*time.Millisecond, nil)
	h.OnRequest("elastic", 100, 1000, 2*time.Second, &sinks.BatchError{Items: []sinks.ItemError{{Index: 1, Outcome: sinks.Throttled, Status: 429}}})
	h.OnRequest("elastic", 100, 1000, 5*time.Second, errors.New("dial tcp: connection refused"))

	compare(t, gather(t, reg, "siembridge_sink_request_duration_seconds", "siembridge_batch_events"), map[string]float64{
		`siembridge_sink_request_duration_seconds_count{outcome="ok",route="elastic"}`:      2,
		`siembridge_sink_request_duration_seconds_sum{outcome="ok",route="elastic"}`:        0.06,
		`siembridge_sink_request_duration_seconds_count{outcome="partial",route="elastic"}`: 1,
		`siembridge_sink_request_duration_seconds_sum{outcome="partial",route="elastic"}`:   2,
		`siembridge_sink_request_duration_seconds_count{outcome="error",route="elastic"}`:   1,
		`siembridge_sink_request_duration_seconds_sum{outcome="error",route="elastic"}`:     5,
		`siembridge_batch_events_count{route="elastic"}`:                                    4,
		`siembridge_batch_events_sum{route="elastic"}`:                                      1200,
	})
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{&sinks.BatchError{Items: []sinks.ItemError{{Outcome: sinks.Reject}}}, OutcomePartial},
		{fmt.Errorf("send: %w", &sinks.BatchError{Items: []sinks.ItemError{{Outcome: sinks.Throttled}}}), OutcomePartial},
		{&sinks.RequestError{Outcome: sinks.Fatal, Status: 401, Err: errors.New("unauthorized")}, OutcomeFatal},
		{&sinks.RequestError{Outcome: sinks.Reject, Status: 413, Err: errors.New("too large")}, OutcomeRejected},
		{&sinks.RequestError{Outcome: sinks.TooLarge, Status: 413, Err: errors.New("too large")}, OutcomeError},
		{&sinks.RequestError{Outcome: sinks.Throttled, Status: 429, Err: errors.New("slow down")}, OutcomeThrottled},
		{&sinks.RequestError{Outcome: sinks.Unavailable, Status: 503, Err: errors.New("busy")}, OutcomeThrottled},
		{&sinks.RequestError{Outcome: sinks.Retry, Status: 502, Err: errors.New("bad gateway")}, OutcomeError},
		{&sinks.RequestError{Status: 502, Err: errors.New("bad gateway")}, OutcomeError},
		{errors.New("i/o timeout"), OutcomeError},
	} {
		if got := Outcome(c.err); got != c.want {
			t.Errorf("Outcome(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

// TestMetricNamesLint runs promlint over every family the hooks and the
// collector export: units in names, _total on counters, help texts.
func TestMetricNamesLint(t *testing.T) {
	h, reg := newHooks(t)
	h.OnConsumed("r", "t", 0, 1, 1)
	h.OnRequest("r", 1, 1, time.Millisecond, nil)
	h.OnCommitted("r", "t", 0, 1)
	if err := reg.Register(NewCollector(&fakeSource{st: sampleStats()})); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), Namespace+"_") {
			t.Errorf("metric %s lacks the %s_ prefix", mf.GetName(), Namespace)
		}
	}
}

func TestNewTwiceOnOneRegistry(t *testing.T) {
	_, reg := newHooks(t)
	if _, err := New(reg); err == nil {
		t.Fatal("second New on the same registry: want an error")
	}
	if _, err := New(nil); err == nil {
		t.Fatal("New(nil): want an error")
	}
}

func TestHooksConcurrentFirstUse(t *testing.T) {
	h, reg := newHooks(t)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				h.OnDelivered("elastic", 1, 10)
				h.OnRequest("elastic", 1, 10, time.Millisecond, nil)
				h.OnCommitted("elastic", "t", 1, 5)
			}
		}()
	}
	for range 8 {
		<-done
	}
	compare(t, gather(t, reg, "siembridge_events_delivered_total", "siembridge_sink_request_duration_seconds", "siembridge_committed_offset"), map[string]float64{
		`siembridge_events_delivered_total{route="elastic"}`:                           8000,
		`siembridge_sink_request_duration_seconds_count{outcome="ok",route="elastic"}`: 8000,
		`siembridge_sink_request_duration_seconds_sum{outcome="ok",route="elastic"}`:   8,
		`siembridge_committed_offset{partition="1",route="elastic",topic="t"}`:         5,
	})
}

func BenchmarkOnDelivered(b *testing.B) {
	h, _ := newHooks(b)
	h.OnDelivered("elastic", 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		h.OnDelivered("elastic", 500, 250000)
	}
}

func BenchmarkOnDeliveredParallel(b *testing.B) {
	h, _ := newHooks(b)
	h.OnDelivered("elastic", 1, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.OnDelivered("elastic", 500, 250000)
		}
	})
}

func BenchmarkOnConsumed(b *testing.B) {
	h, _ := newHooks(b)
	b.ReportAllocs()
	for b.Loop() {
		h.OnConsumed("elastic", "events", 3, 1, 512)
	}
}

func BenchmarkOnRequest(b *testing.B) {
	h, _ := newHooks(b)
	b.ReportAllocs()
	for b.Loop() {
		h.OnRequest("elastic", 500, 250000, 12*time.Millisecond, nil)
	}
}

func BenchmarkOnCommitted(b *testing.B) {
	h, _ := newHooks(b)
	b.ReportAllocs()
	for b.Loop() {
		h.OnCommitted("elastic", "events", 3, 1234)
	}
}

// BenchmarkWithLabelValues is the uncached baseline the cache avoids.
func BenchmarkWithLabelValues(b *testing.B) {
	h, _ := newHooks(b)
	b.ReportAllocs()
	for b.Loop() {
		h.deliveredEvents.WithLabelValues("elastic").Add(500)
		h.deliveredBytes.WithLabelValues("elastic").Add(250000)
	}
}

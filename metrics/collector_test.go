package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
)

// fakeSource is a Source with a settable snapshot. When block is set,
// Stats waits on it (to hold a request in flight).
type fakeSource struct {
	mu    sync.Mutex
	st    bridge.Stats
	block chan struct{}
}

func (f *fakeSource) Stats() bridge.Stats {
	f.mu.Lock()
	st, block := f.st, f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	return st
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Ready
}

func (f *fakeSource) set(fn func(*bridge.Stats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

var statsNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleStats() bridge.Stats {
	return bridge.Stats{
		Ready: true, Running: true,
		Routes: []bridge.RouteStats{{
			Name: "elastic", Group: "siembridge-elastic", Sink: "elasticsearch",
			SinkState: "up", Joined: true, Mode: "catch-up",
			EffectiveRate: 1500, ConfiguredRate: 4000, Adaptive: true,
			Consumed: 9000, Delivered: 8000, DeadLettered: 3, Retried: 40,
			Requests: 20, FailedRequests: 2,
			BufferedEvents: 1000, BufferedBytes: 500000, BufferMaxEvents: 5000, BufferMaxBytes: 8 << 20,
			Lag: 7000, MaxLag: 9000,
			Concurrency: bridge.ConcurrencyStats{Limit: 12, Max: 32, InFlight: 9, Adaptive: true, RTTSeconds: 0.12, RequestEvents: 400, PerPartition: 4,
				Increases: 17, Decreases: 5},
			Volume: bridge.VolumeStats{Filtered: 500, FilteredBytes: 350000, SampledOut: 400, SampledOutBytes: 280000, Shaped: 8000,
				NotJSON: 7, RenameErrors: 2, InBytes: 6300000, OutBytes: 3000000, SavedBytes: 3300000},
			Partitions: []bridge.PartitionStats{
				{Topic: "events", Partition: 0, Next: 4000, LogEnd: 8000, Lag: 4000, OldestPending: statsNow.Add(-90 * time.Second)},
				{Topic: "events", Partition: 1, Next: 5000, LogEnd: 8000, Lag: 3000},
			},
		}, {
			Name: "hec", Group: "g2", Sink: "splunk_hec", SinkState: "down", Joined: true,
			Paused: true, PauseReason: "sink down", Mode: "live",
			BufferMaxEvents: 100, BufferMaxBytes: 1000,
		}},
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector(&fakeSource{st: sampleStats()})
	c.now = func() time.Time { return statsNow }
	got := collect(t, c)
	want := map[string]float64{
		`siembridge_ready`: 1,
	}
	perRoute := func(route string, vals map[string]float64) {
		for k, v := range vals {
			want[k+`{route="`+route+`"}`] = v
		}
	}
	perRoute("elastic", map[string]float64{
		"siembridge_consumer_group_joined": 1, "siembridge_sink_up": 1, "siembridge_paused": 0,
		"siembridge_rate_adaptive": 1, "siembridge_rate_limit_events_per_second": 1500,
		"siembridge_rate_limit_configured_events_per_second": 4000,
		"siembridge_buffer_events":                           1000, "siembridge_buffer_bytes": 500000,
		"siembridge_buffer_max_events": 5000, "siembridge_buffer_max_bytes": 8 << 20,
		"siembridge_route_lag_events":  7000,
		"siembridge_concurrency_limit": 12, "siembridge_concurrency_max": 32, "siembridge_requests_in_flight": 9,
		"siembridge_sink_rtt_seconds": 0.12, "siembridge_request_max_events": 400,
		"siembridge_events_filtered_total": 500, "siembridge_bytes_filtered_total": 350000,
		"siembridge_events_sampled_out_total": 400, "siembridge_bytes_sampled_out_total": 280000,
		"siembridge_events_shaped_total": 8000, "siembridge_events_not_json_passed_total": 7,
		"siembridge_events_rename_errors_total": 2,
		"siembridge_bytes_volume_in_total":      6300000, "siembridge_bytes_volume_out_total": 3000000,
	})
	perRoute("hec", map[string]float64{
		"siembridge_consumer_group_joined": 1, "siembridge_sink_up": 0, "siembridge_paused": 1,
		"siembridge_rate_adaptive": 0, "siembridge_rate_limit_events_per_second": 0,
		"siembridge_rate_limit_configured_events_per_second": 0,
		"siembridge_buffer_events":                           0, "siembridge_buffer_bytes": 0,
		"siembridge_buffer_max_events": 100, "siembridge_buffer_max_bytes": 1000,
		"siembridge_route_lag_events":  0,
		"siembridge_concurrency_limit": 0, "siembridge_concurrency_max": 0, "siembridge_requests_in_flight": 0,
		"siembridge_sink_rtt_seconds": 0, "siembridge_request_max_events": 0,
		"siembridge_events_filtered_total": 0, "siembridge_bytes_filtered_total": 0,
		"siembridge_events_sampled_out_total": 0, "siembridge_bytes_sampled_out_total": 0,
		"siembridge_events_shaped_total": 0, "siembridge_events_not_json_passed_total": 0,
		"siembridge_events_rename_errors_total": 0,
		"siembridge_bytes_volume_in_total":      0, "siembridge_bytes_volume_out_total": 0,
	})
	for k, v := range map[string]float64{
		`siembridge_rate_mode{mode="catch-up",route="elastic"}`:                                  1,
		`siembridge_rate_mode{mode="live",route="elastic"}`:                                      0,
		`siembridge_rate_mode{mode="catch-up",route="hec"}`:                                      0,
		`siembridge_rate_mode{mode="live",route="hec"}`:                                          1,
		`siembridge_route_info{group="siembridge-elastic",route="elastic",sink="elasticsearch"}`: 1,
		`siembridge_route_info{group="g2",route="hec",sink="splunk_hec"}`:                        1,
		`siembridge_consumer_lag_events{partition="0",route="elastic",topic="events"}`:           4000,
		`siembridge_consumer_lag_events{partition="1",route="elastic",topic="events"}`:           3000,
		`siembridge_log_end_offset{partition="0",route="elastic",topic="events"}`:                8000,
		`siembridge_log_end_offset{partition="1",route="elastic",topic="events"}`:                8000,
		`siembridge_oldest_pending_age_seconds{partition="0",route="elastic",topic="events"}`:    90,
		`siembridge_oldest_pending_age_seconds{partition="1",route="elastic",topic="events"}`:    0,
		`siembridge_route_running{route="elastic"}`:                                              1,
		`siembridge_concurrency_adjustments_total{direction="up",route="elastic"}`:               17,
		`siembridge_concurrency_adjustments_total{direction="down",route="elastic"}`:             5,
		`siembridge_concurrency_adjustments_total{direction="up",route="hec"}`:                   0,
		`siembridge_concurrency_adjustments_total{direction="down",route="hec"}`:                 0,
		`siembridge_route_running{route="hec"}`:                                                  1,
		`siembridge_sink_degraded{reason="",route="elastic"}`:                                    0,
		`siembridge_sink_degraded{reason="",route="hec"}`:                                        0,
	} {
		want[k] = v
	}
	compare(t, got, want)
}

// A degraded sink is up (reachable) and says why in a low-cardinality
// label; a route whose group cannot be created is not running.
func TestCollectorDegradedAndNotRunning(t *testing.T) {
	st := sampleStats()
	st.Routes[0].SinkState = "degraded"
	st.Routes[0].SinkReason = "status 403: security_exception: action [indices:data/write/bulk[s]] is unauthorized for API key id [k1]"
	st.Routes[1].RunError = "cannot create consumer group g2: kafka: client has run out of available brokers"
	got := collect(t, NewCollector(&fakeSource{st: st}))
	for k, want := range map[string]float64{
		`siembridge_sink_up{route="elastic"}`:                                   1,
		`siembridge_sink_degraded{reason="security_exception",route="elastic"}`: 1,
		`siembridge_sink_degraded{reason="",route="hec"}`:                       0,
		`siembridge_route_running{route="elastic"}`:                             1,
		`siembridge_route_running{route="hec"}`:                                 0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

func TestReasonLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"status 403: security_exception: action [x] is unauthorized", "security_exception"},
		{"status 404: index_not_found_exception: no such index [a]", "index_not_found_exception"},
		{"security_exception: plain", "security_exception"},
		{"no colon at all", "no colon at all"},
		{"", ""},
		{strings.Repeat("é", 40), strings.Repeat("é", 32)},
	} {
		if got := reasonLabel(tc.in); got != tc.want {
			t.Errorf("reasonLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCollectorNoRoutes(t *testing.T) {
	c := NewCollector(&fakeSource{})
	compare(t, collect(t, c), map[string]float64{"siembridge_ready": 0})
}

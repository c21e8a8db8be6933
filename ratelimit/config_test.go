package ratelimit

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{EventsPerSecond: 100, BytesPerSecond: 1e6, Burst: 10, BurstBytes: 1e5, CatchupLag: 1000, CatchupEventsPerSecond: 500, Adaptive: true, Floor: 5}, ""},
		{"negative events", Config{EventsPerSecond: -1}, "events_per_second"},
		{"negative bytes", Config{BytesPerSecond: -1}, "bytes_per_second"},
		{"negative catchup events", Config{CatchupEventsPerSecond: -1}, "catchup_events_per_second"},
		{"negative catchup bytes", Config{CatchupBytesPerSecond: -1}, "catchup_bytes_per_second"},
		{"negative floor", Config{Floor: -1}, "adaptive_floor"},
		{"adaptive without a floor", Config{Adaptive: true}, "adaptive_floor"},
		{"no floor needed without adaptive", Config{Floor: 0}, ""},
		{"nan", Config{EventsPerSecond: math.NaN()}, "events_per_second"},
		{"inf", Config{BytesPerSecond: math.Inf(1)}, "bytes_per_second"},
		{"negative burst", Config{Burst: -1}, "burst"},
		{"negative burst bytes", Config{BurstBytes: -1}, "burst_bytes"},
		{"negative batch", Config{BatchEvents: -1}, "batch_events"},
		{"negative lag", Config{CatchupLag: -1}, "catchup_lag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(tt.cfg); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Fatalf("Validate() = %v, want an error about %s", err, tt.want)
			}
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New() accepted an invalid config")
			}
		})
	}
}

func TestMaxBatch(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		events, bytes int
		want          string // substring; "" = fits
	}{
		{"unlimited", Config{}, 1 << 20, 1 << 30, ""},
		{"derived from rate", Config{EventsPerSecond: 10000}, 1000, 0, ""},
		{"derived too small", Config{EventsPerSecond: 100}, 11, 0, "burst:"},
		{"derived from batch", Config{EventsPerSecond: 100, BatchEvents: 500}, 500, 0, ""},
		{"explicit burst", Config{EventsPerSecond: 1e6, Burst: 100}, 101, 0, "burst:"},
		{"explicit burst fits", Config{EventsPerSecond: 1e6, Burst: 100}, 100, 0, ""},
		{"bytes derived", Config{BytesPerSecond: 1e6}, 0, 100_000, ""},
		{"bytes too large", Config{BytesPerSecond: 1e6}, 0, 100_001, "burst_bytes:"},
		{"bytes from batch", Config{BytesPerSecond: 1e6, BatchBytes: 5 << 20}, 0, 5 << 20, ""},
		{"explicit burst bytes", Config{BytesPerSecond: 1e9, BurstBytes: 1000}, 0, 1001, "burst_bytes:"},
		{"catch-up checked", Config{EventsPerSecond: 1e5, CatchupLag: 10, CatchupEventsPerSecond: 50}, 10, 0, "catch-up mode"},
		{"catch-up ignored when disabled", Config{EventsPerSecond: 1e5, CatchupEventsPerSecond: 50}, 10, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.MaxBatch(tt.events, tt.bytes)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("MaxBatch = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("MaxBatch = %v, want ErrBatchTooLarge mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDerivedBurst(t *testing.T) {
	tests := []struct {
		batch int
		rate  float64
		want  int
	}{
		{0, 0, 1},
		{0, 5, 1},
		{0, 2000, 200},
		{0, 2001, 201},
		{500, 2000, 500},
		{0, 1e300, maxBurst},
	}
	for _, tt := range tests {
		if got := derivedBurst(tt.batch, tt.rate); got != tt.want {
			t.Errorf("derivedBurst(%d, %v) = %d, want %d", tt.batch, tt.rate, got, tt.want)
		}
	}
}

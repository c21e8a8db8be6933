package gctune

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/siembridge/siembridge/config"
)

func TestApply(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &config.Config{Routes: []config.Route{
		{Buffer: config.Buffer{MaxBytes: 16 << 20}},
		{Buffer: config.Buffer{MaxBytes: 32 << 20}},
	}}
	// The buffers, a quarter of them for bodies in flight and a quarter
	// for the collector, and the headroom.
	const limit = int64(48<<20+12<<20+12<<20) + Headroom
	for _, tc := range []struct {
		name, gomemlimit, gogc string
		want                   Settings
	}{
		{"both ours", "", "", Settings{MemoryLimit: limit, GCPercent: GCPercent}},
		{"GOMEMLIMIT set", "1GiB", "", Settings{GCPercent: GCPercent}},
		{"GOGC set", "", "50", Settings{MemoryLimit: limit}},
		{"both set", "1GiB", "50", Settings{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(1 << 40)
			debug.SetGCPercent(100)
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			t.Setenv("GOGC", tc.gogc)
			if got := Apply(cfg, log); got != tc.want {
				t.Fatalf("Apply = %+v, want %+v", got, tc.want)
			}
			wantLimit, wantGC := int64(1<<40), 100
			if tc.want.MemoryLimit != 0 {
				wantLimit = tc.want.MemoryLimit
			}
			if tc.want.GCPercent != 0 {
				wantGC = tc.want.GCPercent
			}
			if got := debug.SetMemoryLimit(-1); got != wantLimit {
				t.Errorf("runtime limit %d, want %d", got, wantLimit)
			}
			if got := debug.SetGCPercent(wantGC); got != wantGC {
				t.Errorf("runtime GC percent %d, want %d", got, wantGC)
			}
		})
	}
}

// Package gctune sets the Go runtime's garbage collector up for a bridge:
// a memory limit from the routes' buffers and a GC target that spends less
// CPU on collection. Both `siembridge run` and the benchmark's bridge
// processes use it, so that the benchmark measures what run does.
package gctune

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/siembridge/siembridge/config"
)

// Headroom is what the process needs beside the routes' buffers: the
// runtime, the Kafka clients' fetch pipelines, HTTP bodies in flight.
const Headroom = 48 << 20

// GCPercent is the GC target set when GOGC is not: the heap may grow to
// three times the live data between collections instead of twice. At
// several hundred thousand events a second the bridge allocates fetch
// buffers and bulk bodies fast, and collecting half as often cuts its CPU
// per event by about a sixth (`siembridge bench`); the memory limit still
// bounds the heap, so only the slack below that bound is used.
const GCPercent = 200

// Settings is what Apply set; a zero field was left to the operator.
type Settings struct {
	MemoryLimit int64
	GCPercent   int
}

// Apply gives the runtime a soft memory limit of the routes'
// buffer.max_bytes plus Headroom, unless GOMEMLIMIT is set, and a GC
// target of GCPercent, unless GOGC is set. The buffers are the bound on
// what siembridge holds; without a limit the collector would let the heap
// grow past that bound in proportion to the live data.
func Apply(cfg *config.Config, log *slog.Logger) Settings {
	var s Settings
	if os.Getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = Headroom
		for _, r := range cfg.Routes {
			s.MemoryLimit += int64(r.Buffer.MaxBytes)
		}
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		s.GCPercent = GCPercent
		debug.SetGCPercent(GCPercent)
	}
	log.Debug("garbage collector", "memory_limit", s.MemoryLimit, "gc_percent", s.GCPercent)
	return s
}

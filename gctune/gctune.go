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

// Headroom is what the process needs beside the routes' buffers and the
// request bodies of the batches in flight (a quarter of each buffer, the
// bridge's bound on them): the runtime and the Kafka clients' fetch
// pipelines. The limit is soft and bounds the Go heap only; stacks, the
// binary and the C side come on top (about 16 MiB), so a bridge's RSS
// stays within buffer.max_bytes × 1.25 + 48 MiB.
const Headroom = 32 << 20

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
// buffer.max_bytes and bodies in flight (a quarter of it) plus Headroom, unless GOMEMLIMIT is set, and a GC
// target of GCPercent, unless GOGC is set. The buffers are the bound on
// what siembridge holds; without a limit the collector would let the heap
// grow past that bound in proportion to the live data.
func Apply(cfg *config.Config, log *slog.Logger) Settings {
	var s Settings
	if os.Getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = Headroom
		for _, r := range cfg.Routes {
			s.MemoryLimit += int64(r.Buffer.MaxBytes) + int64(r.Buffer.MaxBytes)/4
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

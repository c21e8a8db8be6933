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

// Headroom is what the process needs beside what it takes per route (see
// Apply): the runtime and the Kafka clients' fetch pipelines. The limit is
// soft and bounds the Go heap only; stacks, the binary and the C side come
// on top (15–25 MiB). With a 16 MiB buffer the limit is the 52 MiB it was
// before the collector got its quarter (TestReliabilitySinkChaos, under
// the race detector, peaks at 71 MiB of its 80).
const Headroom = 28 << 20

// perRoute is the memory limit a route adds, in quarters of its
// buffer.max_bytes: the buffer (4), the request bodies of the batches in
// flight (1: the bridge bounds them by a quarter of the buffer) and room
// for the collector (1). With a full buffer the live heap is close to
// buffer × 1.25, so that last quarter is all the collector has between
// collections: without it a bridge reading 64 partitions into a 64 MiB
// buffer collected every few milliseconds and spent half its CPU on it
// (bench, partitions scenario: 12–15 CPU s per million events; 8–10 with
// it, and peak RSS 147–157 MiB against the bench's bound of buffer + 96
// MiB).
const perRoute = 6

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

// Apply gives the runtime a soft memory limit of 1.5 × the routes'
// buffer.max_bytes (the buffers, the bodies in flight and room for the
// collector) plus Headroom, unless GOMEMLIMIT is set, and a GC
// target of GCPercent, unless GOGC is set. The buffers are the bound on
// what siembridge holds; without a limit the collector would let the heap
// grow past that bound in proportion to the live data.
func Apply(cfg *config.Config, log *slog.Logger) Settings {
	var s Settings
	if os.Getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = Headroom
		for _, r := range cfg.Routes {
			s.MemoryLimit += int64(r.Buffer.MaxBytes) / 4 * perRoute
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

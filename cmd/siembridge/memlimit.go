package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/siembridge/siembridge/config"
)

// memoryHeadroom is what the process needs beside the routes' buffers:
// the runtime, the Kafka clients' fetch pipelines, HTTP bodies in flight.
const memoryHeadroom = 48 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of the routes'
// buffer.max_bytes plus headroom, unless the operator set GOMEMLIMIT. The
// buffers are the bound on what siembridge holds; without a limit the
// garbage collector lets the heap grow to twice the live data before it
// collects, which would put the process well above that bound. It returns
// the limit set, 0 when none.
func setMemoryLimit(cfg *config.Config, log *slog.Logger) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	var limit int64 = memoryHeadroom
	for _, r := range cfg.Routes {
		limit += int64(r.Buffer.MaxBytes)
	}
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
	return limit
}

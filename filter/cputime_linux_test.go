package filter

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// cpuTimer reports the benchmark's own CPU time per op ("cpu-ns/op"):
// the time its thread ran, which waits for a busy machine's CPUs do not
// inflate the way they inflate ns/op.
func cpuTimer(b *testing.B) func() {
	runtime.LockOSThread()
	start := threadCPU()
	return func() {
		b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}

func threadCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

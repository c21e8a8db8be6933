// Package cputime reports a benchmark's own CPU time per operation
// ("cpu-ns/op"): the time its thread ran, which a busy machine's waits for
// a CPU do not inflate the way they inflate ns/op. On a shared build
// machine it is the steadier of the two.
package cputime

import (
	"runtime"
	"testing"
)

// Start locks the benchmark to its thread and returns the function that
// reports the thread's CPU time per b.N; call it when the loop is done.
// Where the thread's CPU time cannot be read it reports nothing.
func Start(b *testing.B) (stop func()) {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return func() {
		end, ok2 := threadCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
		runtime.UnlockOSThread()
	}
}

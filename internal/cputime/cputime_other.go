//go:build !linux

package cputime

// threadCPU: no per-thread CPU time here.
func threadCPU() (int64, bool) { return 0, false }

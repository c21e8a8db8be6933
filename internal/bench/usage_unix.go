//go:build unix

package bench

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// getUsage reads this process's CPU time and peak resident set size.
//
// On Linux the peak is VmHWM from /proc/self/status rather than
// ru_maxrss: Go starts children with vfork, so a child's ru_maxrss also
// counts the parent's address space it ran on before exec, and would report
// the harness's peak instead of the child's.
func getUsage() Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}
	}
	cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	rss := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss *= 1024 // Linux and the BSDs report KiB, macOS bytes
	}
	if hwm, ok := vmHWM(); ok {
		rss = hwm
	}
	return Usage{CPU: cpu, MaxRSS: rss}
}

// vmHWM reads the peak RSS of this process's address space on Linux.
func vmHWM() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	f := bytes.Fields(line) // "123456 kB"
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb * 1024, err == nil
}

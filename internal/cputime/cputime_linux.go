package cputime

import "golang.org/x/sys/unix"

// threadCPU is the calling thread's user and system time in nanoseconds.
func threadCPU() (int64, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}

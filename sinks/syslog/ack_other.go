//go:build !linux

package syslog

import (
	"syscall"
	"time"
)

// ackSupported: outside Linux the sink cannot read how much of what it
// wrote the receiver acknowledged, so a completed write counts as
// delivered, as it did before the acknowledgement wait existed. See the
// package documentation.
const ackSupported = false

// setUserTimeout does nothing outside Linux: tcp_user_timeout is ignored.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }

// unacked reports everything acknowledged: the write completed.
func (c *conn) unacked(int64) (int64, bool, error) { return 0, false, nil }

//go:build !unix

package syslogfake

import "syscall"

// setReceiveBuffer is a no-op where SO_RCVBUF is not reachable this way:
// Options.ReceiveBuffer is ignored there.
func setReceiveBuffer(syscall.RawConn, int) error { return nil }

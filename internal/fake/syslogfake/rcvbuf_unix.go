//go:build unix

package syslogfake

import "syscall"

// setReceiveBuffer sets SO_RCVBUF on the socket behind c.
func setReceiveBuffer(c syscall.RawConn, n int) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
	}); cerr != nil {
		return cerr
	}
	return err
}

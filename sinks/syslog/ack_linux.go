package syslog

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ackSupported: on Linux a batch counts as delivered only once the
// receiver's TCP stack acknowledged its last byte (see awaitAck).
const ackSupported = true

// tcpClose is TCP_CLOSE of include/net/tcp_states.h: the connection was
// reset, or TCP gave up on it (TCP_USER_TIMEOUT, retransmissions).
const tcpClose = 7

// setUserTimeout sets TCP_USER_TIMEOUT on the socket behind rc: the kernel
// aborts the connection when bytes it sent stay unacknowledged for d
// (keepalive probes included), instead of retransmitting for about 15
// minutes. It is called by the dialer before connecting.
func setUserTimeout(rc syscall.RawConn, d time.Duration) error {
	ms := int((d + time.Millisecond - 1) / time.Millisecond) // round up; config bounds it
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("setsockopt TCP_USER_TIMEOUT: %w", err)
	}
	return nil
}

// unacked returns how many of the first end bytes written to c's socket
// the peer has not acknowledged yet, and whether the connection is closed
// (reset or abandoned by TCP: what is unacknowledged now never will be).
// Safe for concurrent use.
//
// SIOCOUTQ is the number of bytes in the send queue, sent or not, that the
// peer has not acknowledged (write_seq - snd_una). The count of bytes
// written is read first: a write that lands between the two reads makes
// the answer larger, never smaller, so unacked never reports a byte
// acknowledged that was not.
func (c *conn) unacked(end int64) (int64, bool, error) {
	sent := c.sent.Load()
	var (
		outq   int
		state  uint8
		sysErr error
	)
	err := c.raw.Control(func(fd uintptr) {
		outq, sysErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if sysErr != nil || outq == 0 {
			return
		}
		var info *unix.TCPInfo
		info, sysErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if sysErr == nil {
			state = info.State
		}
	})
	if err == nil {
		err = sysErr
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the send queue: %w", err)
	}
	left := end - (sent - int64(outq))
	return max(left, 0), left > 0 && state == tcpClose, nil
}

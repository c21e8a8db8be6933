package syslogfake

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// listenUDPLocked listens for datagrams, each one message (RFC 5426). The
// caller holds s.mu.
func (s *Server) listenUDPLocked(lc net.ListenConfig, addr string) error {
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return err
	}
	s.addr = pc.LocalAddr().String()
	s.udp = pc
	s.wg.Add(1)
	go s.serveUDP(pc)
	return nil
}

// serveUDP stores each datagram until pc is closed. Datagrams have no
// connection: every message is recorded with Conn 0. A datagram longer
// than MaxMessageBytes is an error (the sender should have rejected it).
func (s *Server) serveUDP(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("udp: %w", err))
			}
			return
		}
		if n > s.opts.MaxMessageBytes {
			s.fail(fmt.Errorf("udp: datagram of %d bytes exceeds the limit %d", n, s.opts.MaxMessageBytes))
			continue
		}
		s.store(0, append([]byte(nil), buf[:n]...))
	}
}

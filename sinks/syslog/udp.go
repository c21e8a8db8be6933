package syslog

import (
	"context"
	"fmt"
	"net"

	"github.com/siembridge/siembridge/sinks"
)

// sendUDP sends each message of b as one datagram (RFC 5426) on a
// connected UDP socket. Nothing acknowledges a datagram: a completed
// write means the local kernel took it, and the batch counts as
// delivered. A write error (including ECONNREFUSED, which the kernel
// reports after an ICMP port-unreachable for an earlier datagram) fails
// the whole batch retryably and replaces the socket; the datagrams sent
// before it arrive twice if the receiver had them.
func (s *Sink) sendUDP(ctx context.Context, b *sendBuf) error {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: %w", ctx.Err())}
	}
	defer func() { <-s.turn }()
	s.mu.Lock()
	c := s.udp
	s.mu.Unlock()
	if c == nil {
		var err error
		if c, err = s.dialUDP(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			_ = c.Close()
			return sinks.ErrClosed
		}
		s.udp = c
		s.mu.Unlock()
	}
	_ = c.SetWriteDeadline(s.deadline(ctx))
	for _, sp := range b.spans {
		if _, err := c.Write(b.out[sp.start:sp.end]); err != nil {
			s.mu.Lock()
			if s.udp == c {
				s.udp = nil
			}
			s.mu.Unlock()
			_ = c.Close()
			return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: udp %s: %w", s.addr, err)}
		}
	}
	return nil
}

// dialUDP resolves the address and connects a UDP socket to it; nothing
// is sent.
func (s *Sink) dialUDP(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.addr)
	if err != nil {
		return nil, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: udp %s: %w", s.addr, err)}
	}
	return c, nil
}

// Package syslogfake is an in-process syslog receiver for tests: RFC 5424
// (or RFC 3164, Options.RFC3164) messages in RFC 6587 octet-counted or
// newline frames over TCP, or over TLS (RFC 5425); one message per UDP
// datagram (Options.Network "udp"); or RELP sessions as rsyslog's imrelp
// runs them (Options.Network "relp", see relp.go: SetRELPStatus refuses
// messages, ServerClose sends the serverclose hint). It parses strictly,
// records every parse error (tests assert there are none) and stores the
// parsed messages. ParseLEEF checks LEEF 2.0 bodies.
//
// It can be told to misbehave: Refuse stops listening (clients get
// "connection refused") and drops every connection, Resume listens again
// on the same address, DropAll drops the open connections, SetDropAfter
// drops each connection after it carried n messages, and SetIdleTimeout
// drops connections that carried nothing for a while. Pause stops reading
// every connection (the bytes pile up in the kernel until the receive
// window closes and the client's bytes stay unacknowledged) until Unpause;
// with Options.ReceiveBuffer small, a paused receiver stops acknowledging
// after a few KiB, as a hung receiver process does.
//
// How a connection is dropped is set by Options.Linger. With Linger 0 the
// connection is closed at once, as a crashing receiver would: whatever the
// client had in flight is lost, and syslog cannot tell it (there is no
// acknowledgement). With Linger > 0 the receiver closes its sending side
// (a TCP FIN, after a TLS close_notify) and keeps reading for up to Linger
// before it closes: a receiver shutting down gracefully. A client that
// watches its connection sees the close and stops writing to it, so
// nothing is lost; that is the behaviour delivery tests can assert.
//
// A Server is safe for concurrent use.
package syslogfake

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Options configure a Server.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:0".
	Addr string
	// TLS, when set, makes the server speak RFC 5425.
	TLS *tls.Config
	// Linger: see the package documentation. Default 0 (abrupt close).
	Linger time.Duration
	// MaxMessageBytes is the largest frame accepted. Default 1MiB.
	MaxMessageBytes int
	// ReceiveBuffer, when > 0, sets SO_RCVBUF on the listening socket
	// before it listens, so that accepted connections advertise a small
	// TCP window from their first segment (the kernel doubles the value
	// and enforces a minimum of a few KiB). Default 0: the system's.
	// Ignored where the platform has no SO_RCVBUF setting we can reach.
	ReceiveBuffer int
	// Network: "tcp" (default; with TLS set, RFC 5425), "udp" (one message
	// per datagram, RFC 5426) or "relp" (librelp's RELP, see relp.go).
	Network string
	// Framing over tcp: "octet_counting" (default) or "newline".
	Framing string
	// RFC3164 parses messages as RFC 3164 (BSD) instead of RFC 5424.
	RFC3164 bool
}

// Server is the fake receiver. Start it, and Close it when done.
type Server struct {
	opts Options

	mu        sync.Mutex
	ln        net.Listener
	addr      string
	conns     map[*serverConn]struct{}
	accepted  int
	msgs      []Message
	errs      []error
	dropAfter int
	idle      time.Duration
	closed    bool
	// unpause is non-nil while paused; Unpause and Close close it.
	unpause chan struct{}
	// relpStatus answers syslog commands (relp): 200 stores the message,
	// anything else refuses it.
	relpStatus int
	udp        net.PacketConn

	wg sync.WaitGroup
}

type serverConn struct {
	c   net.Conn
	id  int
	wmu sync.Mutex // serialises RELP writes: responses and the serverclose hint

	mu       sync.Mutex // guards dropping and the read deadline
	dropping bool
}

// New returns a server that is not listening yet.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 1 << 20
	}
	if opts.Network == "" {
		opts.Network = "tcp"
	}
	return &Server{opts: opts, conns: map[*serverConn]struct{}{}, relpStatus: 200}
}

// Start listens on Options.Addr.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenLocked(s.opts.Addr)
}

func (s *Server) listenLocked(addr string) error {
	if s.closed {
		return errors.New("syslogfake: closed")
	}
	if s.ln != nil {
		return nil
	}
	lc := net.ListenConfig{}
	if n := s.opts.ReceiveBuffer; n > 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error { return setReceiveBuffer(c, n) }
	}
	if s.opts.Network == "udp" {
		return s.listenUDPLocked(lc, addr)
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

// Addr is the host:port the server listens on (or last listened on).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Refuse stops listening, so that connecting fails, and drops every open
// connection.
func (s *Server) Refuse() {
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	if s.udp != nil {
		_ = s.udp.Close()
		s.udp = nil
	}
	s.mu.Unlock()
	s.DropAll()
}

// Resume listens again on the address of the last Start.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenLocked(s.addr)
}

// DropAll drops every open connection (see Options.Linger).
func (s *Server) DropAll() {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		s.drop(sc)
	}
}

// SetDropAfter makes every connection drop after it carried n messages
// (counted per connection); 0 turns it off.
func (s *Server) SetDropAfter(n int) {
	s.mu.Lock()
	s.dropAfter = n
	s.mu.Unlock()
}

// SetIdleTimeout drops connections that carried nothing for d; 0 turns it
// off. It applies from each connection's next message on.
func (s *Server) SetIdleTimeout(d time.Duration) {
	s.mu.Lock()
	s.idle = d
	s.mu.Unlock()
}

// Pause stops reading and parsing every connection, open or accepted
// later, before its next frame (a frame being read is finished first),
// until Unpause.
// Bytes that arrive meanwhile stay in the kernel's receive buffer: they
// are acknowledged at the TCP level until that buffer is full, and lost if
// the connection is then dropped. Bytes already read ahead into the
// connection's 64KiB read buffer are parsed only after Unpause, so pause
// before the bytes under test are sent. A connection dropped while paused
// stays counted by Open until Unpause or Close.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unpause == nil && !s.closed {
		s.unpause = make(chan struct{})
	}
}

// Unpause resumes reading after Pause.
func (s *Server) Unpause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unpause != nil {
		close(s.unpause)
		s.unpause = nil
	}
}

// Messages returns a copy of the messages received so far, in arrival
// order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of messages received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Errors returns the parse and framing errors seen so far.
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Accepted is the number of connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Open is the number of connections currently open.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	if s.udp != nil {
		_ = s.udp.Close()
		s.udp = nil
	}
	for sc := range s.conns {
		_ = sc.c.Close()
	}
	if s.unpause != nil {
		close(s.unpause)
		s.unpause = nil
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by Refuse or Close
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.accepted++
		sc := &serverConn{c: c, id: s.accepted}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		if s.opts.Network == "relp" {
			go s.serveRELP(sc)
		} else {
			go s.serve(sc)
		}
	}
}

func (s *Server) serve(sc *serverConn) {
	defer s.wg.Done()
	defer func() {
		_ = sc.c.Close()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}()
	br := bufio.NewReaderSize(sc.c, 64<<10)
	n := 0
	for {
		// Wait for the next frame under the idle timeout; Peek consumes
		// nothing, so a timeout here never splits a frame.
		s.mu.Lock()
		idle, dropAfter, unpause := s.idle, s.dropAfter, s.unpause
		s.mu.Unlock()
		if unpause != nil {
			<-unpause // closed by Unpause or Close
			continue
		}
		sc.mu.Lock()
		dropping := sc.dropping
		if !dropping && idle > 0 {
			_ = sc.c.SetReadDeadline(time.Now().Add(idle))
		}
		sc.mu.Unlock()
		if _, err := br.Peek(1); err != nil {
			if !dropping && idle > 0 && isTimeout(err) {
				s.drop(sc)
				continue
			}
			return
		}
		s.mu.Lock()
		unpause = s.unpause
		s.mu.Unlock()
		if unpause != nil { // paused while Peek waited: parse nothing more
			<-unpause
		}
		sc.mu.Lock()
		if !sc.dropping && idle > 0 {
			_ = sc.c.SetReadDeadline(time.Time{})
		}
		sc.mu.Unlock()

		var frame []byte
		var err error
		if s.opts.Framing == "newline" {
			frame, err = ReadLine(br, s.opts.MaxMessageBytes)
		} else {
			frame, err = ReadFrame(br, s.opts.MaxMessageBytes)
		}
		if err != nil {
			if !sc.isDropping() && !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("connection %d: %w", sc.id, err))
			}
			return
		}
		if !s.store(sc.id, frame) {
			continue
		}
		n++
		if dropAfter > 0 && n == dropAfter {
			s.drop(sc)
		}
	}
}

// store parses frame as the configured RFC and records it, or records
// the parse error; it reports whether the message was stored.
func (s *Server) store(conn int, frame []byte) bool {
	parse := ParseMessage
	if s.opts.RFC3164 {
		parse = ParseRFC3164
	}
	m, err := parse(frame)
	if err != nil {
		s.fail(fmt.Errorf("connection %d: %w in %.200q", conn, err, frame))
		return false
	}
	m.Conn = conn
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	return true
}

// drop closes sc at once, or with Linger set closes its sending side and
// gives the client Linger to notice before the read side closes too.
func (s *Server) drop(sc *serverConn) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.dropping {
		return
	}
	sc.dropping = true
	if s.opts.Linger <= 0 {
		_ = sc.c.Close()
		return
	}
	_ = sc.c.SetReadDeadline(time.Now().Add(s.opts.Linger))
	if tc, ok := sc.c.(*tls.Conn); ok {
		_ = tc.CloseWrite() // close_notify; does not close the TCP side
		if nc, ok := tc.NetConn().(interface{ CloseWrite() error }); ok {
			_ = nc.CloseWrite()
		}
		return
	}
	if cw, ok := sc.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (sc *serverConn) isDropping() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.dropping
}

func (s *Server) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

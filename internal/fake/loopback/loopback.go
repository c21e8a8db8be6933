// Package loopback serves an http.Handler on a loopback port that can be
// switched off and on again at the same address: the "connection refused"
// outage of the fake sinks (internal/esfake, internal/hecfake).
package loopback

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an HTTP server on 127.0.0.1. Create it with New; Close must be
// called to release the listener. It is safe for concurrent use.
type Server struct {
	name    string // prefixes errors, e.g. "esfake"
	handler http.Handler

	mu     sync.Mutex // serialises Start, Refuse and Close
	addr   string     // set by Start, kept across Refuse
	srv    *http.Server
	done   chan struct{} // closed when srv's Serve returned
	closed bool
}

// New returns a server for h, not listening yet. name prefixes its errors.
func New(name string, h http.Handler) *Server {
	return &Server{name: name, handler: h}
}

// Start listens on a free loopback port and serves in the background. It
// does not block.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.errClosed()
	}
	if s.addr != "" {
		return fmt.Errorf("%s: already started", s.name)
	}
	return s.listen("127.0.0.1:0")
}

// URL is the server's base URL, e.g. "http://127.0.0.1:41234". It stays
// the same across Refuse and back.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// Refuse switches the server off (true: it stops listening and closes open
// connections, so connecting fails) or on again at the same address
// (false), which fails only if another process took the port meanwhile.
// Switching to the state it is in does nothing, and so does any switch
// before Start.
func (s *Server) Refuse(refuse bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.errClosed()
	}
	switch {
	case s.addr == "":
		return nil
	case refuse:
		return s.stop()
	case s.srv == nil:
		return s.listen(s.addr)
	}
	return nil
}

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.stop()
}

// Closed reports whether Close was called.
func (s *Server) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) errClosed() error { return errors.New(s.name + ": server closed") }

// listen starts serving on addr. mu must be held.
func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", s.name, err)
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.srv, s.done = srv, done
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns ErrServerClosed or a listener error after Close
	}()
	return nil
}

// stop closes the listener and every connection and waits for the serve
// goroutine. mu must be held.
func (s *Server) stop() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	s.srv, s.done = nil, nil
	return err
}

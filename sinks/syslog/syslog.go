// Package syslog is the siembridge sink for syslog receivers such as the
// QRadar, ArcSight and Microsoft Sentinel (AMA/rsyslog) forwarders. It
// writes RFC 5424 messages (or RFC 3164 ones, rfc: rfc3164) with
// octet-counting framing (RFC 6587 section 3.4.1, "<length> <message>") or
// newline framing over TCP, or over TLS (RFC 5425, same framing); or each
// message as one RELP syslog command (relp.go); or as one UDP datagram
// (udp.go, lossy). The message body is the event's JSON document, a CEF
// line (cef.go) or a LEEF 2.0 line (leef.go), with a configurable field
// mapping (mapping.go). The README has the tables.
//
// RELP is the only network with an application-level acknowledgement:
// each message is delivered when the receiver answered it 200; what the
// rest of this comment says about TCP acknowledgements applies to tcp and
// tls.
//
// # Delivery
//
// Over tcp and tls syslog has no application-level acknowledgement, so
// the sink uses the one TCP has. On Linux, Send counts a batch delivered only once the
// receiver's kernel acknowledged every byte of it: after the write it
// polls the socket's send queue (SIOCOUTQ, the bytes sent or queued that
// the peer has not acknowledged) with a short backoff, bounded by the
// timeout and ctx. A batch still unacknowledged when the timeout ends is
// not delivered: Send fails retryably and drops the connection. A reset
// (the receiver crashed with unread bytes, or TCP gave up) ends the wait
// at once. TCP_USER_TIMEOUT (tcp_user_timeout) makes the kernel abandon a
// connection whose peer went silent instead of retransmitting for about
// 15 minutes, so an idle connection to a dead receiver is noticed too.
//
// What remains: an acknowledgement means the receiver's kernel has the
// bytes, not that the receiver's process read, parsed or stored them. A
// receiver process that dies with acknowledged bytes in its socket buffer
// (or in its own buffers) loses them, and siembridge cannot know. Only an
// application-level acknowledgement (RELP) would close that window.
//
// Outside Linux the sink cannot read the send queue: a write that completed
// counts as delivered, which means the bytes reached the local kernel, and
// tcp_user_timeout is ignored.
//
// Every connection is also read by a goroutine (a syslog receiver never
// sends anything), so a connection the peer closed or reset is noticed as
// soon as the FIN or RST arrives and is replaced before the next batch is
// written, rather than written into.
//
// On any connection error the connection is closed and the whole batch is
// reported retryable; the bridge sends it again on a new connection. If
// part of the batch had been written, the receiver gets those messages
// twice. Each message carries its Kafka topic, partition and offset in
// structured data (and in CEF externalId and custom strings), so duplicates
// can be recognised downstream.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// The acknowledgement wait polls the send queue, first right after the
// write (on a LAN the ACK is often already there), then after
// ackPollMin, doubling up to ackPollMax: a few polls per round trip, and
// an acknowledgement noticed at most ackPollMax late.
const (
	ackPollMin = 100 * time.Microsecond
	ackPollMax = 10 * time.Millisecond
)

// maxPooledBytes: buffers that grew beyond this are dropped rather than
// pooled, so one huge batch does not pin its memory forever.
const maxPooledBytes = 16 << 20

// Option configures a Sink beyond its config: injectables only.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Sink writes batches to one syslog receiver over one connection. It is
// safe for concurrent use: Sends take turns to write on the connection, so
// the frames of two batches never interleave, and wait for their
// acknowledgements side by side, so a batch can be written while the one
// before it is still on the wire. Close must be called when the sink is no
// longer needed.
type Sink struct {
	addr       string
	tlsConf    *tls.Config // nil for plain TCP
	timeout    time.Duration
	userTO     time.Duration // TCP_USER_TIMEOUT
	maxMsg     int
	facility   int
	appName    string // sanitized
	host       string // sanitized HOSTNAME when the event names none
	hostField  string
	network    string      // tcp, tls, udp or relp
	rfc3164    bool        // BSD header instead of RFC 5424
	newline    bool        // newline framing instead of octet counting (tcp, tls)
	body       bodyEncoder // nil for format json
	relpWindow int
	log        *slog.Logger

	// turn is held by the Send writing to the connection (not while it
	// waits for the acknowledgement). A channel, not a mutex, so that
	// waiting for it ends with the context.
	turn chan struct{}

	mu     sync.Mutex // guards conn, udp, relp and closed transitions
	conn   *conn      // tcp, tls
	udp    net.Conn   // udp
	relp   *relpConn  // relp
	closed atomic.Bool
	wg     sync.WaitGroup // connection readers

	bufs sync.Pool // *sendBuf
}

// conn is one connection to the receiver and the state its reader keeps.
type conn struct {
	net.Conn                  // batches are written here: the TCP connection, or TLS over it
	raw       syscall.RawConn // the TCP socket, for the acknowledgement wait
	sent      atomic.Int64    // bytes written to the TCP socket (TLS records and handshake included)
	dead      atomic.Bool     // the reader saw EOF or an error
	closeOnce sync.Once
}

// countingConn counts the bytes written to the TCP socket into *sent, below
// TLS, so that they can be compared with the kernel's send queue.
type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}

type sendBuf struct {
	msg   []byte // one message being built
	out   []byte // every frame of the batch (udp, relp: every message, unframed)
	spans []span // where each message is in out
	frame []byte // a RELP frame header being built
}

// span locates the message of batch[idx] in sendBuf.out.
type span struct{ idx, start, end int }

// bodyEncoder appends the body of a message for e.
type bodyEncoder interface {
	appendBody(b []byte, e *event.Event) []byte
}

// New returns a sink for cfg, which must have been defaulted and validated
// by package config (config.Load does both); New checks nothing config
// checks. It reads the TLS files but does not connect: the first Send or
// Probe does.
func New(cfg config.Syslog, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Facility == nil {
		// Not a check of the value (config's): New would dereference it.
		return nil, errors.New("syslog: facility is not set (config defaults were not applied)")
	}
	s := &Sink{
		addr:       cfg.Address,
		network:    cfg.Network,
		rfc3164:    cfg.RFC == "rfc3164",
		newline:    cfg.Framing == "newline",
		relpWindow: max(cfg.RELPWindow, 1),
		timeout:    cfg.Timeout,
		userTO:     cfg.TCPUserTimeout,
		maxMsg:     int(min(cfg.MaxMessageBytes, config.ByteSize(int(^uint(0)>>1)))),
		facility:   *cfg.Facility,
		appName:    sanitize(cfg.AppName, maxAppName),
		hostField:  cfg.HostField,
		log:        o.logger,
		turn:       make(chan struct{}, 1),
	}
	switch cfg.Format {
	case "cef":
		s.body = &cefEncoder{vendor: cfg.CEFVendor, product: cfg.CEFProduct, version: cfg.CEFVersion,
			fields: buildMapping(cefDefaults, cfg.CEF.Mapping, cefIntegerKeys)}
	case "leef":
		delim, err := config.LEEFDelimiter(cfg.LEEF.Delimiter)
		if err != nil {
			return nil, fmt.Errorf("syslog: leef.delimiter %w", err)
		}
		s.body = &leefEncoder{vendor: cfg.CEFVendor, product: cfg.CEFProduct, version: cfg.CEFVersion,
			delim: delim, fields: buildMapping(leefDefaults, cfg.LEEF.Mapping, leefIntegerKeys)}
	}
	if cfg.Network == "udp" {
		o.logger.Warn("syslog: network udp has no acknowledgement of any kind; messages the network or the receiver drops are lost without notice",
			"address", cfg.Address)
	}
	if t := cfg.TLS(); t.Enabled {
		// ServerName is the host of the address, what tls.Dialer would
		// verify.
		tc, err := t.ClientConfig("syslog")
		if err != nil {
			return nil, err
		}
		s.tlsConf = tc
		if cfg.InsecureSkipVerify {
			o.logger.Warn("syslog: TLS certificate verification is DISABLED (insecure_skip_verify); the connection can be intercepted",
				"address", cfg.Address)
		}
	}
	if !ackSupported && (cfg.Network == "tcp" || cfg.Network == "tls") {
		o.logger.Info("syslog: this system cannot read TCP acknowledgements; a completed write counts as delivered and tcp_user_timeout is ignored",
			"address", cfg.Address)
	}
	host, err := os.Hostname()
	if err != nil {
		o.logger.Warn("syslog: cannot read this host's name; HOSTNAME is \"-\" unless host_field gives one", "err", err)
	}
	s.host = sanitize(host, maxHostname)
	s.bufs.New = func() any { return new(sendBuf) }
	return s, nil
}

// Send writes batch as one buffered write of octet-counted frames and, on
// Linux, waits until the receiver's TCP stack acknowledged all of it; the
// write and the wait together are bounded by the configured timeout and
// ctx. It blocks while another Send writes, not while another waits.
//
// It returns nil when the batch was acknowledged (outside Linux: when the
// write completed; see the package documentation for what an
// acknowledgement does not cover), a *sinks.BatchError rejecting the
// events whose message exceeds max_message_bytes (the others were
// delivered), or a retryable *sinks.RequestError for the whole batch when
// the connection could not be made, failed, or did not acknowledge the
// batch in time; the connection is then closed and the next Send makes a
// new one. A certificate the receiver presents that does not verify is
// Fatal. Safe for concurrent use.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	b := s.bufs.Get().(*sendBuf)
	defer s.putBuf(b)

	rejects := s.encode(b, batch)
	if len(b.spans) == 0 {
		return &sinks.BatchError{Items: rejects}
	}
	var err error
	switch s.network {
	case "relp":
		return s.sendRELP(ctx, b, rejects)
	case "udp":
		err = s.sendUDP(ctx, b)
	default:
		err = s.sendTCP(ctx, b.out)
	}
	if err != nil {
		return err
	}
	if rejects != nil {
		return &sinks.BatchError{Items: rejects}
	}
	return nil
}

// encode builds the message of every event of batch into b.out, framed
// for tcp and tls (octet counting or a newline after each) and unframed
// for udp and relp, and records where each is in b.spans. It returns the
// events whose message exceeds max_message_bytes, as rejects.
func (s *Sink) encode(b *sendBuf, batch []*event.Event) (rejects []sinks.ItemError) {
	b.out, b.spans = b.out[:0], b.spans[:0]
	stream := s.network != "udp" && s.network != "relp" // tcp, tls
	for i, e := range batch {
		b.msg = s.appendMessage(b.msg[:0], e)
		if len(b.msg) > s.maxMsg {
			rejects = append(rejects, sinks.ItemError{
				Index: i, Outcome: sinks.Reject,
				Reason: fmt.Sprintf("syslog message of %d bytes exceeds max_message_bytes %d", len(b.msg), s.maxMsg),
			})
			continue
		}
		if stream && !s.newline {
			b.out = strconv.AppendInt(b.out, int64(len(b.msg)), 10)
			b.out = append(b.out, ' ')
		}
		start := len(b.out)
		b.out = append(b.out, b.msg...)
		b.spans = append(b.spans, span{idx: i, start: start, end: len(b.out)})
		if stream && s.newline {
			// Every part of a message is free of LF by construction
			// (header fields sanitized, bodies escaped), so a newline
			// ends exactly one message.
			b.out = append(b.out, '\n')
		}
	}
	return rejects
}

// sendTCP writes out (tcp, tls) and waits for its acknowledgement; see
// Send.
func (s *Sink) sendTCP(ctx context.Context, out []byte) error {
	c, end, deadline, err := s.writeBatch(ctx, out)
	if err == nil {
		err = s.awaitAck(ctx, c, end, deadline)
	}
	if err != nil {
		if c == nil {
			return err // no connection was made
		}
		s.drop(c)
		s.log.Warn("syslog: batch not delivered; it will be sent again on a new connection",
			"address", s.addr, "err", err)
		re := &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: %s: %w", s.addr, err)}
		if ctx.Err() == nil && sinks.IsTimeout(err) {
			re.Outcome = sinks.Unavailable // the receiver does not keep up
		}
		return re
	}
	return nil
}

// deadline is now plus the configured timeout, or ctx's deadline when
// that is sooner.
func (s *Sink) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(s.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// writeBatch takes the turn, connects if needed and writes p, with a
// deadline of the configured timeout cut short by ctx. It returns the
// connection, the count of bytes written to its socket up to the end of p
// (for awaitAck) and the deadline, which bounds the acknowledgement wait
// too. On an error c is the connection to drop, or nil when there is none
// and err is what Send returns.
func (s *Sink) writeBatch(ctx context.Context, p []byte) (c *conn, end int64, deadline time.Time, err error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, deadline, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: %w", ctx.Err())}
	}
	defer func() { <-s.turn }()

	c, err = s.connection(ctx)
	if err != nil {
		return nil, 0, deadline, err
	}
	deadline = s.deadline(ctx)
	if err := c.SetWriteDeadline(deadline); err != nil {
		return c, 0, deadline, fmt.Errorf("write: %w", err)
	}
	// Unblock the write when ctx ends. The connection is dropped after a
	// failed write, so a deadline left in the past harms nothing.
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(p); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return c, 0, deadline, fmt.Errorf("write: %w", err)
	}
	return c, c.sent.Load(), deadline, nil
}

// awaitAck waits until the peer acknowledged the first end bytes written
// to c's socket, the connection is reset, deadline passes or ctx ends,
// polling with a backoff from ackPollMin to ackPollMax. It returns nil
// at once outside Linux. The error of a deadline reports Timeout() true.
func (s *Sink) awaitAck(ctx context.Context, c *conn, end int64, deadline time.Time) error {
	wait := ackPollMin
	var timer *time.Timer
	for {
		left, closed, err := c.unacked(end)
		switch {
		case errors.Is(err, net.ErrClosed): // dropped by another Send, or Close
			return fmt.Errorf("connection closed before the batch was acknowledged: %w", err)
		case err != nil:
			return err
		case left == 0:
			return nil
		case closed:
			return fmt.Errorf("connection reset with %d bytes of the batch unacknowledged", left)
		}
		now := time.Now()
		if !now.Before(deadline) {
			return &ackTimeoutError{left: left}
		}
		wait = min(wait, deadline.Sub(now))
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the acknowledgement: %w (%d bytes unacknowledged)", ctx.Err(), left)
		}
		wait = min(2*wait, ackPollMax)
	}
}

// ackTimeoutError: the receiver did not acknowledge the batch within the
// timeout. It is a timeout (sinks.IsTimeout) like a write that timed out:
// both mean the receiver does not keep up, or is gone.
type ackTimeoutError struct{ left int64 }

func (e *ackTimeoutError) Error() string {
	return fmt.Sprintf("%d bytes of the batch not acknowledged by the receiver within the timeout", e.left)
}

func (e *ackTimeoutError) Timeout() bool { return true }

// appendMessage appends the RFC 5424 or RFC 3164 message for e, without
// framing.
func (s *Sink) appendMessage(b []byte, e *event.Event) []byte {
	host := s.host
	if s.hostField != "" {
		if v, ok := event.Field(e.Doc, s.hostField); ok && v != "" {
			host = sanitize(v, maxHostname)
		}
	}
	if s.rfc3164 {
		b = appendHeader3164(b, e, s.facility, host, s.appName, time.Now())
	} else {
		b = appendHeader(b, e, s.facility, host, s.appName)
	}
	if s.body != nil {
		return s.body.appendBody(b, e)
	}
	return appendJSONBody(b, e.Doc)
}

// connection returns the live connection, replacing one the peer closed.
// The caller holds the turn.
func (s *Sink) connection(ctx context.Context) (*conn, error) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil && !c.dead.Load() {
		return c, nil
	}
	// A Send still waiting for its acknowledgement on c fails when c is
	// closed here, and its batch is sent again: a duplicate, never a loss.
	if c != nil {
		s.drop(c)
		s.log.Info("syslog: connection closed by the receiver; reconnecting", "address", s.addr)
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = c.Close()
		return nil, sinks.ErrClosed
	}
	s.conn = c
	s.wg.Add(1)
	s.mu.Unlock()
	go s.watch(c)
	s.log.Debug("syslog: connected", "address", s.addr, "tls", s.tlsConf != nil)
	return c, nil
}

// watch reads c until it fails and then marks it dead. A syslog receiver
// sends nothing (RFC 6587, RFC 5425), so the read only ever ends with the
// peer's FIN, a reset, or our own Close; anything it does send is
// discarded.
func (s *Sink) watch(c *conn) {
	defer s.wg.Done()
	buf := make([]byte, 256)
	for {
		if _, err := c.Read(buf); err != nil {
			c.dead.Store(true)
			return
		}
	}
}

// drop closes c and forgets it if it is the current connection.
func (s *Sink) drop(c *conn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.dead.Store(true)
	c.closeOnce.Do(func() { _ = c.Close() })
}

// dial connects, with TCP_USER_TIMEOUT set, and for TLS completes the
// handshake, within the configured timeout. TLS runs over a countingConn
// so that the bytes on the socket can be compared with its send queue.
func (s *Sink) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c := new(conn)
	nc, err := s.dialTCP(ctx)
	if err == nil {
		c.raw, err = nc.(*net.TCPConn).SyscallConn()
		c.Conn = countingConn{Conn: nc, sent: &c.sent}
		if err == nil && s.tlsConf != nil {
			tc := tls.Client(c.Conn, s.tlsConf)
			err = tc.HandshakeContext(ctx)
			c.Conn = tc
		}
		if err != nil {
			_ = nc.Close()
		}
	}
	if err != nil {
		var re *sinks.RequestError
		if errors.As(err, &re) {
			return nil, re
		}
		re = &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: connect to %s: %w", s.addr, err)}
		if sinks.IsCertError(err) {
			// The receiver's certificate does not verify: retrying will
			// not help until an operator fixes it. Fatal marks the sink
			// down and keeps the events.
			re.Outcome = sinks.Fatal
		}
		return nil, re
	}
	return c, nil
}

// dialTCP connects with TCP_USER_TIMEOUT set, within the configured
// timeout. A failure is a retryable *sinks.RequestError.
func (s *Sink) dialTCP(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { return setUserTimeout(rc, s.userTO) }}
	nc, err := nd.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: connect to %s: %w", s.addr, err)}
	}
	return nc, nil
}

// Probe connects (with the TLS handshake for network tls) within the
// configured timeout and closes the connection again. It returns nil when
// that worked, a fatal *sinks.RequestError when the receiver's certificate
// does not verify and a retryable one otherwise.
func (s *Sink) Probe(ctx context.Context) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	switch s.network {
	case "udp":
		c, err := s.dialUDP(ctx)
		if err != nil {
			return err
		}
		return c.Close()
	case "relp":
		rc, err := s.dialRELP(ctx)
		if err != nil {
			return err
		}
		s.closeRELP(rc)
		return nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// Close closes the connection and waits for its reader. Sends in flight
// fail with an error; later Sends return sinks.ErrClosed. It does not send
// anything. Calling Close again is a no-op.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	c, u, rc := s.conn, s.udp, s.relp
	s.conn, s.udp, s.relp = nil, nil, nil
	s.mu.Unlock()
	if c != nil {
		c.closeOnce.Do(func() { _ = c.Close() })
	}
	if u != nil {
		_ = u.Close()
	}
	if rc != nil {
		s.closeRELP(rc)
	}
	s.wg.Wait()
	return nil
}

func (s *Sink) putBuf(b *sendBuf) {
	if cap(b.out) > maxPooledBytes || cap(b.msg) > maxPooledBytes {
		return
	}
	s.bufs.Put(b)
}

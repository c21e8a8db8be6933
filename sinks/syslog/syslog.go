// Package syslog is the siembridge sink for syslog receivers such as the
// QRadar, ArcSight and Microsoft Sentinel (AMA/rsyslog) forwarders. It
// writes RFC 5424 messages with octet-counting framing (RFC 6587 section
// 3.4.1, "<length> <message>") over TCP, or over TLS (RFC 5425, same
// framing). The message body is the event's JSON document or a CEF line
// (see appendCEF and the README for the field mapping).
//
// # Delivery
//
// Syslog has no acknowledgement: a write that completed counts as
// delivered. A completed write means the bytes reached the local kernel,
// not the receiver; if the receiver goes away right after, those messages
// are lost and siembridge cannot know. The sink narrows that window: a
// goroutine per connection reads from it (a syslog receiver never sends
// anything), so a connection the peer closed or reset is noticed as soon
// as the FIN or RST arrives and is replaced before the next batch is
// written. Without that, the first write after the peer closed a TCP
// connection would "succeed" into the half-closed socket and be lost. A
// peer that closes while a batch is on its way still loses that batch's
// tail; only an application-level acknowledgement (RELP, HTTP) could close
// that gap.
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
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
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
// safe for concurrent use: Sends take turns on the connection, so the
// frames of two batches never interleave. Close must be called when the
// sink is no longer needed.
type Sink struct {
	addr      string
	tlsConf   *tls.Config // nil for plain TCP
	timeout   time.Duration
	maxMsg    int
	facility  int
	appName   string // sanitized
	host      string // sanitized HOSTNAME when the event names none
	hostField string
	cef       []byte // CEF header prefix; nil for format json
	log       *slog.Logger

	// turn is held by the Send writing to the connection. A channel, not
	// a mutex, so that waiting for it ends with the context.
	turn chan struct{}

	mu     sync.Mutex // guards conn and closed transitions
	conn   *conn
	closed atomic.Bool
	wg     sync.WaitGroup // connection readers

	bufs sync.Pool // *sendBuf
}

// conn is one connection to the receiver and the state its reader keeps.
type conn struct {
	net.Conn
	dead      atomic.Bool // the reader saw EOF or an error
	closeOnce sync.Once
}

type sendBuf struct {
	msg []byte // one message being built
	out []byte // every frame of the batch
}

// New returns a sink for cfg, which must have had config defaults applied
// (config.Load does that). It reads the TLS files but does not connect:
// the first Send or Probe does.
func New(cfg config.Syslog, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Address == "" {
		return nil, errors.New("syslog: address is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("syslog: address: %w", err)
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("syslog: timeout must be > 0")
	}
	if cfg.MaxMessageBytes <= 0 {
		return nil, errors.New("syslog: max_message_bytes must be > 0")
	}
	if cfg.Facility == nil || *cfg.Facility < 0 || *cfg.Facility > 23 {
		return nil, errors.New("syslog: facility must be between 0 and 23")
	}
	s := &Sink{
		addr:      cfg.Address,
		timeout:   cfg.Timeout,
		maxMsg:    int(min(cfg.MaxMessageBytes, config.ByteSize(int(^uint(0)>>1)))),
		facility:  *cfg.Facility,
		appName:   sanitize(cfg.AppName, maxAppName),
		hostField: cfg.HostField,
		log:       o.logger,
		turn:      make(chan struct{}, 1),
	}
	switch cfg.Format {
	case "json":
	case "cef":
		s.cef = cefPrefix(cfg.CEFVendor, cfg.CEFProduct, cfg.CEFVersion)
	default:
		return nil, fmt.Errorf("syslog: format %q: must be json or cef", cfg.Format)
	}
	switch cfg.Network {
	case "tcp":
		if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.InsecureSkipVerify {
			return nil, errors.New("syslog: TLS settings need network: tls")
		}
	case "tls":
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		s.tlsConf = tc
		if cfg.InsecureSkipVerify {
			o.logger.Warn("syslog: TLS certificate verification is DISABLED (insecure_skip_verify); the connection can be intercepted",
				"address", cfg.Address)
		}
	default:
		return nil, fmt.Errorf("syslog: network %q: must be tcp or tls", cfg.Network)
	}
	host, err := os.Hostname()
	if err != nil {
		o.logger.Warn("syslog: cannot read this host's name; HOSTNAME is \"-\" unless host_field gives one", "err", err)
	}
	s.host = sanitize(host, maxHostname)
	s.bufs.New = func() any { return new(sendBuf) }
	return s, nil
}

func tlsConfig(cfg config.Syslog) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // operator's explicit choice, logged loudly
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("syslog: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("syslog: ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("syslog: cert_file and key_file must be set together")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("syslog: cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Send writes batch as one buffered write of octet-counted frames, bounded
// by the configured timeout and ctx. It blocks while another Send writes.
//
// It returns nil when the write completed (syslog has no acknowledgement:
// see the package documentation), a *sinks.BatchError rejecting the events
// whose message exceeds max_message_bytes (the others were written), or a
// retryable *sinks.RequestError for the whole batch when the connection
// could not be made or failed; the connection is then closed and the next
// Send makes a new one. A certificate the receiver presents that does not
// verify is Fatal. Safe for concurrent use.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	b := s.bufs.Get().(*sendBuf)
	defer s.putBuf(b)

	var rejects []sinks.ItemError
	b.out = b.out[:0]
	for i, e := range batch {
		b.msg = s.appendMessage(b.msg[:0], e)
		if len(b.msg) > s.maxMsg {
			rejects = append(rejects, sinks.ItemError{
				Index: i, Outcome: sinks.Reject,
				Reason: fmt.Sprintf("syslog message of %d bytes exceeds max_message_bytes %d", len(b.msg), s.maxMsg),
			})
			continue
		}
		b.out = strconv.AppendInt(b.out, int64(len(b.msg)), 10)
		b.out = append(b.out, ' ')
		b.out = append(b.out, b.msg...)
	}
	if len(b.out) == 0 {
		return &sinks.BatchError{Items: rejects}
	}

	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return &sinks.RequestError{Err: fmt.Errorf("syslog: %w", ctx.Err())}
	}
	defer func() { <-s.turn }()

	c, err := s.connection(ctx)
	if err != nil {
		return err
	}
	if err := s.write(ctx, c, b.out); err != nil {
		s.drop(c)
		s.log.Warn("syslog: write failed; the batch will be sent again on a new connection",
			"address", s.addr, "err", err)
		re := &sinks.RequestError{Err: fmt.Errorf("syslog: write to %s: %w", s.addr, err)}
		if ctx.Err() == nil && sinks.IsTimeout(err) {
			re.Throttled = true // the receiver does not keep up
		}
		return re
	}
	if rejects != nil {
		return &sinks.BatchError{Items: rejects}
	}
	return nil
}

// appendMessage appends the RFC 5424 message for e, without framing.
func (s *Sink) appendMessage(b []byte, e *event.Event) []byte {
	host := s.host
	if s.hostField != "" {
		if v, ok := event.Field(e.Doc, s.hostField); ok && v != "" {
			host = sanitize(v, maxHostname)
		}
	}
	b = appendHeader(b, e, s.facility, host, s.appName)
	if s.cef != nil {
		return appendCEF(b, s.cef, e)
	}
	return appendJSONBody(b, e.Doc)
}

// write writes p with a deadline of the configured timeout, cut short by
// ctx.
func (s *Sink) write(ctx context.Context, c *conn, p []byte) error {
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	// Unblock the write when ctx ends. The connection is dropped after a
	// failed write, so a deadline left in the past harms nothing.
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err := c.Write(p)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
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
	if c != nil {
		s.drop(c)
		s.log.Info("syslog: connection closed by the receiver; reconnecting", "address", s.addr)
	}
	nc, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	c = &conn{Conn: nc}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
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

// dial connects, and for TLS completes the handshake, within the
// configured timeout.
func (s *Sink) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	nd := &net.Dialer{}
	var (
		nc  net.Conn
		err error
	)
	if s.tlsConf != nil {
		nc, err = (&tls.Dialer{NetDialer: nd, Config: s.tlsConf}).DialContext(ctx, "tcp", s.addr)
	} else {
		nc, err = nd.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		re := &sinks.RequestError{Err: fmt.Errorf("syslog: connect to %s: %w", s.addr, err)}
		// The receiver's certificate does not verify: retrying will not
		// help until an operator fixes it. Fatal marks the sink down
		// and keeps the events.
		re.Fatal = sinks.IsCertError(err)
		return nil, re
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
	nc, err := s.dial(ctx)
	if err != nil {
		return err
	}
	return nc.Close()
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
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		c.closeOnce.Do(func() { _ = c.Close() })
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

package syslog

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

// relpOpenOffers is the data of our open command. relp_version 0 is what
// librelp (rsyslog's imrelp) speaks; a server answers with the version it
// uses, and we accept 0 and 1, which frame alike.
const relpOpenOffers = "relp_version=0\nrelp_software=siembridge\ncommands=syslog"

// relpAnswer is the server's response to one syslog command.
type relpAnswer struct {
	span int // index into the batch's spans
	code int
	text string
}

// relpWaiter is where the reader delivers the response to a txnr.
type relpWaiter struct {
	ch   chan<- relpAnswer // buffered for every command of the batch
	span int
}

// relpConn is one RELP session. Commands are written by the Send holding
// the sink's turn; a reader goroutine takes responses off the wire and
// hands each to the Send waiting for it, so Sends wait side by side.
type relpConn struct {
	net.Conn
	bw *bufio.Writer // written only under the sink's turn

	// window has one slot per command sent and not yet answered; a Send
	// takes a slot before writing a command, the reader gives it back.
	window chan struct{}
	next   int // next txnr; under the turn

	mu      sync.Mutex
	pending map[int]relpWaiter
	err     error         // why the session ended; set once, before done closes
	done    chan struct{} // closed when the reader ended
}

// dialRELP connects and opens a RELP session: the open command with our
// offers, and the server's 200 response offering the syslog command, read
// within the configured timeout. It then starts the reader.
func (s *Sink) dialRELP(ctx context.Context) (*relpConn, error) {
	nc, err := s.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	if s.tlsConf != nil {
		if nc, err = s.handshake(ctx, nc); err != nil {
			return nil, err
		}
	}
	rc := &relpConn{
		Conn: nc, bw: bufio.NewWriterSize(nc, 64<<10),
		window: make(chan struct{}, s.relpWindow), next: 1,
		pending: map[int]relpWaiter{}, done: make(chan struct{}),
	}
	br := bufio.NewReaderSize(nc, 16<<10)
	if err := rc.open(br, time.Now().Add(s.timeout)); err != nil {
		_ = nc.Close()
		return nil, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: relp open with %s: %w", s.addr, err)}
	}
	s.wg.Add(1)
	go s.readRELP(rc, br)
	return rc, nil
}

// handshake runs TLS over nc (relp_tls) within the configured timeout. A
// certificate that does not verify is Fatal, as for network tls.
func (s *Sink) handshake(ctx context.Context, nc net.Conn) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tc := tls.Client(nc, s.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		re := &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: relp tls with %s: %w", s.addr, err)}
		if sinks.IsCertError(err) {
			re.Outcome = sinks.Fatal
		}
		return nil, re
	}
	return tc, nil
}

// open runs the session handshake before the reader starts.
func (rc *relpConn) open(br *bufio.Reader, deadline time.Time) error {
	_ = rc.SetDeadline(deadline)
	defer func() { _ = rc.SetDeadline(time.Time{}) }()
	if _, err := rc.Write(appendRELPFrame(nil, rc.next, "open", []byte(relpOpenOffers))); err != nil {
		return err
	}
	f, err := readRELPFrame(br, relpMaxResponse)
	if err != nil {
		return err
	}
	if f.txnr != rc.next || f.cmd != "rsp" {
		return fmt.Errorf("answer to open is %d %s, want %d rsp", f.txnr, f.cmd, rc.next)
	}
	code, text, rest, err := parseRELPResponse(f.data)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("server refused the session: %d %s", code, text)
	}
	offers := relpOffers(rest)
	if v := offers["relp_version"]; len(v) == 0 || (v[0] != "0" && v[0] != "1") {
		return fmt.Errorf("server offers relp_version %q, want 0 or 1", v)
	}
	if !slices.Contains(offers["commands"], "syslog") {
		return errors.New("server does not offer the syslog command")
	}
	rc.next = nextTxnr(rc.next)
	return nil
}

// readRELP delivers responses until the session ends: a read error, a
// frame that is not a response to a pending command, or the server's
// serverclose hint. Then it closes the connection and records why, which
// fails every command still pending.
func (s *Sink) readRELP(rc *relpConn, br *bufio.Reader) {
	defer s.wg.Done()
	var err error
	for {
		var f relpFrame
		if f, err = readRELPFrame(br, relpMaxResponse); err != nil {
			break
		}
		if f.txnr == 0 && f.cmd == "serverclose" {
			err = errors.New("the server closed the session (serverclose)")
			break
		}
		if f.cmd != "rsp" {
			err = fmt.Errorf("unexpected command %q from the server", f.cmd)
			break
		}
		code, text, _, perr := parseRELPResponse(f.data)
		rc.mu.Lock()
		w, ok := rc.pending[f.txnr]
		delete(rc.pending, f.txnr)
		rc.mu.Unlock()
		if !ok {
			err = fmt.Errorf("response to txnr %d, which is not pending", f.txnr)
			break
		}
		if perr != nil {
			code, text = 0, perr.Error()
		}
		<-rc.window
		w.ch <- relpAnswer{span: w.span, code: code, text: text}
	}
	rc.end(err)
}

// end records why the session ended, once, and closes it.
func (rc *relpConn) end(err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.err != nil {
		return
	}
	if err == nil {
		err = net.ErrClosed
	}
	rc.err = err
	_ = rc.Close()
	close(rc.done)
}

// failed returns why the session ended, or nil while it is open.
func (rc *relpConn) failed() error {
	select {
	case <-rc.done:
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.err
	default:
		return nil
	}
}

// relpConnection returns the open session, replacing one that ended. The
// caller holds the turn.
func (s *Sink) relpConnection(ctx context.Context) (*relpConn, error) {
	s.mu.Lock()
	rc := s.relp
	s.mu.Unlock()
	if rc != nil && rc.failed() == nil {
		return rc, nil
	}
	if rc != nil {
		s.log.Info("syslog: relp session ended; reconnecting", "address", s.addr, "reason", rc.failed())
		s.mu.Lock()
		if s.relp == rc {
			s.relp = nil // logged once
		}
		s.mu.Unlock()
	}
	rc, err := s.dialRELP(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		rc.end(sinks.ErrClosed)
		return nil, sinks.ErrClosed
	}
	s.relp = rc
	return rc, nil
}

// sendRELP sends the messages of b as syslog commands and waits, within
// the timeout, for the server's response to each. A message is delivered
// when its response is 200; one answered otherwise, or not at all because
// the session ended or the timeout passed, is Retry. When no message was
// delivered and the session failed, the whole batch fails with a
// RequestError (Unavailable for a timeout), like the other networks.
func (s *Sink) sendRELP(ctx context.Context, b *sendBuf, rejects []sinks.ItemError) error {
	deadline := s.deadline(ctx)
	answers := make(chan relpAnswer, len(b.spans))
	rc, sent, err := s.writeRELP(ctx, b, answers, deadline)
	got := make([]relpAnswer, len(b.spans))
	if rc != nil && err == nil {
		err = awaitRELP(ctx, rc, answers, got, sent, deadline)
	}
	if rc != nil {
		drainRELP(answers, got)
		if err != nil {
			rc.end(err) // commands still pending would answer into a stale batch
		}
	}
	delivered := 0
	items := rejects
	for i, a := range got {
		if a.code == 200 {
			delivered++
			continue
		}
		reason := fmt.Sprintf("relp: no response from %s", s.addr)
		if a.code != 0 {
			reason = fmt.Sprintf("relp: %s answered %d %s", s.addr, a.code, a.text)
		} else if err != nil {
			reason = fmt.Sprintf("relp: %s: %v", s.addr, err)
		}
		items = append(items, sinks.ItemError{Index: b.spans[i].idx, Outcome: sinks.Retry, Status: a.code, Reason: reason})
	}
	if delivered == 0 && err != nil {
		if rc == nil {
			return err // no session: already a RequestError
		}
		s.log.Warn("syslog: relp batch not acknowledged; it will be sent again on a new session", "address", s.addr, "err", err)
		re := &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: relp %s: %w", s.addr, err)}
		if ctx.Err() == nil && sinks.IsTimeout(err) {
			re.Outcome = sinks.Unavailable
		}
		return re
	}
	if len(items) > 0 {
		slices.SortFunc(items, func(a, b sinks.ItemError) int { return a.Index - b.Index })
		return &sinks.BatchError{Items: items}
	}
	return nil
}

// writeRELP takes the turn and writes one syslog command per span of b,
// each after taking a window slot (flushing what is buffered before it
// waits for one). sent counts the commands registered as pending.
func (s *Sink) writeRELP(ctx context.Context, b *sendBuf, answers chan relpAnswer, deadline time.Time) (rc *relpConn, sent int, err error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("syslog: %w", ctx.Err())}
	}
	defer func() { <-s.turn }()
	if rc, err = s.relpConnection(ctx); err != nil {
		return nil, 0, err
	}
	_ = rc.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = rc.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for i, sp := range b.spans {
		select {
		case rc.window <- struct{}{}:
		default:
			if err := rc.bw.Flush(); err != nil {
				return rc, sent, fmt.Errorf("write: %w", err)
			}
			select {
			case rc.window <- struct{}{}:
			case <-rc.done:
				return rc, sent, rc.failed()
			case <-timer.C:
				return rc, sent, &ackTimeoutError{left: int64(len(b.spans) - i)}
			case <-ctx.Done():
				return rc, sent, ctx.Err()
			}
		}
		rc.mu.Lock()
		if rc.err != nil {
			rc.mu.Unlock()
			return rc, sent, rc.err
		}
		rc.pending[rc.next] = relpWaiter{ch: answers, span: i}
		rc.mu.Unlock()
		msg := b.out[sp.start:sp.end]
		b.frame = appendRELPHeader(b.frame[:0], rc.next, "syslog", len(msg))
		_, _ = rc.bw.Write(b.frame)
		_, _ = rc.bw.Write(msg)
		if err := rc.bw.WriteByte('\n'); err != nil {
			return rc, sent + 1, fmt.Errorf("write: %w", err)
		}
		rc.next = nextTxnr(rc.next)
		sent++
	}
	if err := rc.bw.Flush(); err != nil {
		return rc, sent, fmt.Errorf("write: %w", err)
	}
	return rc, sent, nil
}

// awaitRELP collects answers into got until sent arrived, the session
// ended, the deadline passed or ctx ended.
func awaitRELP(ctx context.Context, rc *relpConn, answers <-chan relpAnswer, got []relpAnswer, sent int, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for n := 0; n < sent; n++ {
		select {
		case a := <-answers:
			got[a.span] = a
		case <-rc.done:
			return rc.failed()
		case <-timer.C:
			return &ackTimeoutError{left: int64(sent - n)}
		case <-ctx.Done():
			return fmt.Errorf("waiting for relp responses: %w", ctx.Err())
		}
	}
	return nil
}

// drainRELP takes the answers already delivered.
func drainRELP(answers <-chan relpAnswer, got []relpAnswer) {
	for {
		select {
		case a := <-answers:
			got[a.span] = a
		default:
			return
		}
	}
}

// closeRELP ends the session politely when it can: a close command, and
// its response awaited within the timeout (at most relpCloseWait). It
// skips that when a Send is writing or the window is full, and closes the
// connection in any case.
func (s *Sink) closeRELP(rc *relpConn) {
	defer rc.end(sinks.ErrClosed)
	select {
	case s.turn <- struct{}{}:
		defer func() { <-s.turn }()
	default:
		return
	}
	select {
	case rc.window <- struct{}{}:
	default:
		return
	}
	ch := make(chan relpAnswer, 1)
	rc.mu.Lock()
	if rc.err != nil {
		rc.mu.Unlock()
		return
	}
	rc.pending[rc.next] = relpWaiter{ch: ch}
	rc.mu.Unlock()
	wait := min(s.timeout, relpCloseWait)
	_ = rc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := rc.bw.Write(appendRELPFrame(nil, rc.next, "close", nil)); err != nil || rc.bw.Flush() != nil {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-rc.done:
	case <-timer.C:
	}
}

// relpCloseWait bounds the wait for the response to close.
const relpCloseWait = 2 * time.Second

// Package splunkhec is the siembridge sink for the Splunk HTTP Event
// Collector (HEC). Each batch is one POST: to /services/collector/event
// holding one JSON envelope per event, the event document itself copied
// into the envelope without being re-encoded; or, with endpoint raw, to
// /services/collector/raw holding one line per event, for events that are
// not JSON. The envelope's index, sourcetype, source and host may be
// templates over the event's fields, and configured event fields become
// indexed fields.
//
// With indexer acknowledgement (ack: true) a batch counts as delivered only
// once HEC reports it indexed on /services/collector/ack; without it, once
// HEC answered 200 "Success". The sink implements sinks.Acknowledger:
// SendPending returns once HEC answered the POST, and the wait for the
// acknowledgement happens outside the bridge's worker slot. Every envelope
// carries the indexed fields kafka_topic, kafka_partition and kafka_offset
// (unless kafka_fields is off), so the duplicates that at-least-once
// delivery may create (a retry after a lost answer, a replay after a
// crash) can be found in Splunk. When HEC takes events but refuses the ack
// request, the sink reports itself down (a fatal error naming the reason)
// until the ack endpoint answers again, rather than sending the batch again
// and again.
//
// Several URLs (urls) are used round-robin; a URL whose request fails is
// skipped for url_cooldown and the batch goes to the next one, so that the
// sink fails, and the bridge's breaker counts it, only when every URL
// fails. Each URL has its own data channel and cookie jar, and an ack ID is
// polled on the URL, with the cookies, of the indexer that issued it, so
// that a load balancer's sticky session holds for the ack polls.
//
// The sink makes one attempt per Send (one POST per URL at most) and never
// sleeps; how each HEC answer is classified is documented on classify.
package splunkhec

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/internal/httpx"
)

// maxPooledBytes: buffers that grew beyond this are dropped rather than
// pooled, so one huge batch does not pin its memory forever.
const maxPooledBytes = 16 << 20

// Option configures a Sink beyond its config: injectables only.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	transport http.RoundTripper
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTransport replaces the HTTP transport, for tests. Default: see
// httpx.Transport (a clone of http.DefaultTransport with
// ResponseHeaderTimeout set to the configured timeout and the TLS settings
// of the config). ca_file and insecure_skip_verify are applied to a
// transport that is an *http.Transport (on a clone); with any other
// transport New fails if either is set.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// Sink sends batches to Splunk HEC. It is safe for concurrent use; Close
// must be called when it is no longer needed (with ack it owns one polling
// goroutine per URL).
type Sink struct {
	targets   []*target
	next      atomic.Uint64 // round-robin position over targets
	transport http.RoundTripper
	auth      string // "Splunk <token>"
	raw       bool   // endpoint raw
	// rawQuery is the query string of raw requests (sourcetype, source,
	// host, index), "" for none.
	rawQuery string
	env      *envelope
	// perEventIndex: the index is rendered per event, so that HEC refusing
	// it (code 7) is the event's problem, not the configuration's.
	perEventIndex bool
	gzip          bool
	timeout       time.Duration
	ackTimeout    time.Duration
	cooldown      time.Duration
	maxEventBytes int
	log           *slog.Logger
	closed        atomic.Bool
	bufs          sync.Pool // *sendBuf
	warnNoAckID   sync.Once
}

var _ sinks.Acknowledger = (*Sink)(nil)

// sendBuf is the per-Send scratch space, pooled across calls.
type sendBuf struct {
	body []byte
	sent []int // batch position of each event in body, in order
	gz   bytes.Buffer
	zw   *gzip.Writer
}

// New returns a sink for cfg, which must have been defaulted and validated
// by package config, its token_file read (config.Load does all three); New
// checks nothing config checks. It reads ca_file but does not contact HEC;
// use Probe. With ack it starts the goroutines that poll for
// acknowledgements, which Close stops.
func New(cfg config.SplunkHEC, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	urls := cfg.BaseURLs()
	if len(urls) == 0 {
		return nil, errors.New("splunk hec: no url")
	}
	rt, err := httpx.Transport(o.transport, cfg.Timeout, cfg.TLS(), "splunk_hec")
	if err != nil {
		return nil, err
	}
	env, err := newEnvelope(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		transport:     rt,
		auth:          "Splunk " + cfg.Token.Value(),
		raw:           cfg.RawEndpoint(),
		env:           env,
		gzip:          cfg.Gzip,
		timeout:       cfg.Timeout,
		ackTimeout:    cfg.AckTimeout,
		cooldown:      cfg.URLCooldown,
		maxEventBytes: int(min(cfg.MaxEventBytes, config.ByteSize(int(^uint(0)>>1)))),
		log:           o.logger,
	}
	if s.cooldown <= 0 {
		s.cooldown = config.DefaultHECURLCooldown
	}
	if s.raw {
		s.rawQuery = rawQuery(&cfg)
	} else {
		s.perEventIndex = env.perEventIndex()
	}
	s.bufs.New = func() any { return new(sendBuf) }
	for _, u := range urls {
		t, err := s.newTarget(strings.TrimRight(u, "/"), &cfg, len(urls) > 1)
		if err != nil {
			s.Close()
			return nil, err
		}
		if cfg.InsecureSkipVerify {
			o.logger.Warn("splunk hec: TLS certificate verification is DISABLED (insecure_skip_verify); the connection and the HEC token can be intercepted",
				"url", t.base)
		}
		s.targets = append(s.targets, t)
	}
	return s, nil
}

// newTarget prepares one URL: its client with its own cookie jar, its
// channel, and with ack its poller.
func (s *Sink) newTarget(base string, cfg *config.SplunkHEC, several bool) (*target, error) {
	// HEC behind a load balancer (AWS ALB's AWSALB, Splunk Cloud) must see
	// the acks polled on the indexer that took the events; the balancer
	// keeps that session with a cookie, so keep cookies. The jar is this
	// target's own, and its client only ever talks to base.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("splunk hec: cookie jar: %w", err)
	}
	t := &target{
		base: base,
		client: &http.Client{
			Transport: s.transport,
			Jar:       jar,
			// A redirect (http→https, a login page) is a configuration
			// problem; classify reports it as fatal instead of following
			// it with our token.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if several {
		t.label = " " + base
	}
	// The raw endpoint needs a channel whether or not ack is on.
	if cfg.Ack || s.raw {
		if t.channel, err = newChannel(); err != nil {
			return nil, fmt.Errorf("splunk hec: channel: %w", err)
		}
	}
	if cfg.Ack {
		t.acks = newAckPoller(s, t, cfg.AckPollInterval)
	}
	return t, nil
}

// rawQuery is the query string of raw requests: the metadata, which the
// raw endpoint takes per request (config makes sure it is literal text).
func rawQuery(cfg *config.SplunkHEC) string {
	q := url.Values{}
	for _, m := range []struct{ key, val string }{
		{"sourcetype", cfg.Sourcetype}, {"source", cfg.Source}, {"host", cfg.Host}, {"index", cfg.Index},
	} {
		if m.val != "" {
			q.Set(m.key, m.val)
		}
	}
	return q.Encode()
}

// newChannel returns a random (version 4) UUID, the form HEC requires for
// X-Splunk-Request-Channel.
func newChannel() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// Channel returns the data channel GUID of the first URL, "" without ack
// and with endpoint event. It is for logs and tests.
func (s *Sink) Channel() string { return s.targets[0].channel }

// Send makes one attempt to deliver batch and blocks until HEC answered
// and, with ack, until HEC acknowledged that the batch is indexed,
// ack_timeout passed or ctx ended: SendPending, then its ack. It returns
// nil when every event was delivered, a *sinks.BatchError naming the
// events to retry or reject, or a *sinks.RequestError when the request as a
// whole failed (an ack timeout is one: the whole batch is sent again).
// Safe for concurrent use.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	ack, err := s.SendPending(ctx, batch)
	if err != nil || ack == nil {
		return err
	}
	return ack(ctx)
}

// SendPending makes one attempt to deliver batch and returns once HEC
// answered it (see sinks.Acknowledger). When err is non-nil, or when ack is
// nil (no acknowledgement to wait for), the outcome is decided: nil err is
// delivered, otherwise a *sinks.BatchError naming the events to retry or
// reject, or a *sinks.RequestError. Otherwise HEC took the events with an
// ackId, and ack blocks until HEC reports them indexed (then it returns
// nil, or the *sinks.BatchError of events not sent), until ack_timeout
// passed since HEC took them (a retryable, unavailable
// *sinks.RequestError: the whole batch is sent again), until the sink is
// closed (sinks.ErrClosed), or until ack's ctx ends (its error). ack must
// be called once; an acknowledgement nobody waits for is dropped at
// ack_timeout.
//
// Events whose envelope (raw line) is larger than max_event_bytes, and
// with endpoint raw blank events, are not sent; they come back as
// rejected. The batch goes to the URLs in turn (see package doc): a URL
// that fails (refused, timed out, 5xx, busy) is skipped for url_cooldown
// and the batch tried on the next, and the last failure is returned when
// every URL failed. While HEC refuses acknowledgement (ackAnswer) on every
// URL, SendPending posts nothing and returns that fatal error, until Probe
// or the poller finds the ack endpoint answering again. Safe for
// concurrent use.
func (s *Sink) SendPending(ctx context.Context, batch []*event.Event) (ack func(context.Context) error, err error) {
	if s.closed.Load() {
		return nil, sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil, nil
	}
	order, refusal := s.plan(time.Now().UnixNano())
	if len(order) == 0 {
		return nil, refusal
	}
	b := s.bufs.Get().(*sendBuf)
	defer s.putBuf(b)

	failed := s.encode(b, batch) // stays nil (no allocation) when all is well
	if len(b.sent) == 0 {
		return nil, &sinks.BatchError{Items: failed}
	}
	payload := b.body
	if s.gzip {
		if payload, err = b.compress(b.body); err != nil {
			return nil, &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("splunk hec: gzip: %w", err)}
		}
	}

	var last error
	for _, t := range order {
		r, err := s.post(ctx, t, payload, len(b.sent))
		if err == nil {
			t.markUp(s)
			return s.accepted(t, r, failed)
		}
		if !failover(err) || ctx.Err() != nil {
			return nil, requestPositions(err, b.sent, failed)
		}
		t.markDown(s, err)
		last = err
	}
	if len(order) > 1 {
		var re *sinks.RequestError
		if errors.As(last, &re) {
			c := *re
			c.Err = fmt.Errorf("splunk hec: all %d URLs failed; last: %w", len(order), re.Err)
			last = &c
		}
	}
	return nil, last
}

// encode writes the request body for batch into b (b.body, b.sent) and
// returns the events left out: too large, or blank for the raw endpoint.
func (s *Sink) encode(b *sendBuf, batch []*event.Event) (failed []sinks.ItemError) {
	b.body, b.sent = b.body[:0], b.sent[:0]
	for i, e := range batch {
		start := len(b.body)
		if s.raw {
			var ok bool
			if b.body, ok = appendRaw(b.body, e); !ok {
				failed = append(failed, sinks.ItemError{
					Index: i, Outcome: sinks.Reject, Status: http.StatusBadRequest,
					Reason: "blank event: the HEC raw endpoint drops blank lines",
				})
				continue
			}
		} else {
			b.body = s.env.appendEvent(b.body, e)
		}
		if size := len(b.body) - start - 1; size > s.maxEventBytes { // -1: the newline
			b.body = b.body[:start]
			what := "HEC envelope"
			if s.raw {
				what = "HEC raw event"
			}
			failed = append(failed, sinks.ItemError{
				Index: i, Outcome: sinks.Reject, Status: http.StatusRequestEntityTooLarge,
				Reason: fmt.Sprintf("%s of %d bytes exceeds max_event_bytes %d", what, size, s.maxEventBytes),
			})
			continue
		}
		b.sent = append(b.sent, i)
	}
	return failed
}

// post sends payload (n events) to t's data endpoint and classifies the
// answer: nil (HEC took the events), a *sinks.BatchError with request
// positions, or a *sinks.RequestError.
func (s *Sink) post(ctx context.Context, t *target, payload []byte, n int) (response, error) {
	path := eventPath
	if s.raw {
		path = rawPath
	}
	status, header, body, err := s.do(ctx, t, path, payload, s.gzip)
	if err != nil {
		return response{}, transportError(ctx, t.label, "event request", err)
	}
	r, err := classify(status, header, body, n, time.Now(), s.perEventIndex)
	if err != nil {
		return r, labelled(err, t.label)
	}
	return r, nil
}

// failover reports whether a failed request is the URL's problem, so that
// another URL may take the batch: no answer (refused, reset, timed out), or
// an answer to send again later (5xx, 503, HEC busy). Throttling (429) is
// not: it is HEC asking us to slow down. Neither is a refusal of the token
// or of the events: any URL would give it.
func failover(err error) bool {
	var re *sinks.RequestError
	return errors.As(err, &re) && (re.Outcome == sinks.Retry || re.Outcome == sinks.Unavailable)
}

// requestPositions returns err with the item indexes of a BatchError
// turned from request positions into batch positions (sent), merged with
// the events not sent (failed); any other error as it is (the whole batch
// is retried, oversized events included: rejected again then).
func requestPositions(err error, sent []int, failed []sinks.ItemError) error {
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		return err
	}
	for _, it := range be.Items {
		it.Index = sent[it.Index]
		failed = append(failed, it)
	}
	slices.SortFunc(failed, func(a, b sinks.ItemError) int { return a.Index - b.Index })
	be.Items = failed
	return be
}

// accepted is SendPending's result once t took the events: decided without
// ack (or when the token does not acknowledge), and otherwise an ack that
// waits for r's ackId on t.
func (s *Sink) accepted(t *target, r response, failed []sinks.ItemError) (func(context.Context) error, error) {
	done := func() error {
		if failed != nil {
			return &sinks.BatchError{Items: failed}
		}
		return nil
	}
	if t.acks == nil {
		return nil, done()
	}
	t.acks.inUse.Store(r.AckID != nil)
	if r.AckID == nil {
		// HEC took the events but the token does not acknowledge: it has
		// ack disabled, and HEC ignores the channel header then. Sending
		// again would only duplicate, so this counts as delivered on the
		// 200, as without ack.
		s.warnNoAckID.Do(func() {
			s.log.Warn("splunk hec: ack is on but HEC returned no ackId (indexer acknowledgement disabled on the token?); delivery is confirmed by HTTP 200 only",
				"url", t.base)
		})
		return nil, done()
	}
	w, err := t.acks.register(*r.AckID, time.Now().Add(s.ackTimeout))
	if err != nil {
		return nil, err
	}
	var called atomic.Bool
	return func(ctx context.Context) error {
		if called.Swap(true) {
			return errors.New("splunk hec: ack called more than once")
		}
		if err := t.acks.await(ctx, w); err != nil {
			if sinks.Of(err) == sinks.Unavailable && ctx.Err() == nil {
				t.markDown(s, err) // no acknowledgement within ack_timeout
			}
			return err
		}
		return done()
	}, nil
}

// compress gzips p into b.gz.
func (b *sendBuf) compress(p []byte) ([]byte, error) {
	b.gz.Reset()
	if b.zw == nil {
		b.zw = gzip.NewWriter(&b.gz)
	} else {
		b.zw.Reset(&b.gz)
	}
	if _, err := b.zw.Write(p); err != nil {
		return nil, err
	}
	if err := b.zw.Close(); err != nil {
		return nil, err
	}
	return b.gz.Bytes(), nil
}

// do sends one POST to path on t with the token (and t's channel, when it
// has one) and reads the answer, all within the configured timeout. body
// nil sends an empty body.
func (s *Sink) do(ctx context.Context, t *target, path string, body []byte, gzipped bool) (int, http.Header, []byte, error) {
	return s.request(ctx, t, http.MethodPost, path, body, gzipped, true)
}

func (s *Sink) request(ctx context.Context, t *target, method, path string, body []byte, gzipped, auth bool) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := t.base + path
	if path == rawPath && s.rawQuery != "" {
		u += "?" + s.rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	if auth {
		req.Header.Set("Authorization", s.auth)
		if t.channel != "" {
			req.Header.Set(channelHeader, t.channel)
		}
	}
	if method == http.MethodPost {
		if path == rawPath {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	res, err := t.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	resp, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil && res.StatusCode >= 200 && res.StatusCode < 300 {
		// The answer that says whether the events arrived was cut off.
		return 0, nil, nil, fmt.Errorf("reading the answer to HTTP %d: %w", res.StatusCode, err)
	}
	// Drain what is left (bounded) so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBytes)) // best effort: an error only costs the connection
	return res.StatusCode, res.Header, resp, nil
}

// Probe checks every URL and returns nil when one passes; the URLs that
// fail are skipped by Send for url_cooldown, those that pass are used
// again. Otherwise it returns the first fatal error, or the last one.
//
// A URL passes when GET /services/collector/health says HEC accepts data
// (HTTP 200, code 17) and the token, which the health endpoint does not
// check, is accepted: posting an empty body to /services/collector/event
// answers "No data" (code 5). With ack, once HEC has answered an ackId on
// the URL (or refused an ack request), it also asks
// /services/collector/ack about an ack ID never issued, so that the URL
// stays out of use while HEC refuses acknowledgement. The errors are a
// fatal *sinks.RequestError when HEC refuses the token, our ack setting or
// the ack request, and a retryable one otherwise. A health endpoint that
// does not exist (404, an HEC-compatible receiver or a proxy) is skipped.
func (s *Sink) Probe(ctx context.Context) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	var fatal, last error
	ok := false
	for _, t := range s.targets {
		err := s.probe(ctx, t)
		if err == nil {
			t.markUp(s)
			ok = true
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		if failover(err) {
			t.markDown(s, err)
		}
		if fatal == nil && sinks.Of(err) == sinks.Fatal {
			fatal = err
		}
		last = err
	}
	switch {
	case ok:
		return nil
	case fatal != nil:
		return fatal
	}
	return last
}

// probe checks one URL; see Probe.
func (s *Sink) probe(ctx context.Context, t *target) error {
	status, header, body, err := s.request(ctx, t, http.MethodGet, healthPath, nil, false, false)
	if err != nil {
		return transportError(ctx, t.label, "health check", err)
	}
	if status != http.StatusNotFound {
		if err := healthResult(status, header, body, time.Now()); err != nil {
			return labelled(err, t.label)
		}
	}
	status, header, body, err = s.do(ctx, t, eventPath, nil, false)
	if err != nil {
		return transportError(ctx, t.label, "token check", err)
	}
	if err := tokenResult(status, header, body, time.Now()); err != nil {
		return labelled(err, t.label)
	}
	if t.acks != nil && (t.acks.inUse.Load() || t.acks.refusal.Load() != nil) {
		return labelled(t.acks.check(ctx), t.label)
	}
	return nil
}

// labelled prefixes a RequestError's message with the URL label ("" with a
// single URL: unchanged). Other errors are returned as they are.
func labelled(err error, label string) error {
	var re *sinks.RequestError
	if label == "" || !errors.As(err, &re) {
		return err
	}
	c := *re
	c.Err = fmt.Errorf("[%s] %w", strings.TrimSpace(label), re.Err)
	return &c
}

// healthResult classifies the answer of the health endpoint.
func healthResult(status int, header http.Header, body []byte, now time.Time) error {
	r, isHEC := parseResponse(body)
	if status == http.StatusOK && (!isHEC || r.Code == nil || *r.Code == codeHealthy) {
		return nil
	}
	re := &sinks.RequestError{Outcome: sinks.Retry, Status: status, Err: errors.New("splunk hec: health: " + describe(status, r, isHEC, body))}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		re.Outcome = sinks.Fatal
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		re.Outcome = pushBack(status, true)
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), now)
	}
	return re
}

// tokenResult classifies the answer to an empty event request.
func tokenResult(status int, header http.Header, body []byte, now time.Time) error {
	r, isHEC := parseResponse(body)
	if isHEC && r.Code != nil && (*r.Code == codeNoData || (*r.Code == codeSuccess && status >= 200 && status < 300)) {
		return nil
	}
	_, err := classify(status, header, body, 0, now, false)
	var re *sinks.RequestError
	if errors.As(err, &re) {
		if re.Outcome == sinks.Reject || re.Outcome == sinks.TooLarge {
			re.Outcome = sinks.Retry // a probe never rejects events
		}
		return re
	}
	return &sinks.RequestError{Outcome: sinks.Retry, Status: status, Err: errors.New("splunk hec: token check: " + describe(status, r, isHEC, body))}
}

// Close stops the acknowledgement pollers, fails the batches waiting for
// an acknowledgement with sinks.ErrClosed and releases idle connections.
// It does not wait for requests in flight. Calling Close again is a no-op.
func (s *Sink) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	for _, t := range s.targets {
		if t.acks != nil {
			t.acks.stop()
		}
	}
	if ci, ok := s.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	return nil
}

func (s *Sink) putBuf(b *sendBuf) {
	if cap(b.body) > maxPooledBytes || b.gz.Cap() > maxPooledBytes {
		return
	}
	s.bufs.Put(b)
}

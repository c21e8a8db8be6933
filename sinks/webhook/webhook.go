// Package webhook is the siembridge sink for SOAR platforms and other HTTP
// receivers (Splunk SOAR, Cortex XSOAR, TheHive, Tines): it POSTs (or
// PUTs) each event's JSON document to one URL, one event per request
// (mode single) or a JSON array of the batch (mode batch). Which events
// reach it is the route's business (routes[].filter, package filter).
//
// A webhook has no idempotency key: an event whose request failed in a way
// that leaves its fate unknown (a timeout, a 5xx) is sent again, so the
// receiver may see it twice. Each event is sent as it is in Kafka; the
// receiver can de-duplicate on its own fields.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/internal/httpx"
)

// maxReason is how much of a response body becomes a rejection reason.
const maxReason = 512

// maxDrain is how much of a response body is read to let the connection
// be reused; a longer body closes the connection instead.
const maxDrain = 64 << 10

// Option configures a Sink beyond its config: injectables only.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	transport http.RoundTripper
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTransport replaces the HTTP transport, for tests. Default: see
// httpx.Transport (a clone of http.DefaultTransport with the TLS settings
// of the config and ResponseHeaderTimeout set to the timeout). ca_file and
// insecure_skip_verify are applied to a transport that is an
// *http.Transport (on a clone); with any other transport New fails if
// either is set.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// Sink sends events to a webhook. It is safe for concurrent use; Close
// must be called when it is no longer needed.
type Sink struct {
	client  *http.Client
	url     string
	safeURL string // scheme://host, for errors and logs: paths often hold tokens
	method  string
	header  http.Header // values are secrets: never logged
	host    string      // a configured Host header
	batch   bool
	timeout time.Duration

	log    *slog.Logger
	closed atomic.Bool
}

// New returns a sink for cfg, which must have been defaulted and validated
// by package config (config.Load does both); New checks nothing config
// checks. It reads ca_file but does not contact the receiver; use Probe.
func New(cfg config.Webhook, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// config.Validate rejects such a URL; never echo it: it may
		// hold a token.
		return nil, errors.New("webhook: url does not parse")
	}
	s := &Sink{
		url:     cfg.URL,
		safeURL: u.Scheme + "://" + u.Host,
		method:  cfg.Method,
		header:  http.Header{},
		batch:   cfg.Mode == "batch",
		timeout: cfg.Timeout,
		log:     o.logger,
	}
	s.header.Set("Content-Type", "application/json")
	s.header.Set("User-Agent", "siembridge")
	for name, v := range cfg.Headers {
		if http.CanonicalHeaderKey(name) == "Host" {
			s.host = v.Value()
			continue
		}
		s.header.Set(name, v.Value())
	}

	rt, err := httpx.Transport(o.transport, cfg.Timeout, cfg.TLS(), "webhook")
	if err != nil {
		return nil, err
	}
	if cfg.InsecureSkipVerify {
		o.logger.Warn("webhook: TLS certificate verification is DISABLED (insecure_skip_verify); the connection can be intercepted",
			"url", s.safeURL)
	}
	s.client = &http.Client{
		Transport: rt,
		// A redirect is not followed: a 301/302 would turn the POST into
		// a GET, and a login page is not a webhook. It is classified as a
		// configuration problem instead (see classify).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// Send delivers the events of batch and blocks until the receiver
// answered each request, the configured timeout passed or ctx ended.
//
// Mode single sends one request per event, in batch order, and stops at
// the first failure that is not a rejection: that event and the ones
// after it come back to be retried, so a partition's events arrive in
// order. Mode batch sends one request with a JSON array.
//
// It returns nil when every event was delivered, a
// *sinks.BatchError naming the events to retry or reject, or a
// *sinks.RequestError when the request failed before any event got an
// answer (see classify). Safe for concurrent use.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	if s.batch {
		return s.sendBatch(ctx, batch)
	}
	return s.sendSingle(ctx, batch)
}

func (s *Sink) sendSingle(ctx context.Context, batch []*event.Event) error {
	var items []sinks.ItemError
	for i, e := range batch {
		res := s.do(ctx, s.method, e.Doc)
		switch {
		case res.outcome == sinks.Delivered:
			continue
		case res.outcome == sinks.Reject:
			items = append(items, sinks.ItemError{Index: i, Outcome: sinks.Reject, Status: res.status, Reason: res.reason})
			continue
		}
		// A failure that is not about this event. When nothing was
		// answered for any event yet, it is the request's failure (the
		// breaker counts it, Fatal marks the sink down). Otherwise the
		// events already delivered or rejected must not be sent again:
		// report the rest as Retry, and the next attempt, starting with
		// this event, meets the failure as a request error.
		if i == 0 {
			return res.requestError(1)
		}
		// Pushed back (429, 503, a timeout): the rest is throttled, so
		// that the bridge slows down as it would for the request.
		o := sinks.Retry
		if res.outcome == sinks.Throttled || res.outcome == sinks.Unavailable {
			o = sinks.Throttled
		}
		be := &sinks.BatchError{Items: items, RetryAfter: res.retryAfter}
		for j := i; j < len(batch); j++ {
			be.Items = append(be.Items, sinks.ItemError{Index: j, Outcome: o, Status: res.status, Reason: res.reason})
		}
		return be
	}
	if items != nil {
		return &sinks.BatchError{Items: items}
	}
	return nil
}

func (s *Sink) sendBatch(ctx context.Context, batch []*event.Event) error {
	size := 2
	for _, e := range batch {
		size += len(e.Doc) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, e := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e.Doc...)
	}
	body = append(body, ']')
	res := s.do(ctx, s.method, body)
	if res.outcome == sinks.Delivered {
		return nil
	}
	return res.requestError(len(batch))
}

// result is the classified outcome of one request.
type result struct {
	outcome    sinks.Outcome // Delivered, Retry, Throttled, Unavailable, Reject or Fatal
	retryAfter time.Duration
	status     int
	reason     string
	err        error
}

// requestError is r as the failure of a request of n events: a 413 for
// more than one event is TooLarge (the bridge splits the batch), for one
// it is that event's Reject.
func (r result) requestError(n int) *sinks.RequestError {
	o := r.outcome
	if r.status == http.StatusRequestEntityTooLarge && n > 1 {
		o = sinks.TooLarge
	}
	return &sinks.RequestError{Outcome: o, Status: r.status, Err: r.err, RetryAfter: r.retryAfter}
}

// do makes one request with the configured timeout and classifies the
// answer.
func (s *Sink) do(ctx context.Context, method string, body []byte) result {
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url, rd)
	if err != nil {
		return result{outcome: sinks.Fatal, err: fmt.Errorf("webhook: %s", redact(err, s.url, s.safeURL))}
	}
	req.Header = s.header.Clone()
	if s.host != "" {
		req.Host = s.host
	}
	resp, err := s.client.Do(req)
	if err != nil {
		r := result{outcome: sinks.Retry, reason: "transport error"}
		switch {
		case parent.Err() != nil:
			r.err = fmt.Errorf("webhook %s %s: %w", method, s.safeURL, parent.Err())
		case errors.Is(err, context.DeadlineExceeded) || sinks.IsTimeout(err):
			// The receiver is too slow: count it as overload.
			r.outcome = sinks.Unavailable
			r.err = fmt.Errorf("webhook %s %s: timeout after %s", method, s.safeURL, s.timeout)
		default:
			r.err = fmt.Errorf("webhook %s %s: %s", method, s.safeURL, redact(err, s.url, s.safeURL))
		}
		if sinks.IsCertError(err) {
			r.outcome = sinks.Fatal
		}
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) // keep the connection reusable
		return result{outcome: sinks.Delivered, status: resp.StatusCode}
	}
	head := make([]byte, maxReason)
	n, _ := io.ReadFull(resp.Body, head) // best effort: it only enriches the reason
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := classify(resp.StatusCode, resp.Header.Get("Retry-After"), time.Now())
	r.reason = reasonOf(resp.StatusCode, head[:n])
	r.err = fmt.Errorf("webhook %s %s: %s", method, s.safeURL, r.reason)
	return r
}

// classify decides what a non-2xx answer means:
//
//	401, 403       fatal: the receiver refuses our credentials whatever we
//	               send; the bridge marks the sink down and keeps the
//	               events (never dead-letters them)
//	429            throttled, with Retry-After (seconds or a date): the
//	               receiver is alive and asks us to slow down
//	503            unavailable, with Retry-After: throttled, and it counts
//	               toward the breaker
//	other 5xx, 408 retry
//	404, 405       fatal: a wrong URL or method, so every event would get
//	               the same answer; dead-lettering the whole stream for a
//	               typo in the config is worse than stopping
//	other 4xx      reject: the receiver refuses this event (validation);
//	               it goes to the dead-letter topic with the body as reason
//	1xx, 3xx       fatal: a redirect (http→https, a login page) is a
//	               configuration problem; redirects are not followed
func classify(status int, retryAfter string, now time.Time) result {
	r := result{status: status}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		r.outcome = sinks.Fatal
	case status == http.StatusTooManyRequests:
		r.outcome = sinks.Throttled
		r.retryAfter = sinks.ParseRetryAfter(retryAfter, now)
	case status == http.StatusServiceUnavailable:
		r.outcome = sinks.Unavailable
		r.retryAfter = sinks.ParseRetryAfter(retryAfter, now)
	case status >= 500 || status == http.StatusRequestTimeout:
		r.outcome = sinks.Retry
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		r.outcome = sinks.Fatal
	case status >= 400:
		r.outcome = sinks.Reject
	default:
		r.outcome = sinks.Fatal
	}
	return r
}

// reasonOf is the response body's first 512 bytes as valid UTF-8 on one
// line, or the status text when the body is empty.
func reasonOf(status int, body []byte) string {
	s := strings.ToValidUTF8(string(body), "")
	if len(body) == maxReason {
		// The cut may have split a character; drop a partial tail.
		for len(s) > 0 {
			r, size := utf8.DecodeLastRuneInString(s)
			if r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1]
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = http.StatusText(status)
	}
	return strconv.Itoa(status) + " " + s
}

// Probe sends HEAD to the URL with the configured headers and timeout. Any
// HTTP answer means reachable, including 404 and 405 (many webhook
// endpoints only accept POST), except 401 and 403, which return a fatal
// *sinks.RequestError, and 5xx, which return a retryable one, as do
// transport errors.
func (s *Sink) Probe(ctx context.Context) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	r := s.do(ctx, http.MethodHead, nil)
	switch {
	case r.outcome == sinks.Delivered:
		return nil
	case r.outcome == sinks.Fatal && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
		return r.requestError(0)
	case r.status >= 500 || r.status == 0:
		// Retry, Throttled or Unavailable; Fatal for a certificate that
		// does not verify.
		return r.requestError(0)
	}
	return nil
}

// Close releases idle connections. It does not wait for Sends in flight.
// Calling Close again is a no-op.
func (s *Sink) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.client.CloseIdleConnections()
	}
	return nil
}

// redact removes the configured URL (whose path or query often holds a
// token, as Tines and XSOAR webhook URLs do) from an error's text.
func redact(err error, full, safe string) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return strings.ReplaceAll(msg, full, safe)
}

// Package splunkhec is the siembridge sink for the Splunk HTTP Event
// Collector (HEC). Each batch is one POST to /services/collector/event
// holding one JSON envelope per event; the event document itself is copied
// into the envelope without being re-encoded.
//
// With indexer acknowledgement (ack: true) a batch counts as delivered only
// once HEC reports it indexed on /services/collector/ack; without it, once
// HEC answered 200 "Success". Every envelope carries the indexed fields
// kafka_topic, kafka_partition and kafka_offset, so the duplicates that
// at-least-once delivery may create (a retry after a lost answer, a replay
// after a crash) can be found in Splunk. When HEC takes events but refuses
// the ack request, the sink reports itself down (a fatal error naming the
// reason) until the ack endpoint answers again, rather than sending the
// batch again and again. Cookies are kept, so that a load balancer's sticky
// session holds for the ack polls.
//
// The sink makes one attempt per Send and never retries or sleeps; how each
// HEC answer is classified is documented on classify.
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
// must be called when it is no longer needed (with ack it owns a polling
// goroutine).
type Sink struct {
	client    *http.Client
	transport http.RoundTripper
	base      string // URL without a trailing slash
	auth      string // "Splunk <token>"
	// channel is this instance's data channel GUID, sent with every request
	// when ack is on ("" otherwise). Ack IDs are numbered per channel.
	channel       string
	env           *envelope
	gzip          bool
	timeout       time.Duration
	ackTimeout    time.Duration
	maxEventBytes int
	log           *slog.Logger
	acks          *ackPoller // nil without ack
	closed        atomic.Bool
	bufs          sync.Pool // *sendBuf
	warnNoAckID   sync.Once
}

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
// use Probe. With ack it starts the goroutine that polls for
// acknowledgements, which Close stops.
func New(cfg config.SplunkHEC, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	base := strings.TrimRight(cfg.URL, "/")
	rt, err := httpx.Transport(o.transport, cfg.Timeout, cfg.TLS(), "splunk_hec")
	if err != nil {
		return nil, err
	}
	if cfg.InsecureSkipVerify {
		o.logger.Warn("splunk hec: TLS certificate verification is DISABLED (insecure_skip_verify); the connection and the HEC token can be intercepted",
			"url", base)
	}

	// HEC behind a load balancer (AWS ALB's AWSALB, Splunk Cloud) must see
	// the acks polled on the indexer that took the events; the balancer
	// keeps that session with a cookie, so keep cookies. The jar is this
	// sink's own, and the client only ever talks to url.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("splunk hec: cookie jar: %w", err)
	}
	s := &Sink{
		client: &http.Client{
			Transport: rt,
			Jar:       jar,
			// A redirect (http→https, a login page) is a configuration
			// problem; classify reports it as fatal instead of following
			// it with our token.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport:     rt,
		base:          base,
		auth:          "Splunk " + cfg.Token.Value(),
		env:           newEnvelope(cfg.Host, cfg.HostField, cfg.Source, cfg.Sourcetype, cfg.Index),
		gzip:          cfg.Gzip,
		timeout:       cfg.Timeout,
		ackTimeout:    cfg.AckTimeout,
		maxEventBytes: int(min(cfg.MaxEventBytes, config.ByteSize(int(^uint(0)>>1)))),
		log:           o.logger,
	}
	s.bufs.New = func() any { return new(sendBuf) }
	if cfg.Ack {
		if s.channel, err = newChannel(); err != nil {
			return nil, fmt.Errorf("splunk hec: channel: %w", err)
		}
		s.acks = newAckPoller(s, cfg.AckPollInterval)
	}
	return s, nil
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

// Channel returns the data channel GUID this sink sends with ack on, ""
// without ack. It is for logs and tests.
func (s *Sink) Channel() string { return s.channel }

// Send makes one request for batch and blocks until HEC answered and, with
// ack, until HEC acknowledged that the batch is indexed, ack_timeout passed
// or ctx ended. It returns nil when every event was delivered, a
// *sinks.BatchError naming the events to retry or reject, or a
// *sinks.RequestError when the request as a whole failed (an ack timeout is
// one: the whole batch is sent again). Events whose envelope is larger than
// max_event_bytes are not sent; they come back as rejected (413). While HEC
// refuses acknowledgement (ackAnswer) Send posts nothing and returns that
// fatal error, until Probe finds the ack endpoint answering again. Safe for
// concurrent use.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	if s.acks != nil {
		if err := s.acks.refused(); err != nil {
			return err
		}
	}
	b := s.bufs.Get().(*sendBuf)
	defer s.putBuf(b)

	var failed []sinks.ItemError // stays nil (no allocation) when all is well
	b.body, b.sent = b.body[:0], b.sent[:0]
	for i, e := range batch {
		start := len(b.body)
		b.body = s.env.appendEvent(b.body, e)
		if size := len(b.body) - start - 1; size > s.maxEventBytes { // -1: the newline
			b.body = b.body[:start]
			failed = append(failed, sinks.ItemError{
				Index: i, Outcome: sinks.Reject, Status: http.StatusRequestEntityTooLarge,
				Reason: fmt.Sprintf("HEC envelope of %d bytes exceeds max_event_bytes %d", size, s.maxEventBytes),
			})
			continue
		}
		b.sent = append(b.sent, i)
	}
	if len(b.sent) == 0 {
		return &sinks.BatchError{Items: failed}
	}
	payload := b.body
	if s.gzip {
		var err error
		if payload, err = b.compress(b.body); err != nil {
			return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("splunk hec: gzip: %w", err)}
		}
	}

	status, header, body, err := s.do(ctx, eventPath, payload, s.gzip)
	if err != nil {
		return transportError(ctx, "event request", err)
	}
	r, err := classify(status, header, body, len(b.sent), time.Now())
	if err != nil {
		var be *sinks.BatchError
		if !errors.As(err, &be) {
			return err // a RequestError: the whole batch is retried, oversized events included (rejected again then)
		}
		for _, it := range be.Items {
			it.Index = b.sent[it.Index]
			failed = append(failed, it)
		}
		slices.SortFunc(failed, func(a, b sinks.ItemError) int { return a.Index - b.Index })
		be.Items = failed
		return be
	}

	if s.acks != nil {
		s.acks.inUse.Store(r.AckID != nil)
		if r.AckID == nil {
			// HEC took the events but the token does not acknowledge: it has
			// ack disabled, and HEC ignores the channel header then. Sending
			// again would only duplicate, so this counts as delivered on
			// the 200, as without ack.
			s.warnNoAckID.Do(func() {
				s.log.Warn("splunk hec: ack is on but HEC returned no ackId (indexer acknowledgement disabled on the token?); delivery is confirmed by HTTP 200 only",
					"url", s.base)
			})
		} else if err := s.acks.wait(ctx, *r.AckID, s.ackTimeout); err != nil {
			return err
		}
	}
	if failed != nil {
		return &sinks.BatchError{Items: failed}
	}
	return nil
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

// do sends one POST to path with the token (and the channel with ack) and
// reads the answer, all within the configured timeout. body nil sends an
// empty body.
func (s *Sink) do(ctx context.Context, path string, body []byte, gzipped bool) (int, http.Header, []byte, error) {
	return s.request(ctx, http.MethodPost, path, body, gzipped, true)
}

func (s *Sink) request(ctx context.Context, method, path string, body []byte, gzipped, auth bool) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	if auth {
		req.Header.Set("Authorization", s.auth)
		if s.channel != "" {
			req.Header.Set(channelHeader, s.channel)
		}
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	res, err := s.client.Do(req)
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

// Probe checks GET /services/collector/health (HEC accepting data: HTTP 200,
// code 17) and then the token, which the health endpoint does not check, by
// posting an empty body to /services/collector/event: "No data" (code 5)
// means the token was accepted. With ack, once HEC has answered an ackId
// (or refused an ack request), it also asks /services/collector/ack about
// an ack ID never issued, so that the sink stays down while HEC refuses
// acknowledgement. It returns nil when every check passes, a fatal
// *sinks.RequestError when HEC refuses the token, our ack setting or the
// ack request, and a retryable one otherwise. A health endpoint that does
// not exist (404, an HEC-compatible receiver or a proxy) is skipped.
func (s *Sink) Probe(ctx context.Context) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	status, header, body, err := s.request(ctx, http.MethodGet, healthPath, nil, false, false)
	if err != nil {
		return transportError(ctx, "health check", err)
	}
	if status != http.StatusNotFound {
		if err := healthResult(status, header, body, time.Now()); err != nil {
			return err
		}
	}
	status, header, body, err = s.do(ctx, eventPath, nil, false)
	if err != nil {
		return transportError(ctx, "token check", err)
	}
	if err := tokenResult(status, header, body, time.Now()); err != nil {
		return err
	}
	if s.acks != nil && (s.acks.inUse.Load() || s.acks.refusal.Load() != nil) {
		return s.acks.check(ctx)
	}
	return nil
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
	_, err := classify(status, header, body, 0, now)
	var re *sinks.RequestError
	if errors.As(err, &re) {
		if re.Outcome == sinks.Reject || re.Outcome == sinks.TooLarge {
			re.Outcome = sinks.Retry // a probe never rejects events
		}
		return re
	}
	return &sinks.RequestError{Outcome: sinks.Retry, Status: status, Err: errors.New("splunk hec: token check: " + describe(status, r, isHEC, body))}
}

// Close stops the acknowledgement poller, fails the Sends waiting for an
// acknowledgement with sinks.ErrClosed and releases idle connections. It
// does not wait for requests in flight. Calling Close again is a no-op.
func (s *Sink) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.acks != nil {
		s.acks.stop()
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

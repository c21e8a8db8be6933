// Package elasticsearch is the siembridge sink for Elasticsearch 8.x and
// 9.x and Elastic Cloud. It writes each batch as one _bulk request through
// the official client (github.com/elastic/go-elasticsearch/v8), which does
// the transport, authentication, TLS, Cloud ID decoding and product check,
// and asks for the 8 REST API (compatibility mode, see clientConfig); this
// package builds the NDJSON body, names each event's index or data stream
// and pipeline, and turns the answer into per-event outcomes.
//
// Every document is written with a deterministic _id (event.ID), so a retry
// or a replay that reaches the concrete index already holding the document
// creates nothing twice: with the default action "create" Elasticsearch
// answers 409 for a document it already has, and that counts as delivered.
// Elasticsearch checks an _id within one concrete index only: through an
// alias or a data stream, a re-send after a rollover is a second copy in
// the new backing index (docs/guarantees.md).
//
// Requests carry a filter_path (bulkFilterPath) so that the answer holds
// only the errors flag and each item's action, status and error.
package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/internal/httpx"
)

// maxResponseBytes bounds how much of a response we read. A bulk answer is
// a few hundred bytes per item, so this leaves room for batches of tens of
// thousands of events with long error reasons.
const maxResponseBytes = 64 << 20

// maxPooledBytes: buffers that grew beyond this are dropped rather than
// pooled, so one huge batch does not pin its memory forever.
const maxPooledBytes = 16 << 20

// bulkFilterPath is the filter_path of every _bulk request: it asks
// Elasticsearch for only what Send reads, as Logstash does, so that a
// successful item is {"create":{"status":201}} (about 27 bytes) instead
// of the ~190 bytes of _index, _id, _version, result, _shards, _seq_no and
// _primary_term nobody here reads, and answering, sending and reading a
// 1000-item response costs that much less.
//
//   - errors: the flag that says whether any item failed.
//   - items.*.status: the action ("*", kept as the key) and status of
//     every item. Arrays are transparent to filter_path and an item
//     object with nothing matched would be dropped, so this path must
//     match in every item: it is what keeps the items in place and their
//     number equal to the documents sent. Elasticsearch writes a status
//     for every item.
//   - items.*.error.type, items.*.error.reason: what classifyItem and
//     itemReason read of a failed item; its caused_by, index_uuid, shard
//     and index are left out (a 409 replay storm answers less).
//   - error: Elasticsearch does not filter error responses (4xx/5xx
//     bodies are built with filtering off), but should a server or proxy
//     filter them, the "error" object that statusError describes
//     survives. A successful bulk response has no "error" key.
//
// A server that ignores filter_path sends the full response, which
// parseBulkResponse reads as well. One string in a slice: esapi joins the
// slice with commas, and joining one element does not allocate.
var bulkFilterPath = []string{FilterPath}

// FilterPath is the filter_path the sink sends with every _bulk request
// (see bulkFilterPath); exported so that load generators can ask for the
// same response.
const FilterPath = "errors,items.*.status,items.*.error.type,items.*.error.reason,error"

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
// of the config). ca_file, cert_file, key_file, insecure_skip_verify and
// proxy_url are applied to a transport that is an *http.Transport (on a
// clone); with any other transport New fails if one is set.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// Sink sends batches to Elasticsearch. It is safe for concurrent use; Close
// must be called when it is no longer needed.
type Sink struct {
	client        *es.Client
	transport     http.RoundTripper // for CloseIdleConnections on Close
	appendIndex   func(dst []byte, e *event.Event) []byte
	usesFields    bool // the index template reads document fields
	create        bool
	actionPrefix  []byte // {"create":{"_index":
	pipeline      *pipeline
	timeout       time.Duration
	maxEventBytes int
	log           *slog.Logger
	closed        atomic.Bool
	bufs          sync.Pool // *sendBuf
}

// sendBuf is the per-Send scratch space, pooled across calls.
type sendBuf struct {
	body   []byte
	resp   []byte
	index  []byte     // scratch for one index name
	action []byte     // scratch for one action line (sizeBody)
	sent   []int      // batch position of each event in body, in order
	items  []bulkItem // parsed response items
	reader bytes.Reader
}

// New returns a sink for cfg, which must have been defaulted and validated
// by package config, its *_file secrets read (config.Load does all three);
// New checks nothing config checks. It reads ca_file, cert_file and
// key_file and decodes cloud_id but does not contact the cluster; use
// Probe.
func New(cfg config.Elasticsearch, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Sink{
		create:        cfg.Action == "create",
		timeout:       cfg.Timeout,
		maxEventBytes: int(min(cfg.MaxEventBytes, config.ByteSize(int(^uint(0)>>1)))),
		log:           o.logger,
	}
	if err := s.setTarget(cfg); err != nil {
		return nil, err
	}
	// The CA pool goes into the transport, not into es.Config.CACert: the
	// client would install it on a clone whose idle connections Close
	// could not reach.
	rt, err := transport(o.transport, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.InsecureSkipVerify {
		o.logger.Warn("elasticsearch: TLS certificate verification is DISABLED (insecure_skip_verify); the connection can be intercepted",
			"urls", cfg.URLs, "cloud_id", cfg.CloudID != "")
	}
	client, err := es.NewClient(clientConfig(cfg, rt))
	if err != nil {
		if cfg.CloudID != "" {
			return nil, fmt.Errorf("elasticsearch: cloud_id: %w", err)
		}
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	s.client, s.transport = client, rt
	s.bufs.New = func() any { return new(sendBuf) }
	return s, nil
}

// setTarget sets where documents go: the index template or the data
// stream, the action line's parts and the pipeline.
func (s *Sink) setTarget(cfg config.Elasticsearch) error {
	if cfg.DataStream != nil {
		ds := newDataStream(*cfg.DataStream)
		s.appendIndex, s.usesFields = ds.appendName, ds.autoRouting
	} else {
		tmpl, err := event.ParseIndexTemplate(cfg.Index)
		if err != nil {
			return fmt.Errorf("elasticsearch: index: %w", err)
		}
		s.appendIndex, s.usesFields = tmpl.AppendFormat, tmpl.UsesFields()
	}
	p, err := newPipeline(cfg.Pipeline)
	if err != nil {
		return fmt.Errorf("elasticsearch: pipeline: %w", err)
	}
	s.pipeline = p
	s.usesFields = s.usesFields || p.usesFields()
	s.actionPrefix = fmt.Appendf(nil, `{"%s":{"_index":`, cfg.Action)
	return nil
}

// transport is the HTTP transport of cfg: httpx.Transport's, with the
// configured proxy when proxy_url is set (on a clone: a given transport is
// not modified).
func transport(given http.RoundTripper, cfg config.Elasticsearch) (http.RoundTripper, error) {
	rt, err := httpx.Transport(given, cfg.Timeout, cfg.TLS(), "elasticsearch")
	if err != nil || cfg.ProxyURL == "" {
		return rt, err
	}
	u, err := url.Parse(cfg.ProxyURL)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: proxy_url: %w", err)
	}
	tr, ok := rt.(*http.Transport)
	if !ok {
		return nil, errors.New("elasticsearch: proxy_url needs an *http.Transport")
	}
	tr = tr.Clone()
	tr.Proxy = http.ProxyURL(u)
	return tr, nil
}

// clientConfig is the go-elasticsearch configuration of cfg over rt.
//
// EnableCompatibilityMode makes every request ask for the Elasticsearch 8
// REST API (Accept, and Content-Type when there is a body:
// application/vnd.elasticsearch+json;compatible-with=8). Elasticsearch 8
// serves it natively and 9 through its REST API compatibility, so that
// this 8.x client reads the answers of both; without it a 9.x cluster
// answers in its own format. The client turns it on for
// ELASTIC_CLIENT_APIVERSIONING=true as well; here it is always on.
func clientConfig(cfg config.Elasticsearch, rt http.RoundTripper) es.Config {
	c := es.Config{
		Addresses: cfg.URLs,
		CloudID:   cfg.CloudID,
		APIKey:    cfg.APIKey.Value(),
		Username:  cfg.Username,
		Password:  cfg.Password.Value(),
		Transport: rt,
		// One attempt per Send: retries, backoff and the breaker are the
		// bridge's.
		DisableRetry:            true,
		CompressRequestBody:     cfg.Gzip,
		PoolCompressor:          true,
		EnableCompatibilityMode: true,
	}
	if cfg.CloudAuth != "" {
		c.Username, c.Password, _ = strings.Cut(cfg.CloudAuth.Value(), ":")
	}
	if len(cfg.Headers) > 0 {
		c.Header = make(http.Header, len(cfg.Headers))
		for k, v := range cfg.Headers {
			c.Header.Set(k, v.Value())
		}
	}
	return c
}

// Send makes one _bulk request for batch and blocks until Elasticsearch
// answered, the configured timeout passed or ctx ended. It returns nil when
// every event was delivered, a *sinks.BatchError naming the events to retry
// or reject, or a *sinks.RequestError when the request as a whole failed.
// Events larger than max_event_bytes are not sent; they come back as
// rejected (413). Safe for concurrent use.
//
// Unchecked events (see AcceptsUnchecked) the cluster cannot parse are
// checked then, in place, and when they are not valid JSON objects they
// come back as Retry: the bridge's next attempt sends their wrapping
// (recheck). Send never makes a second request.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	return s.recheck(batch, s.send(ctx, batch))
}

// send is the _bulk request for batch: Send without recheck.
func (s *Sink) send(ctx context.Context, batch []*event.Event) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	b := s.bufs.Get().(*sendBuf)
	defer s.putBuf(b)

	var failed []sinks.ItemError // stays nil (no allocation) when all is well
	b.body, b.sent = s.sizeBody(b.body[:0], b, batch), b.sent[:0]
	for i, e := range batch {
		if len(e.Doc) > s.maxEventBytes {
			failed = append(failed, sinks.ItemError{
				Index: i, Outcome: sinks.Reject, Status: http.StatusRequestEntityTooLarge,
				Reason: fmt.Sprintf("event of %d bytes exceeds max_event_bytes %d", len(e.Doc), s.maxEventBytes),
			})
			continue
		}
		b.body = s.appendEvent(b.body, b, e)
		b.sent = append(b.sent, i)
	}
	if len(b.sent) == 0 {
		return &sinks.BatchError{Items: failed}
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()

	b.reader.Reset(b.body)
	res, err := esapi.BulkRequest{
		Body:       &b.reader,
		FilterPath: bulkFilterPath,
		// No Content-Type: the compatibility mode sets it (clientConfig).
	}.Do(ctx, s.client)
	if err != nil {
		return transportError(parent, err)
	}
	defer res.Body.Close()
	b.resp, err = readAll(b.resp[:0], res.Body, maxResponseBytes)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return statusError(res.StatusCode, len(b.sent), res.Header, b.resp)
	}
	if err != nil {
		return transportError(parent, fmt.Errorf("reading bulk response: %w", err))
	}

	hasErrors, items, perr := parseBulkResponse(b.resp, b.items)
	b.items = items
	if perr == nil && len(items) != len(b.sent) {
		perr = fmt.Errorf("bulk response has %d items for %d documents", len(items), len(b.sent))
	}
	if perr != nil {
		// Nothing can be assumed delivered; the deterministic IDs make the
		// retry safe.
		return &sinks.RequestError{Outcome: sinks.Retry, Status: res.StatusCode, Err: fmt.Errorf("elasticsearch: %w", perr)}
	}
	if !hasErrors && failed == nil {
		return nil
	}

	be := &sinks.BatchError{}
	if hasErrors {
		for k := range items {
			it := &items[k]
			o := classifyItem(it.status, it.errType, it.errReason, s.create)
			if o == sinks.Delivered {
				continue
			}
			failed = append(failed, sinks.ItemError{
				Index: b.sent[k], Outcome: o, Status: it.status, Reason: itemReason(it),
			})
		}
	}
	if len(failed) == 0 {
		return nil
	}
	slices.SortFunc(failed, func(a, b sinks.ItemError) int { return a.Index - b.Index })
	be.Items = failed
	if be.Count(sinks.Throttled) > 0 {
		be.RetryAfter = sinks.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	return be
}

func itemReason(it *bulkItem) string {
	reason := unquote(it.errReason, maxReason)
	if len(it.errType) == 0 {
		if reason == "" {
			return http.StatusText(it.status)
		}
		return reason
	}
	return text.Truncate(string(it.errType)+": "+reason, maxReason)
}

// sizeBody returns body with room for batch's request, so that it is
// allocated once rather than grown by doubling: under a tight memory
// limit the pool of bodies is emptied by nearly every collection, and the
// doubling allocated twice a body's size for every request. The action
// lines are sized from the first event's (a batch is one partition's, so
// they differ in the offset's digits, and in the index or pipeline only
// when a template reads document fields: then one growth may remain).
func (s *Sink) sizeBody(body []byte, b *sendBuf, batch []*event.Event) []byte {
	if len(batch) == 0 {
		return body
	}
	b.action = s.appendAction(b.action[:0], b, batch[0])
	need := len(batch) * (len(b.action) + 8)
	for _, e := range batch {
		need += len(e.Doc) + 1
	}
	need += need / 32
	if cap(body) >= need {
		return body
	}
	return make([]byte, 0, need)
}

// appendAction appends e's action line, newline included.
func (s *Sink) appendAction(body []byte, b *sendBuf, e *event.Event) []byte {
	body = append(body, s.actionPrefix...)
	b.index = s.appendIndex(b.index[:0], e)
	// Index names from event.IndexTemplate are already safe, but the
	// action line must stay valid JSON whatever the template produces, and
	// escaping costs nothing when there is nothing to escape.
	body = text.AppendJSONString(body, b.index)
	body = append(body, `,"_id":`...)
	body = appendID(body, e)
	body, b.index = s.pipeline.appendParam(body, b.index, e)
	return append(body, "}}\n"...)
}

// appendEvent appends one action line and one source line.
func (s *Sink) appendEvent(body []byte, b *sendBuf, e *event.Event) []byte {
	body = s.appendAction(body, b, e)
	start := len(body)
	body = append(body, e.Doc...)
	if e.Unchecked {
		return append(body, '\n') // event.Skim let through one line only
	}
	// Doc is a JSON object, not re-encoded. A pretty-printed one may hold
	// raw newlines, which would end the NDJSON line early. In valid JSON a
	// raw newline can only be white space between tokens (inside strings
	// it must be escaped), so replacing it by a space changes nothing.
	for i := bytes.IndexByte(body[start:], '\n'); i >= 0; i = bytes.IndexByte(body[start:], '\n') {
		body[start+i] = ' '
		start += i + 1
	}
	return append(body, '\n')
}

// Close releases the client and its idle connections. It does not wait for
// Sends in flight, which fail with an error. Calling Close again is a
// no-op.
func (s *Sink) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.client.Close(ctx)
	if ci, ok := s.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("elasticsearch: close: %w", err)
	}
	return nil
}

func (s *Sink) putBuf(b *sendBuf) {
	if cap(b.body) > maxPooledBytes || cap(b.resp) > maxPooledBytes {
		return
	}
	b.reader.Reset(nil)
	clear(b.items) // drop references into the response body
	s.bufs.Put(b)
}

// readAll appends r to dst, reading at most limit bytes; more is an error.
func readAll(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst[:limit], fmt.Errorf("response larger than %d bytes", limit)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

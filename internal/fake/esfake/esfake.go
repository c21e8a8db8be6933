// Package esfake is an in-process Elasticsearch for tests, the demo and
// benchmarks. It speaks the parts of the REST API that siembridge uses,
// GET /, GET /_security/_authenticate and the _bulk API, in Elasticsearch
// 8's wire shape, with REST API compatibility headers checked as an 8.x or
// 9.x server checks them (Options.ServerVersion) and privileges enforced
// as a role would (Options.Role), and it can be told to misbehave: per-item mapping errors and 429s, a capacity limit in
// events per second (the demo's "slow SIEM"), and whole-server outages.
//
// The server owns its listener instead of wrapping httptest.Server so that
// the Refuse mode can really stop listening (clients get "connection
// refused") and Healthy can listen again on the same address.
//
// Every response carries "X-Elastic-Product: Elasticsearch", as real
// Elasticsearch does and as the official Go client checks.
//
// The filter_path query parameter filters successful responses (GET / and
// _bulk) with Elasticsearch's semantics (see internal/filterpath); as in
// Elasticsearch, error responses are never filtered. Exclusion paths
// ("-path") are not supported and get a 400.
//
// Documents are unique by _id within one concrete index, not across
// indices, as in Elasticsearch. Aliases with a write index and data streams
// (CreateAlias, CreateDataStream) resolve writes to their newest concrete
// index, and Rollover gives them a new one, so that a "create" re-sent
// after a rollover makes a second document with the same _id, as it does
// in a real cluster (see series.go). Count and Documents see every copy;
// All, IDs and DistinctIDs merge copies by _id.
//
// A Server is safe for concurrent use. Bulk requests are applied one at a
// time under one lock, like a single-shard index, which keeps the oracle
// simple and its counters exact.
package esfake

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/internal/fake/filterpath"
	"github.com/siembridge/siembridge/internal/fake/loopback"
)

// Version is the Elasticsearch version the fake reports on GET / unless
// Options.ServerVersion says otherwise.
const Version = "8.15.0"

// Options configure a Server. The zero value is a healthy, unlimited,
// unauthenticated cluster.
type Options struct {
	// APIKey, when set, is accepted as "Authorization: ApiKey <APIKey>"
	// (the scheme in any case, as Elasticsearch does).
	APIKey string
	// Username and Password, when Username is set, are accepted as HTTP
	// basic authentication. When neither APIKey nor Username is set no
	// authentication is required; when one is set, a request without
	// accepted credentials gets 401 security_exception.
	Username string
	Password string

	// RejectIf, when set, is called with each document source that is
	// valid JSON; a non-zero status rejects the item with that status and
	// error. Use it to inject mapping errors.
	RejectIf func(doc []byte) (status int, errType, reason string)

	// Item429Rate is the fraction (0..1) of items answered 429
	// es_rejected_execution_exception, chosen by a PRNG seeded with Seed,
	// so a run is deterministic for one sequence of requests.
	Item429Rate float64
	Seed        uint64

	// Capacity in items per second; 0 means unlimited. Items beyond it get
	// an item-level 429, as a real cluster's full write thread pool does.
	// It is a token bucket holding Burst items (default: one second of
	// Capacity, at least 1).
	Capacity float64
	Burst    int

	// RetryAfter, when positive, is sent as a Retry-After header (whole
	// seconds, rounded up) with whole-request 429 and 503 answers.
	RetryAfter time.Duration

	// MaxContentLength is the largest accepted request body (after gzip
	// decoding); larger bodies get 413. Default 100MiB, as
	// http.max_content_length.
	MaxContentLength int64

	// DiscardSources keeps only IDs and versions, not documents, so that a
	// benchmark can index millions of events. Docs and All then return nil
	// sources and update merges are not applied.
	DiscardSources bool

	// OmitProductHeader drops X-Elastic-Product to test clients' product
	// check. Default false.
	OmitProductHeader bool

	// IgnoreFilterPath answers in full whatever filter_path asks, as a
	// server or proxy that does not know the parameter would. Default
	// false: filter_path is honoured.
	IgnoreFilterPath bool

	// ServerVersion is the version reported on GET /, e.g. "9.1.0".
	// Default Version. Its major decides which REST API compatibility
	// versions are accepted: a request whose Accept or Content-Type asks
	// for "compatible-with=N" gets 400 media_type_header_exception unless
	// N is that major or the one before and both headers agree, as in
	// Elasticsearch; answers to such requests carry
	// "application/vnd.elasticsearch+json;compatible-with=N".
	ServerVersion string

	// RequireCompatibleWith, when non-zero, refuses (400) every request
	// whose Accept (and Content-Type, when it has a body) does not ask for
	// compatible-with=RequireCompatibleWith. Elasticsearch itself serves
	// unversioned requests in its own major's format; this strictness is
	// for testing that a client asks, e.g. that an 8.x client talking to
	// a 9.x cluster asks for the 8 format (ServerVersion "9.x",
	// RequireCompatibleWith 8).
	RequireCompatibleWith int

	// Role, when set, limits what the authenticated principal may do
	// (see Role): GET / needs a monitor cluster privilege, each bulk item
	// the write privilege of its action on the name it addresses, and a
	// write to a name that does not exist yet auto_configure (or
	// create_index) too; refusals are 403 security_exception, per item
	// for bulk. GET /_security/_authenticate needs nothing. Nil: every
	// action is allowed. Enforced only with APIKey or Username set.
	Role *Role

	// DataStreamTemplates are name patterns ('*' wildcards) of index
	// templates with data streams enabled: a create to a name that
	// matches one and does not exist yet creates that data stream, as in
	// Elasticsearch; any other action to it is refused as a data stream
	// refuses it. Elasticsearch's built-in ones are
	// BuiltinDataStreamTemplates. Default none.
	DataStreamTemplates []string

	// Now is the clock for the capacity bucket and PerSecond. Default
	// time.Now.
	Now func() time.Time
}

// BuiltinDataStreamTemplates are the index patterns of Elasticsearch's
// built-in data stream templates.
var BuiltinDataStreamTemplates = []string{"logs-*-*", "metrics-*-*", "synthetics-*-*"}

// Mode is the server's behaviour at the HTTP level. The zero Mode is
// Healthy.
type Mode struct {
	kind  modeKind
	delay time.Duration
}

type modeKind uint8

const (
	modeHealthy modeKind = iota
	modeRefuse
	modeFail503
	modeFail429
	modeReset
	modeSlow
)

var (
	// Healthy serves every request.
	Healthy = Mode{kind: modeHealthy}
	// Refuse closes the listener and every open connection: connections
	// are refused until the mode changes.
	Refuse = Mode{kind: modeRefuse}
	// Fail503 answers every request with HTTP 503.
	Fail503 = Mode{kind: modeFail503}
	// Fail429 answers every request with HTTP 429.
	Fail429 = Mode{kind: modeFail429}
	// Reset reads the request, then resets the connection (TCP RST)
	// without answering.
	Reset = Mode{kind: modeReset}
)

// Slow serves every request normally after a delay of d.
func Slow(d time.Duration) Mode { return Mode{kind: modeSlow, delay: d} }

func (m Mode) String() string {
	switch m.kind {
	case modeHealthy:
		return "healthy"
	case modeRefuse:
		return "refuse"
	case modeFail503:
		return "fail503"
	case modeFail429:
		return "fail429"
	case modeReset:
		return "reset"
	case modeSlow:
		return "slow(" + m.delay.String() + ")"
	}
	return "mode(" + strconv.Itoa(int(m.kind)) + ")"
}

// Server is a fake Elasticsearch cluster. Create it with New, then Start
// it; Close must be called to release the listener.
type Server struct {
	opts Options
	now  func() time.Time
	mode atomic.Pointer[Mode]

	http      *loopback.Server
	modeMu    sync.Mutex // serialises SetMode
	closeOnce sync.Once
	closing   chan struct{} // closed by Close; ends Slow delays

	requests atomic.Int64

	mu         sync.Mutex         // guards everything below
	indices    map[string]*index  // concrete indices by name
	series     map[string]*series // aliases and data streams by name
	backingOf  map[string]string  // data stream of each backing index
	rng        *rand.Rand
	start      time.Time // of Start, for PerSecond
	tokens     float64
	lastRefill time.Time
	nextAutoID int64
	accepted   int64
	dups       int64
	rejected   map[int]int64
	perSecond  []int
}

type index struct {
	uuid  string
	seqNo int64
	docs  map[string]doc
}

type doc struct {
	src      []byte // nil with DiscardSources
	version  int64
	pipeline string // the ingest pipeline its last write named
}

// New returns a server configured by opts; call Start to listen.
func New(opts Options) *Server {
	if opts.MaxContentLength <= 0 {
		opts.MaxContentLength = 100 << 20
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(opts.Capacity))
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = Version
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		opts:      opts,
		now:       now,
		closing:   make(chan struct{}),
		indices:   make(map[string]*index),
		series:    make(map[string]*series),
		backingOf: make(map[string]string),
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		tokens:    float64(opts.Burst),
		rejected:  make(map[int]int64),
	}
	s.mode.Store(&Healthy)
	s.http = loopback.New("esfake", http.HandlerFunc(s.serveHTTP))
	return s
}

// Start listens on a free loopback port and serves in the background. It
// does not block.
func (s *Server) Start() error {
	s.mu.Lock()
	if s.start.IsZero() {
		s.start = s.now()
		s.lastRefill = s.start
	}
	s.mu.Unlock()
	return s.http.Start()
}

// URL is the server's base URL, e.g. "http://127.0.0.1:41234". It stays the
// same across Refuse and back.
func (s *Server) URL() string { return s.http.URL() }

// SetMode switches the server's behaviour; it takes effect for requests
// that arrive after it returns (a Slow request already waiting keeps its
// delay). Switching to Refuse stops listening and closes open connections;
// switching away from Refuse listens again on the same address, which
// fails only if another process took the port meanwhile.
func (s *Server) SetMode(m Mode) error {
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	if s.http.Closed() {
		return errors.New("esfake: server closed")
	}
	s.mode.Store(&m)
	return s.http.Refuse(m.kind == modeRefuse)
}

// Mode returns the current mode.
func (s *Server) Mode() Mode { return *s.mode.Load() }

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	return s.http.Close()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.opts.OmitProductHeader {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	isBulk := r.URL.Path == "/_bulk" || strings.HasSuffix(r.URL.Path, "/_bulk")
	if isBulk {
		s.requests.Add(1)
	}

	m := *s.mode.Load()
	switch m.kind {
	case modeSlow:
		t := time.NewTimer(m.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
	case modeReset:
		drain(r.Body)
		resetConn(w)
		return
	case modeFail503:
		drain(r.Body)
		s.retryAfter(w)
		writeError(w, http.StatusServiceUnavailable, "unavailable_shards_exception", "esfake: cluster unavailable (mode fail503)")
		return
	case modeFail429:
		drain(r.Body)
		s.retryAfter(w)
		writeError(w, http.StatusTooManyRequests, "es_rejected_execution_exception", "esfake: rejected execution (mode fail429)")
		return
	}

	compat, bad := s.checkCompatibility(r)
	if bad != "" {
		drain(r.Body)
		writeError(w, http.StatusBadRequest, "media_type_header_exception", bad)
		return
	}
	if compat != 0 {
		w = compatWriter{w, "application/vnd.elasticsearch+json;compatible-with=" + strconv.Itoa(compat)}
	}

	if !s.authorized(r) {
		drain(r.Body)
		w.Header().Set("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
		writeError(w, http.StatusUnauthorized, "security_exception",
			"missing authentication credentials for REST request ["+r.URL.RequestURI()+"]")
		return
	}

	var filter *filterpath.Filter
	if !s.opts.IgnoreFilterPath {
		f, err := filterpath.Parse(r.URL.Query().Get("filter_path"))
		if err != nil {
			drain(r.Body)
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "esfake: "+err.Error())
			return
		}
		filter = f
	}

	s.dispatch(w, r, isBulk, filter)
}

// dispatch serves an authenticated request by its path and method.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, isBulk bool, filter *filterpath.Filter) {
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if !s.allowCluster(monitorMain) {
			writeError(w, http.StatusForbidden, "security_exception", s.unauthorized(monitorMain, ""))
			return
		}
		s.serveInfo(w, filter)
	case r.URL.Path == "/_security/_authenticate" && r.Method == http.MethodGet:
		s.serveAuthenticate(w, r)
	case isBulk && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		idx := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/_bulk")
		if r.URL.Path == "/_bulk" {
			idx = ""
		}
		s.serveBulk(w, r, idx, filter)
	default:
		drain(r.Body)
		writeJSON(w, http.StatusBadRequest, []byte(`{"error":"no handler found for uri [`+
			jsonEscape(r.URL.Path)+`] and method [`+jsonEscape(r.Method)+`]"}`))
	}
}

func (s *Server) retryAfter(w http.ResponseWriter) {
	if s.opts.RetryAfter > 0 {
		secs := int64((s.opts.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.APIKey == "" && s.opts.Username == "" {
		return true
	}
	// Authentication schemes are case-insensitive (RFC 9110 11.1);
	// go-elasticsearch sends "APIKey <key>".
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if s.opts.APIKey != "" && strings.EqualFold(scheme, "ApiKey") && strings.TrimSpace(cred) == s.opts.APIKey {
		return true
	}
	if s.opts.Username != "" {
		if u, p, ok := r.BasicAuth(); ok && u == s.opts.Username && p == s.opts.Password {
			return true
		}
	}
	return false
}

func (s *Server) serveInfo(w http.ResponseWriter, filter *filterpath.Filter) {
	writeFiltered(w, filter, []byte(`{"name":"esfake","cluster_name":"esfake","cluster_uuid":"`+
		fakeUUID("cluster")+`","version":{"number":"`+jsonEscape(s.opts.ServerVersion)+`","build_flavor":"default",`+
		`"build_type":"docker","build_hash":"0000000000000000000000000000000000000000",`+
		`"build_date":"2024-08-05T10:05:34.233336849Z","build_snapshot":false,"lucene_version":"9.11.1",`+
		`"minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},`+
		`"tagline":"You Know, for Search"}`))
}

// writeError writes an Elasticsearch-style whole-request error.
func writeError(w http.ResponseWriter, status int, errType, reason string) {
	t, r := jsonEscape(errType), jsonEscape(reason)
	writeJSON(w, status, []byte(`{"error":{"root_cause":[{"type":"`+t+`","reason":"`+r+`"}],"type":"`+
		t+`","reason":"`+r+`"},"status":`+strconv.Itoa(status)+`}`))
}

// writeFiltered writes a successful (200) response, filtered by filter.
func writeFiltered(w http.ResponseWriter, filter *filterpath.Filter, body []byte) {
	if filter != nil {
		out, err := filter.Append(make([]byte, 0, len(body)/2), body)
		if err != nil { // the fake wrote invalid JSON: a bug here, not the client's
			writeError(w, http.StatusInternalServerError, "illegal_state_exception", "esfake: filter_path: "+err.Error())
			return
		}
		body = out
	}
	writeJSON(w, http.StatusOK, body)
}

// compatWriter answers with the versioned media type the request asked
// for instead of application/json.
type compatWriter struct {
	http.ResponseWriter
	mediaType string
}

func (c compatWriter) WriteHeader(status int) {
	if c.Header().Get("Content-Type") == "application/json" {
		c.Header().Set("Content-Type", c.mediaType)
	}
	c.ResponseWriter.WriteHeader(status)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

func drain(r io.Reader) { _, _ = io.Copy(io.Discard, r) }

// resetConn hijacks the connection and closes it with SO_LINGER 0, so the
// client sees a TCP reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// fakeUUID is a stable, ES-looking (22 chars of URL-safe base64) UUID.
func fakeUUID(seed string) string {
	var b [16]byte
	copy(b[:], seed)
	for i := range b {
		b[i] ^= byte(i*37 + len(seed))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Count returns the number of documents stored in all indices: every
// copy, so an _id held by two indices (an alias or data stream that rolled
// over, or two plain indices) counts twice. See DistinctIDs.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ix := range s.indices {
		n += len(ix.docs)
	}
	return n
}

// DistinctIDs returns the number of distinct _ids stored in all indices:
// Count minus the extra copies of an _id held by more than one index.
func (s *Server) DistinctIDs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idSet())
}

// Indices returns the names of the concrete indices that exist, sorted;
// backing indices of data streams included, aliases and data streams not.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.indices))
	for name := range s.indices {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Docs returns a copy of the documents of the concrete index indexName, by
// _id; for the name of an alias or data stream it returns none (use
// Documents, which sees every backing index). Sources are nil with
// Options.DiscardSources.
func (s *Server) Docs(indexName string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	if ix := s.indices[indexName]; ix != nil {
		for id, d := range ix.docs {
			out[id] = d.src
		}
	}
	return out
}

// Document is one stored document: its concrete index, _id, source (nil
// with Options.DiscardSources) and the ingest pipeline its last write
// named ("" for none). The fake runs no pipeline: it only records the
// name.
type Document struct {
	Index    string
	ID       string
	Source   []byte
	Pipeline string
}

// Documents returns every stored document of targets, sorted by index and
// _id, one entry per copy: an _id held by two indices appears twice. A
// target is resolved as a search resolves it: an alias or data stream to
// all its indices, a concrete index to itself, an unknown name to nothing.
// With no target it returns the documents of every index.
func (s *Server) Documents(targets ...string) []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if len(targets) == 0 {
		for name := range s.indices {
			names = append(names, name)
		}
	}
	for _, t := range targets {
		names = append(names, s.resolveSearch(t)...)
	}
	sort.Strings(names)
	names = slices.Compact(names)
	var out []Document
	for _, name := range names {
		first := len(out)
		for id, d := range s.indices[name].docs {
			out = append(out, Document{Index: name, ID: id, Source: d.src, Pipeline: d.pipeline})
		}
		slices.SortFunc(out[first:], func(a, b Document) int { return strings.Compare(a.ID, b.ID) })
	}
	return out
}

// All returns the documents of every index by _id. It merges copies: an
// _id present in two indices appears once, from either, so it cannot show
// a duplicate across indices; use Documents or Count for that. Sources are
// nil with Options.DiscardSources.
func (s *Server) All() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	for _, ix := range s.indices {
		for id, d := range ix.docs {
			out[id] = d.src
		}
	}
	return out
}

// IDs returns the distinct _ids of the stored documents, sorted: an _id
// held by two indices appears once.
func (s *Server) IDs() []string {
	s.mu.Lock()
	set := s.idSet()
	s.mu.Unlock()
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// idSet returns the distinct _ids of all indices. s.mu must be held.
func (s *Server) idSet() map[string]struct{} {
	set := make(map[string]struct{})
	for _, ix := range s.indices {
		for id := range ix.docs {
			set[id] = struct{}{}
		}
	}
	return set
}

// Version returns the stored version of a document of the concrete index
// indexName, 0 if absent.
func (s *Server) Version(indexName, id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[indexName]; ix != nil {
		return ix.docs[id].version
	}
	return 0
}

// Duplicates counts writes of an _id that already existed in the concrete
// index written to: create attempts answered 409 and index overwrites. A
// create that lands in a new write index after a rollover is not one: it
// is accepted and makes a second copy (Count minus DistinctIDs).
func (s *Server) Duplicates() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// Requests counts _bulk requests received, whatever their answer.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Accepted counts items answered with a 2xx status (created, updated,
// deleted).
func (s *Server) Accepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Rejected counts items answered with a non-2xx status, by status (409
// duplicates included).
func (s *Server) Rejected() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int64, len(s.rejected))
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

// PerSecond returns the number of accepted items in each second since
// Start: element i counts second [i, i+1).
func (s *Server) PerSecond() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.perSecond...)
}

// Reset forgets every index, alias, data stream, document and counter,
// keeping options and mode.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indices = make(map[string]*index)
	s.series = make(map[string]*series)
	s.backingOf = make(map[string]string)
	s.accepted, s.dups, s.nextAutoID = 0, 0, 0
	s.rejected = make(map[int]int64)
	s.perSecond = nil
	s.requests.Store(0)
}

// takeToken consumes one capacity token at t. s.mu must be held.
func (s *Server) takeToken(t time.Time) bool {
	if s.opts.Capacity <= 0 {
		return true
	}
	if el := t.Sub(s.lastRefill); el > 0 {
		s.tokens = min(float64(s.opts.Burst), s.tokens+el.Seconds()*s.opts.Capacity)
		s.lastRefill = t
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// countAccepted records one accepted item at t. s.mu must be held.
func (s *Server) countAccepted(t time.Time) {
	s.accepted++
	sec := max(0, int(t.Sub(s.start)/time.Second))
	for len(s.perSecond) <= sec {
		s.perSecond = append(s.perSecond, 0)
	}
	s.perSecond[sec]++
}

// ctxDone is a tiny helper so serveBulk can abandon work for a client that
// went away.
func ctxDone(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

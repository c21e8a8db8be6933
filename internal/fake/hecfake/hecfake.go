// Package hecfake is an in-process Splunk HTTP Event Collector for tests.
// It speaks the parts of HEC that siembridge uses, in Splunk's wire shape:
//
//   - POST /services/collector/event (and /services/collector): token
//     authentication ("Authorization: Splunk <token>"), a body of
//     concatenated JSON envelopes, optionally gzip-encoded, each validated
//     as HEC does; answers {"text":"Success","code":0} or a HEC error
//     ({"text":..,"code":N[,"invalid-event-number":i]}) with Splunk's HTTP
//     status for that code.
//   - Indexer acknowledgement (Options.Ack): the channel header is required
//     (code 10 without it), the answer carries an "ackId" numbered per
//     channel from 0, and POST /services/collector/ack answers
//     {"acks":{"<id>":true|false}} — true after Options.AckDelay, never
//     with Options.AckNever. As in Splunk, an ack reported true is
//     forgotten.
//   - POST /services/collector/raw: the same authentication; a data
//     channel is required whether or not ack is on (header or "channel"
//     query parameter; code 10 without it, 11 when it is not a GUID); the
//     metadata comes from the query parameters sourcetype, source, host and
//     index (checked against Options.Indexes: code 7); the body is broken
//     into events at line breaks, as Splunk's default LINE_BREAKER
//     ([\r\n]+) does for a sourcetype with SHOULD_LINEMERGE = false, and
//     blank lines are dropped; an empty body is code 5. Indexed fields do
//     not exist there (Splunk does not index fields sent to the raw
//     endpoint), so raw events carry no Fields and Count does not see
//     them. With ack the answer carries an ackId, as for events.
//   - Indexed fields ("fields"), as Splunk documents them: an object whose
//     values are strings or arrays of strings; anything else (a number, a
//     nested object, "fields" that is not an object) is 400 code 15 with
//     its invalid-event-number.
//   - GET /services/collector/health: 200 code 17, or 503 code 18 while
//     Busy.
//   - A load balancer with sticky sessions (Options.StickyCookie): every
//     answer sets the cookie, and an ack request without it reaches an
//     indexer that does not know the channel's acks.
//
// Fault modes (SetMode): Busy (503 code 9), Down (500 code 8), Refuse (the
// listener is closed: connection refused). RefuseAck makes only the ack
// endpoint answer an error while events are still accepted with an ackId.
// Options.InvalidAt makes chosen events invalid (400 code 6 with
// invalid-event-number).
//
// The server owns its listener (rather than wrapping httptest.Server) so
// that Refuse really stops listening and Healthy listens again on the same
// address. Handler serves the same API for a caller's own server (TLS).
//
// Events are stored in arrival order when a request is accepted; the
// oracle (Events, Count) is what Splunk would hold once indexed. A Server is
// safe for concurrent use.
package hecfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/internal/fake/loopback"
)

// HEC status codes and their texts, as Splunk answers them.
const (
	CodeSuccess         = 0
	CodeTokenDisabled   = 1
	CodeTokenRequired   = 2
	CodeInvalidAuth     = 3
	CodeInvalidToken    = 4
	CodeNoData          = 5
	CodeInvalidFormat   = 6
	CodeIncorrectIndex  = 7
	CodeInternalError   = 8
	CodeServerBusy      = 9
	CodeChannelMissing  = 10
	CodeInvalidChannel  = 11
	CodeEventRequired   = 12
	CodeEventBlank      = 13
	CodeAckDisabled     = 14
	CodeIndexedFields   = 15
	CodeQueryStringAuth = 16
	CodeHealthy         = 17
	CodeUnhealthy       = 18
)

var codeInfo = map[int]struct {
	status int
	text   string
}{
	CodeSuccess:         {200, "Success"},
	CodeTokenDisabled:   {403, "Token disabled"},
	CodeTokenRequired:   {401, "Token is required"},
	CodeInvalidAuth:     {401, "Invalid authorization"},
	CodeInvalidToken:    {403, "Invalid token"},
	CodeNoData:          {400, "No data"},
	CodeInvalidFormat:   {400, "Invalid data format"},
	CodeIncorrectIndex:  {400, "Incorrect index"},
	CodeInternalError:   {500, "Internal server error"},
	CodeServerBusy:      {503, "Server is busy"},
	CodeChannelMissing:  {400, "Data channel is missing"},
	CodeInvalidChannel:  {400, "Invalid data channel"},
	CodeEventRequired:   {400, "Event field is required"},
	CodeEventBlank:      {400, "Event field cannot be blank"},
	CodeAckDisabled:     {400, "ACK is disabled"},
	CodeIndexedFields:   {400, "Error in handling indexed fields"},
	CodeQueryStringAuth: {400, "Query string authorization is not enabled"},
	CodeHealthy:         {200, "HEC is healthy"},
	CodeUnhealthy:       {503, "HEC is unhealthy, queues are full"},
}

// Token is the default accepted token.
const Token = "00000000-0000-0000-0000-000000000000"

// Options configure a Server. The zero value is a healthy HEC accepting
// Token, without indexer acknowledgement.
type Options struct {
	// Token accepted as "Authorization: Splunk <Token>". Default Token.
	Token string
	// DisabledTokens are known but disabled: 403 code 1.
	DisabledTokens []string

	// Ack enables indexer acknowledgement for the token.
	Ack bool
	// AckDelay: an ack reads true this long after its request was
	// accepted. Default 0 (at the next poll).
	AckDelay time.Duration
	// AckNever: acks never read true (the events are stored all the same:
	// a lost acknowledgement).
	AckNever bool
	// StickyCookie puts the server behind a load balancer that keeps
	// sessions sticky with a cookie of this name (AWS ALB: "AWSALB"). Every
	// answer sets the cookie (Path=/). An ack request that does not carry
	// it is routed to another indexer, which knows nothing of the channel:
	// every ack reads false there, however long the client polls (the
	// events are stored all the same). Default "": no load balancer.
	StickyCookie string
	// StickyValue is the cookie's value: the indexer behind the load
	// balancer that holds the channels. Give two servers on one host
	// different values to catch a client that mixes their cookies (a
	// cookie ignores the port). Default "hecfake-indexer-1".
	StickyValue string

	// Indexes allowed for the token; empty allows any. An event naming
	// another index is refused with 400 code 7.
	Indexes []string

	// InvalidAt, when set, is called with each envelope that is otherwise
	// valid; true makes it invalid: 400 code 6 with its invalid-event-number.
	InvalidAt func(Event) bool
	// IndexBeforeInvalid stores the events of a request that come before
	// an invalid one. Whether Splunk does is not documented (it parses the
	// stream as it reads it); the default false refuses the request as a
	// whole. Set it to test the worst case for duplicates.
	IndexBeforeInvalid bool

	// MaxContentLength is the largest accepted body after decoding; larger
	// gets 413. Default 100MiB.
	MaxContentLength int64

	// Now is the clock for acks. Default time.Now.
	Now func() time.Time
}

// Event is one stored event.
type Event struct {
	// Time is the envelope's "time" as sent (epoch seconds text), "" if none.
	Time       string
	Host       string
	Source     string
	Sourcetype string
	Index      string
	// Event is the raw JSON of the envelope's "event"; nil for a raw
	// event.
	Event json.RawMessage
	// Raw is the line of an event sent to the raw endpoint, "" otherwise.
	Raw string
	// Fields are the indexed fields; an array value is joined with ",".
	Fields map[string]string
	// FieldValues are the indexed fields with every value of a
	// multi-value (array) field; a string is one value.
	FieldValues map[string][]string
	// Channel it arrived on, "" without ack (event endpoint).
	Channel string
}

// Mode is the server's behaviour at the HTTP level.
type Mode uint8

const (
	// Healthy serves every request.
	Healthy Mode = iota
	// Busy answers event requests 503 code 9 and health 503 code 18.
	Busy
	// Down answers every request 500 code 8.
	Down
	// Refuse closes the listener and every connection: connections are
	// refused until the mode changes.
	Refuse
)

func (m Mode) String() string {
	switch m {
	case Healthy:
		return "healthy"
	case Busy:
		return "busy"
	case Down:
		return "down"
	case Refuse:
		return "refuse"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Key is the Kafka coordinates carried in an event's indexed fields.
type Key struct {
	Topic     string
	Partition string
	Offset    string
}

// Server is a fake HEC. Create it with New, then Start it (or mount
// Handler); Close must be called to release the listener.
type Server struct {
	opts Options
	now  func() time.Time
	mode atomic.Uint32

	http   *loopback.Server
	modeMu sync.Mutex // serialises SetMode

	requests    atomic.Int64
	ackRequests atomic.Int64
	strayAcks   atomic.Int64 // ack requests without the sticky cookie
	ackRefusal  atomic.Int32 // HTTP status of RefuseAck, 0 when acks are served

	mu       sync.Mutex // guards everything below
	events   []Event
	byKey    map[Key]int
	channels map[string]*channel
}

type channel struct {
	next int64
	// pending ack ID → when it reads true
	pending map[int64]time.Time
}

// New returns a server configured by opts; call Start to listen.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = Token
	}
	if opts.MaxContentLength <= 0 {
		opts.MaxContentLength = 100 << 20
	}
	if opts.StickyValue == "" {
		opts.StickyValue = defaultStickyValue
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{opts: opts, now: now, byKey: make(map[Key]int), channels: make(map[string]*channel)}
	s.http = loopback.New("hecfake", s.Handler())
	return s
}

// Start listens on a free loopback port and serves in the background.
func (s *Server) Start() error { return s.http.Start() }

// URL is the base URL, e.g. "http://127.0.0.1:41234"; it stays the same
// across Refuse and back.
func (s *Server) URL() string { return s.http.URL() }

// SetMode switches the behaviour for requests that arrive after it
// returns. Switching to Refuse stops listening and closes open connections;
// switching away listens again on the same address.
func (s *Server) SetMode(m Mode) error {
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	if s.http.Closed() {
		return errors.New("hecfake: server closed")
	}
	s.mode.Store(uint32(m))
	return s.http.Refuse(m == Refuse)
}

// Mode returns the current mode.
func (s *Server) Mode() Mode { return Mode(s.mode.Load()) }

// RefuseAck makes POST /services/collector/ack answer status, for requests
// that arrive after it returns, while event requests are still accepted
// and answered with an ackId: a proxy or load balancer that does not pass
// /ack, or a token whose acknowledgement setting changed. Status 400
// answers code 14 "ACK is disabled", as Splunk does; any other status a
// plain-text body, as a proxy does. 0 serves acks again. Pending acks are
// kept. The mode (SetMode) takes precedence.
func (s *Server) RefuseAck(status int) { s.ackRefusal.Store(int32(status)) }

// defaultStickyValue is the default value of Options.StickyCookie.
const defaultStickyValue = "hecfake-indexer-1"

// Close stops the server; it is safe to call more than once.
func (s *Server) Close() error { return s.http.Close() }

// Events returns a copy of the stored events in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	copy(out, s.events)
	return out
}

// Len is the number of stored events.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Count is the number of stored events whose indexed fields kafka_topic,
// kafka_partition and kafka_offset are topic, partition and offset: 1 for
// an event delivered once, more for duplicates.
func (s *Server) Count(topic string, partition int32, offset int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[Key{topic, strconv.Itoa(int(partition)), strconv.FormatInt(offset, 10)}]
}

// Distinct is the number of different kafka_* indexed field triples among
// the stored events: the number of Kafka records in HEC, duplicates
// counted once. It is cheap enough to poll.
func (s *Server) Distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

// Counts returns the number of stored events per kafka_* indexed fields.
func (s *Server) Counts() map[Key]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Key]int, len(s.byKey))
	for k, v := range s.byKey {
		out[k] = v
	}
	return out
}

// Requests is the number of event requests received, whatever the answer
// (Refuse mode receives none).
func (s *Server) Requests() int64 { return s.requests.Load() }

// AckRequests is the number of ack polls received.
func (s *Server) AckRequests() int64 { return s.ackRequests.Load() }

// StrayAckRequests is the number of ack polls that arrived without the
// Options.StickyCookie cookie and so reached an indexer that does not know
// the channel (0 without StickyCookie).
func (s *Server) StrayAckRequests() int64 { return s.strayAcks.Load() }

// Handler serves the HEC API; Start uses it, and a test can mount it on
// its own (TLS) server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/collector/event", "/services/collector/event/1.0", "/services/collector",
		"/services/collector/raw", "/services/collector/raw/1.0":
		s.requests.Add(1)
	case "/services/collector/ack":
		s.ackRequests.Add(1)
	}
	if s.opts.StickyCookie != "" {
		// The load balancer (re)sets its cookie on every answer.
		http.SetCookie(w, &http.Cookie{Name: s.opts.StickyCookie, Value: s.opts.StickyValue, Path: "/"})
	}
	switch s.Mode() {
	case Down:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.opts.MaxContentLength))
		answer(w, CodeInternalError, nil)
		return
	case Busy:
		if r.URL.Path == "/services/collector/health" {
			answer(w, CodeUnhealthy, nil)
			return
		}
		if r.URL.Path != "/services/collector/ack" {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.opts.MaxContentLength))
			answer(w, CodeServerBusy, nil)
			return
		}
	}
	switch r.URL.Path {
	case "/services/collector/health", "/services/collector/health/1.0":
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		answer(w, CodeHealthy, nil)
	case "/services/collector/event", "/services/collector/event/1.0", "/services/collector":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.serveEvent(w, r)
	case "/services/collector/raw", "/services/collector/raw/1.0":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.serveRaw(w, r)
	case "/services/collector/ack":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.serveAck(w, r)
	default:
		http.NotFound(w, r)
	}
}

// answer writes a HEC answer with the HTTP status Splunk uses for code.
// extra members (ackId, invalid-event-number) are added when given.
func answer(w http.ResponseWriter, code int, extra map[string]any) {
	info := codeInfo[code]
	body := map[string]any{"text": info.text, "code": code}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(info.status)
	_, _ = w.Write(b) // the client may be gone; nothing to do
}

// authorize checks the token as HEC does; it answers and returns false when
// the request is refused.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.URL.Query().Get("token") != "" {
			answer(w, CodeQueryStringAuth, nil)
			return false
		}
		answer(w, CodeTokenRequired, nil)
		return false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Splunk") || tok == "" {
		answer(w, CodeInvalidAuth, nil)
		return false
	}
	for _, d := range s.opts.DisabledTokens {
		if tok == d {
			answer(w, CodeTokenDisabled, nil)
			return false
		}
	}
	if tok != s.opts.Token {
		answer(w, CodeInvalidToken, nil)
		return false
	}
	return true
}

// channelOf returns the request's data channel and whether it is usable;
// with ack on, or when required (the raw endpoint), it answers the error
// itself.
func (s *Server) channelOf(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if !s.opts.Ack && !required {
		return "", true // HEC ignores the channel when ack is off
	}
	if ch == "" {
		answer(w, CodeChannelMissing, nil)
		return "", false
	}
	if !isGUID(ch) {
		answer(w, CodeInvalidChannel, nil)
		return "", false
	}
	return ch, true
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// readBody reads the request body, gzip-decoded when so marked, up to
// MaxContentLength; it answers and returns false on failure.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, true
			}
			answer(w, CodeInvalidFormat, nil)
			return nil, false
		}
		defer zr.Close()
		rd = zr
	}
	body, err := io.ReadAll(io.LimitReader(rd, s.opts.MaxContentLength+1))
	if err != nil {
		answer(w, CodeInvalidFormat, nil)
		return nil, false
	}
	if int64(len(body)) > s.opts.MaxContentLength {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

func (s *Server) serveEvent(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r) {
		return
	}
	ch, ok := s.channelOf(w, r, false)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		answer(w, CodeNoData, nil)
		return
	}
	evs, code, bad := s.parse(body, ch)
	if code != CodeSuccess {
		if s.opts.IndexBeforeInvalid {
			s.store(evs)
		}
		answer(w, code, map[string]any{"invalid-event-number": bad})
		return
	}
	s.store(evs)
	s.accept(w, ch)
}

// accept answers success for stored events, with an ackId on ch when ack
// is on.
func (s *Server) accept(w http.ResponseWriter, ch string) {
	if !s.opts.Ack {
		answer(w, CodeSuccess, nil)
		return
	}
	s.mu.Lock()
	c := s.channels[ch]
	if c == nil {
		c = &channel{pending: make(map[int64]time.Time)}
		s.channels[ch] = c
	}
	id := c.next
	c.next++
	ready := s.now().Add(s.opts.AckDelay)
	if s.opts.AckNever {
		ready = time.Time{}
	}
	c.pending[id] = ready
	s.mu.Unlock()
	answer(w, CodeSuccess, map[string]any{"ackId": id})
}

// serveRaw takes a raw request: metadata from the query, one event per
// line (see the package doc).
func (s *Server) serveRaw(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r) {
		return
	}
	ch, ok := s.channelOf(w, r, true)
	if !ok {
		return
	}
	q := r.URL.Query()
	meta := Event{Channel: ch, Host: q.Get("host"), Source: q.Get("source"), Sourcetype: q.Get("sourcetype"), Index: q.Get("index")}
	if !s.indexAllowed(meta.Index) {
		answer(w, CodeIncorrectIndex, nil)
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var evs []Event
	for _, line := range bytes.FieldsFunc(body, func(c rune) bool { return c == '\r' || c == '\n' }) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue // Splunk drops a blank event
		}
		ev := meta
		ev.Raw = string(line)
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		answer(w, CodeNoData, nil)
		return
	}
	s.store(evs)
	s.accept(w, ch)
}

func (s *Server) indexAllowed(index string) bool {
	return index == "" || len(s.opts.Indexes) == 0 || slices.Contains(s.opts.Indexes, index)
}

// envelope is what HEC reads from each JSON object of the body.
type envelope struct {
	Time       json.RawMessage `json:"time"`
	Host       *string         `json:"host"`
	Source     *string         `json:"source"`
	Sourcetype *string         `json:"sourcetype"`
	Index      *string         `json:"index"`
	Event      json.RawMessage `json:"event"`
	Fields     json.RawMessage `json:"fields"`
}

// parse reads the concatenated envelopes of body. It returns the events
// before the first invalid one, and for that one the HEC code and its
// position; code is CodeSuccess when all are valid.
func (s *Server) parse(body []byte, ch string) (evs []Event, code, bad int) {
	dec := json.NewDecoder(bytes.NewReader(body))
	for i := 0; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return evs, CodeSuccess, 0
			}
			return evs, CodeInvalidFormat, i
		}
		ev, c := s.validate(raw, ch)
		if c != CodeSuccess {
			return evs, c, i
		}
		evs = append(evs, ev)
	}
}

func (s *Server) validate(raw json.RawMessage, ch string) (Event, int) {
	var env envelope
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return Event{}, CodeInvalidFormat
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return Event{}, CodeInvalidFormat
	}
	ev := Event{Channel: ch, Host: deref(env.Host), Source: deref(env.Source), Sourcetype: deref(env.Sourcetype), Index: deref(env.Index)}
	ev.Event = env.Event
	t := bytes.TrimSpace(env.Event)
	switch {
	case len(t) == 0 || string(t) == "null":
		return Event{}, CodeEventRequired
	case string(t) == `""`:
		return Event{}, CodeEventBlank
	}
	if len(env.Time) > 0 {
		tt := strings.Trim(string(env.Time), `"`)
		if _, err := strconv.ParseFloat(tt, 64); err != nil {
			return Event{}, CodeInvalidFormat
		}
		ev.Time = tt
	}
	if f := bytes.TrimSpace(env.Fields); len(f) > 0 && string(f) != "null" {
		var fields map[string]json.RawMessage
		if f[0] != '{' || json.Unmarshal(f, &fields) != nil {
			return Event{}, CodeIndexedFields
		}
		ev.Fields = make(map[string]string, len(fields))
		ev.FieldValues = make(map[string][]string, len(fields))
		for k, v := range fields {
			var str string
			if err := json.Unmarshal(v, &str); err == nil && bytes.TrimSpace(v)[0] == '"' {
				ev.Fields[k], ev.FieldValues[k] = str, []string{str}
				continue
			}
			var arr []string
			if t := bytes.TrimSpace(v); len(t) == 0 || t[0] != '[' || json.Unmarshal(v, &arr) != nil || arr == nil {
				return Event{}, CodeIndexedFields
			}
			ev.Fields[k], ev.FieldValues[k] = strings.Join(arr, ","), arr
		}
	}
	if !s.indexAllowed(ev.Index) {
		return Event{}, CodeIncorrectIndex
	}
	if s.opts.InvalidAt != nil && s.opts.InvalidAt(ev) {
		return Event{}, CodeInvalidFormat
	}
	return ev, CodeSuccess
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) store(evs []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.events = append(s.events, ev)
		if ev.Fields != nil {
			s.byKey[Key{ev.Fields["kafka_topic"], ev.Fields["kafka_partition"], ev.Fields["kafka_offset"]}]++
		}
	}
}

func (s *Server) serveAck(w http.ResponseWriter, r *http.Request) {
	if status := int(s.ackRefusal.Load()); status != 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.opts.MaxContentLength))
		if status == http.StatusBadRequest {
			answer(w, CodeAckDisabled, nil)
			return
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	if !s.authorize(w, r) {
		return
	}
	if !s.opts.Ack {
		answer(w, CodeAckDisabled, nil)
		return
	}
	ch, ok := s.channelOf(w, r, false)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Acks == nil {
		answer(w, CodeInvalidFormat, nil)
		return
	}
	now := s.now()
	res := make(map[string]bool, len(req.Acks))
	s.mu.Lock()
	c := s.channels[ch]
	if s.opts.StickyCookie != "" {
		if ck, err := r.Cookie(s.opts.StickyCookie); err != nil || ck.Value != s.opts.StickyValue {
			s.strayAcks.Add(1)
			c = nil // another indexer: it never saw this channel
		}
	}
	for _, id := range req.Acks {
		done := false
		if c != nil {
			if ready, ok := c.pending[id]; ok && !ready.IsZero() && !now.Before(ready) {
				done = true
				delete(c.pending, id) // Splunk forgets an ack once reported
			}
		}
		res[strconv.FormatInt(id, 10)] = done
	}
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{"acks": res})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b) // the client may be gone; nothing to do
}

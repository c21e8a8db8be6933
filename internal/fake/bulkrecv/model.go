package bulkrecv

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/clock"
	"github.com/siembridge/siembridge/internal/fake/loopback"
	"github.com/siembridge/siembridge/internal/text"
)

// ModelOptions shape a Model. The zero value is a cluster that answers at
// once and takes everything.
type ModelOptions struct {
	// Latency is added to every `_bulk` answer once its body was read and
	// parsed: the round trip to a far-away cluster. The answer waits on a
	// timer, holding no CPU, so any number of requests wait at once.
	Latency time.Duration
	// Capacity in documents per second; 0 is unlimited. Items above it are
	// answered 429 es_rejected_execution_exception inside a 200 response
	// ("errors":true), as a cluster whose write thread pool is full.
	Capacity float64
	// Burst is how many documents the cluster takes at once at Capacity:
	// the size of its token bucket, which starts full. Default (with a
	// Capacity) one second of Capacity.
	Burst int
	// Clock measures time for Capacity and Latency. Default clock.System.
	Clock clock.Clock
}

// Model is an http.Handler that answers `_bulk` and GET / as a cluster
// would, at a cluster's cost per document: unlike Receiver, it
// JSON-decodes every action line, checks every source line is JSON, and
// keeps every _id it indexed (per index) in a set, so that a second create
// of the same _id is answered 409 version_conflict_engine_exception, and
// index, update and delete see what is there. Items over Capacity are
// answered 429 and not indexed; a source that is not JSON gets 400
// document_parsing_exception. Every answer waits Latency.
//
// It is safe for concurrent use; create it with NewModel.
type Model struct {
	latency  time.Duration
	capacity float64
	burst    float64
	clk      clock.Clock

	bufs  sync.Pool // *buffers
	plans planCache
	ids   idSet

	bucketMu sync.Mutex
	tokens   float64
	last     time.Time // of the last refill; zero: the bucket is full

	requests, items, bytes               atomic.Int64
	created, conflicts, rejected, failed atomic.Int64
}

// ModelStats are a Model's totals since it was made or last Reset.
type ModelStats struct {
	Requests int64 `json:"requests"` // _bulk requests answered 200
	Items    int64 `json:"items"`    // items in them
	Bytes    int64 `json:"bytes"`    // request body bytes, uncompressed
	// Created counts documents indexed for the first time: the distinct
	// _ids delivered (a create or index of a new _id, or one without an
	// _id).
	Created int64 `json:"created"`
	// Conflicts counts items answered 409: creates of an _id it has.
	Conflicts int64 `json:"conflicts"`
	// Rejected counts items answered 429: above Capacity.
	Rejected int64 `json:"rejected"`
	// Failed counts items answered another error: a source that is not
	// JSON, no index, an update or delete of a missing document.
	Failed int64 `json:"failed"`
}

// NewModel returns a Model.
func NewModel(o ModelOptions) *Model {
	m := &Model{latency: max(0, o.Latency), capacity: max(0, o.Capacity), clk: o.Clock}
	if m.clk == nil {
		m.clk = clock.System{}
	}
	if m.capacity > 0 {
		m.burst = float64(o.Burst)
		if o.Burst <= 0 {
			m.burst = max(1, m.capacity)
		}
	}
	m.ids.init()
	return m
}

// Stats returns the totals so far. Safe for concurrent use.
func (m *Model) Stats() ModelStats {
	return ModelStats{
		Requests: m.requests.Load(), Items: m.items.Load(), Bytes: m.bytes.Load(),
		Created: m.created.Load(), Conflicts: m.conflicts.Load(), Rejected: m.rejected.Load(), Failed: m.failed.Load(),
	}
}

// Reset forgets every _id and zeroes the totals, and fills the token
// bucket. Requests being answered meanwhile may count on either side.
func (m *Model) Reset() {
	m.ids.reset()
	for _, c := range []*atomic.Int64{&m.requests, &m.items, &m.bytes, &m.created, &m.conflicts, &m.rejected, &m.failed} {
		c.Store(0)
	}
	m.bucketMu.Lock()
	m.last = time.Time{}
	m.bucketMu.Unlock()
}

// ServeHTTP implements http.Handler.
func (m *Model) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route(w, r, m.serveBulk)
}

// modelItem is one parsed item of a request.
type modelItem struct {
	action    int
	index, id string
	validDoc  bool // the source line is JSON (true for delete)
}

// actionLine is an action line decoded; exactly one field is set.
type actionLine struct {
	Create, Index, Update, Delete *actionMeta
}

type actionMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

func (m *Model) serveBulk(w http.ResponseWriter, r *http.Request, index string) {
	arrived := m.clk.Now()
	pl, err := m.plans.get(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "bulkrecv: "+err.Error())
		return
	}
	b := getBuffers(&m.bufs)
	defer putBuffers(&m.bufs, b)
	if !b.readBody(w, r) {
		return
	}
	var problem string
	b.items, problem = parseItems(b.items[:0], b.req, index)
	if problem != "" {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", problem)
		return
	}
	accepted := m.take(arrived, len(b.items))
	b.resp, b.scratch = m.answer(b.resp[:0], b.scratch, b.items, accepted, pl)
	m.requests.Add(1)
	m.items.Add(int64(len(b.items)))
	m.bytes.Add(int64(len(b.req)))
	if m.latency > 0 {
		c, stop := m.clk.NewTimer(m.latency)
		select {
		case <-c:
		case <-r.Context().Done():
			stop()
			return
		}
	}
	writeJSON(w, http.StatusOK, b.resp)
}

// parseItems decodes the action lines of body and checks each source line
// is JSON. A non-empty problem is a whole-request error.
func parseItems(dst []modelItem, body []byte, defaultIndex string) ([]modelItem, string) {
	for line := 1; len(body) > 0; line++ {
		nl := bytes.IndexByte(body, '\n')
		if nl < 0 {
			if len(bytes.TrimSpace(body)) == 0 {
				break
			}
			return dst, "The bulk request must be terminated by a newline [\\n]"
		}
		raw := body[:nl]
		body = body[nl+1:]
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var al actionLine
		if err := json.Unmarshal(raw, &al); err != nil {
			return dst, "Malformed action/metadata line [" + strconv.Itoa(line) + "], expected START_OBJECT or END_OBJECT"
		}
		it := modelItem{action: -1, validDoc: true}
		for a, meta := range [...]*actionMeta{al.Create, al.Index, al.Update, al.Delete} {
			if meta == nil {
				continue
			}
			if it.action >= 0 {
				return dst, "Malformed action/metadata line [" + strconv.Itoa(line) + "], expected one action"
			}
			it.action, it.index, it.id = a, meta.Index, meta.ID
		}
		if it.action < 0 {
			return dst, "Malformed action/metadata line [" + strconv.Itoa(line) + "], expected field [create], [delete], [index] or [update]"
		}
		if it.index == "" {
			it.index = defaultIndex
		}
		if it.action != actionDelete {
			nl = bytes.IndexByte(body, '\n')
			if nl < 0 {
				if len(bytes.TrimSpace(body)) == 0 {
					return dst, "Validation Failed: 1: no requests added;"
				}
				return dst, "The bulk request must be terminated by a newline [\\n]"
			}
			it.validDoc = json.Valid(body[:nl])
			body = body[nl+1:]
			line++
		}
		dst = append(dst, it)
	}
	if len(dst) == 0 {
		return dst, "Validation Failed: 1: no requests added;"
	}
	return dst, ""
}

// take takes up to n documents' tokens at now and returns how many it got.
func (m *Model) take(now time.Time, n int) int {
	if m.capacity <= 0 {
		return n
	}
	m.bucketMu.Lock()
	defer m.bucketMu.Unlock()
	switch {
	case m.last.IsZero():
		m.tokens = m.burst
		m.last = now
	case now.After(m.last):
		m.tokens = min(m.burst, m.tokens+now.Sub(m.last).Seconds()*m.capacity)
		m.last = now
	}
	k := min(n, int(m.tokens))
	m.tokens -= float64(k)
	return k
}

// answer applies the items, the first accepted of them within capacity,
// and appends the response as pl keeps it. scratch holds the quoted
// values; both are returned for reuse.
func (m *Model) answer(dst, scratch []byte, items []modelItem, accepted int, pl *plan) ([]byte, []byte) {
	dst = append(dst, pl.head...)
	errorsAt := -1
	if pl.errorsAt >= 0 {
		errorsAt = len(dst) - len(pl.head) + pl.errorsAt
	}
	hasErrors, written := false, 0
	var created, conflicts, rejected, failed int64
	for i := range items {
		it := &items[i]
		k := m.apply(it, i < accepted)
		switch k {
		case kindCreated:
			created++
		case kindConflict:
			conflicts++
		case kindRejected:
			rejected++
		case kindUpdated, kindDeleted:
		default:
			failed++
		}
		if k != kindCreated && k != kindUpdated && k != kindDeleted {
			hasErrors = true
		}
		scratch = scratch[:0]
		if it.index != "" {
			scratch = text.AppendJSONString(scratch, it.index)
		} else {
			scratch = append(scratch, "null"...)
		}
		n := len(scratch)
		if it.id != "" {
			scratch = text.AppendJSONString(scratch, it.id)
		} else {
			scratch = append(scratch, "null"...)
		}
		dst = pl.appendItem(dst, &written, variant(it.action, k), scratch[:n], scratch[n:], false, i)
	}
	m.created.Add(created)
	m.conflicts.Add(conflicts)
	m.rejected.Add(rejected)
	m.failed.Add(failed)
	if hasErrors && errorsAt >= 0 {
		copy(dst[errorsAt:], "true ") // as long as "false"
	}
	if written > 0 {
		dst = append(dst, ']')
	}
	return append(dst, '}'), scratch
}

// apply decides one item's outcome and records it in the _id set. ok
// reports whether the item is within capacity.
func (m *Model) apply(it *modelItem, ok bool) kind {
	switch {
	case it.index == "":
		return kindMissingIndex
	case !ok:
		return kindRejected
	case !it.validDoc:
		return kindInvalid
	}
	if it.id == "" {
		// The cluster makes an _id up: a new document, or an error.
		switch it.action {
		case actionCreate, actionIndex:
			it.id = "bulkrecv-" + strconv.FormatInt(m.ids.auto.Add(1), 36)
			m.ids.add(it.index, it.id)
			return kindCreated
		}
		return kindInvalid
	}
	switch it.action {
	case actionCreate:
		if m.ids.add(it.index, it.id) {
			return kindCreated
		}
		return kindConflict
	case actionIndex:
		if m.ids.add(it.index, it.id) {
			return kindCreated
		}
		return kindUpdated
	case actionUpdate:
		if m.ids.has(it.index, it.id) {
			return kindUpdated
		}
		return kindDocMissing
	}
	if m.ids.remove(it.index, it.id) {
		return kindDeleted
	}
	return kindNotFound
}

// idSet holds the _ids of each index, in shards to spread the locking.
type idSet struct {
	seed   maphash.Seed
	shards [64]idShard
	auto   atomic.Int64 // _ids made up
}

type idShard struct {
	mu  sync.Mutex
	ids map[string]struct{} // index + "\x00" + _id
	_   [40]byte            // keep shards on separate cache lines
}

func (s *idSet) init() {
	s.seed = maphash.MakeSeed()
	for i := range s.shards {
		s.shards[i].ids = make(map[string]struct{})
	}
}

func (s *idSet) reset() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.ids = make(map[string]struct{})
		sh.mu.Unlock()
	}
}

func (s *idSet) shard(key string) *idShard {
	return &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
}

// add reports whether the _id was new.
func (s *idSet) add(index, id string) bool {
	key := index + "\x00" + id
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.ids[key]; ok {
		return false
	}
	sh.ids[key] = struct{}{}
	return true
}

func (s *idSet) has(index, id string) bool {
	key := index + "\x00" + id
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.ids[key]
	return ok
}

func (s *idSet) remove(index, id string) bool {
	key := index + "\x00" + id
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.ids[key]
	delete(sh.ids, key)
	return ok
}

// ModelServer serves a Model on a loopback port that can be switched off
// (connections refused) and on again at the same address: an outage.
type ModelServer struct {
	*Model
	lb *loopback.Server

	mu     sync.Mutex
	outage func() bool // stops the pending end of an outage
	back   chan struct{}
	wg     sync.WaitGroup
}

// ListenModel starts a Model with o on a free loopback port and serves it
// in the background until Close.
func ListenModel(o ModelOptions) (*ModelServer, error) {
	m := NewModel(o)
	lb := loopback.New("bulkrecv", m)
	if err := lb.Start(); err != nil {
		return nil, err
	}
	return &ModelServer{Model: m, lb: lb}, nil
}

// URL is the base URL of the server, the same across outages.
func (s *ModelServer) URL() string { return s.lb.URL() }

// Refuse switches the server off (true: it stops listening and closes its
// connections, so connecting fails) or on again (false). It cancels a
// pending Outage's end.
func (s *ModelServer) Refuse(refuse bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelOutageLocked()
	return s.lb.Refuse(refuse)
}

// Outage switches the server off now and on again after d on the Model's
// clock, and returns at once. The channel is closed when the server is
// back (or the outage was ended by Refuse or Close).
func (s *ModelServer) Outage(d time.Duration) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelOutageLocked()
	if err := s.lb.Refuse(true); err != nil {
		return nil, err
	}
	c, stop := s.clk.NewTimer(d)
	cancel := make(chan struct{})
	back := make(chan struct{})
	var once sync.Once
	s.outage = func() bool { once.Do(func() { close(cancel) }); return stop() }
	s.back = back
	s.wg.Go(func() {
		defer close(back)
		select {
		case <-c:
		case <-cancel:
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.back == back {
			_ = s.lb.Refuse(false)
			s.outage, s.back = nil, nil
		}
	})
	return back, nil
}

// cancelOutageLocked ends a pending Outage without switching. mu is held.
func (s *ModelServer) cancelOutageLocked() {
	if s.outage != nil {
		s.outage()
		s.outage, s.back = nil, nil
	}
}

// Close stops the server, its connections and a pending outage's end.
func (s *ModelServer) Close() error {
	s.mu.Lock()
	s.cancelOutageLocked()
	err := s.lb.Close()
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Package bulkrecv receives Elasticsearch `_bulk` requests for benchmarks.
//
// Receiver is fast: it measures how many events per second an HTTP
// endpoint on this machine can take in, so that a bridge's throughput into
// it can be judged against that ceiling. Model (model.go) costs what a
// cluster costs per document and behaves like one where a bridge can tell:
// it decodes every line, keeps every _id, answers 409 for a create it has
// seen, answers after a latency, throttles items above a capacity with 429,
// and can refuse connections for an outage.
//
// Receiver parses no more than it must. For every action line it finds the
// action name and the raw "_index" and "_id" values, skips the source line
// that follows (every action but "delete" has one) without looking inside,
// and answers in Elasticsearch's shape:
//
//	{"took":0,"errors":false,"items":[{"create":{"_index":"i","_id":"x","_version":1,
//	  "result":"created","_shards":{"total":1,"successful":1,"failed":0},
//	  "_seq_no":0,"_primary_term":1,"status":201}},...]}
//
// It stores nothing, so every create succeeds. An action line without an
// index (none in the line or the URL) gets the item error Elasticsearch
// gives, and "errors" is then true. GET / answers the cluster information
// the official clients check; every response carries "X-Elastic-Product:
// Elasticsearch". Gzip request bodies are accepted.
//
// The filter_path query parameter is honoured with Elasticsearch's
// semantics (internal/filterpath), so that a client asking for less gets
// less to read, as from a real cluster; error responses are never
// filtered, as in Elasticsearch. The answer has a fixed shape, so what a
// filter keeps of it is decided once per filter_path (a plan, cached),
// not per item, and writing a filtered answer costs no more than writing
// the full one.
package bulkrecv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/siembridge/siembridge/internal/fake/filterpath"
)

// MaxContentLength is the largest request body accepted, as Elasticsearch's
// http.max_content_length (100mb by default).
const MaxContentLength = 100 << 20

// Version is the Elasticsearch version GET / reports.
const Version = "8.15.0"

// maxPooled: request and response buffers larger than this are not kept.
const maxPooled = 32 << 20

// Stats are the receiver's totals since it started.
type Stats struct {
	Requests int64 `json:"requests"` // _bulk requests answered 200
	Items    int64 `json:"items"`    // items in them
	Bytes    int64 `json:"bytes"`    // request body bytes, uncompressed
}

// Receiver is an http.Handler that answers `_bulk` and GET /. It is safe
// for concurrent use; the zero value is ready.
type Receiver struct {
	requests, items, bytes atomic.Int64
	bufs                   sync.Pool // *buffers
	plans                  planCache
}

// cachedPlan is the plan of one raw query string.
type cachedPlan struct {
	query string
	plan  *plan
}

type buffers struct {
	req, resp []byte
	gz        *gzip.Reader
	items     []modelItem // Model only
	scratch   []byte      // Model only: quoted _index and _id values
}

// Stats returns the totals so far.
func (rc *Receiver) Stats() Stats {
	return Stats{Requests: rc.requests.Load(), Items: rc.items.Load(), Bytes: rc.bytes.Load()}
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route(w, r, rc.serveBulk)
}

// route answers GET / and passes `_bulk` requests to bulk with the index
// named in the path ("" for /_bulk); anything else gets Elasticsearch's
// "no handler" error.
func route(w http.ResponseWriter, r *http.Request, bulk func(w http.ResponseWriter, r *http.Request, index string)) {
	h := w.Header()
	h.Set("X-Elastic-Product", "Elasticsearch")
	path := r.URL.Path
	switch {
	case path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		f, err := filterpath.Parse(r.URL.Query().Get("filter_path"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "bulkrecv: "+err.Error())
			return
		}
		body, err := f.Append(nil, infoBody)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "illegal_state_exception", "bulkrecv: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, body)
	case (path == "/_bulk" || strings.HasSuffix(path, "/_bulk")) && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		index := ""
		if path != "/_bulk" {
			index = strings.TrimSuffix(path[1:], "/_bulk")
		}
		bulk(w, r, index)
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		writeJSON(w, http.StatusBadRequest, []byte(`{"error":"no handler found for uri [`+
			jsonEscape(path)+`] and method [`+jsonEscape(r.Method)+`]"}`))
	}
}

var infoBody = []byte(`{"name":"bulkrecv","cluster_name":"bulkrecv","cluster_uuid":"YnVsa3JlY3YtY2x1c3Rlcg",` +
	`"version":{"number":"` + Version + `","build_flavor":"default","build_type":"docker",` +
	`"build_hash":"0000000000000000000000000000000000000000","build_date":"2024-08-05T10:05:34.233336849Z",` +
	`"build_snapshot":false,"lucene_version":"9.11.1","minimum_wire_compatibility_version":"7.17.0",` +
	`"minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`)

func (rc *Receiver) serveBulk(w http.ResponseWriter, r *http.Request, index string) {
	pl, err := rc.plans.get(r.URL.RawQuery)
	if err != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "bulkrecv: "+err.Error())
		return
	}
	b := getBuffers(&rc.bufs)
	defer putBuffers(&rc.bufs, b)
	if !b.readBody(w, r) {
		return
	}
	resp, items, _, rerr := appendResponse(b.resp[:0], b.req, index, pl)
	b.resp = resp
	if rerr != "" {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", rerr)
		return
	}
	rc.requests.Add(1)
	rc.items.Add(int64(items))
	rc.bytes.Add(int64(len(b.req)))
	writeJSON(w, http.StatusOK, b.resp)
}

func getBuffers(pool *sync.Pool) *buffers {
	if b, _ := pool.Get().(*buffers); b != nil {
		return b
	}
	return new(buffers)
}

// readBody reads the request body, gunzipped, into b.req. On failure it
// answers the error and returns false.
func (b *buffers) readBody(w http.ResponseWriter, r *http.Request) bool {
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		if b.gz == nil {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				writeError(w, http.StatusBadRequest, "parse_exception", "bad gzip body: "+err.Error())
				return false
			}
			b.gz = gz
		} else if err := b.gz.Reset(r.Body); err != nil {
			writeError(w, http.StatusBadRequest, "parse_exception", "bad gzip body: "+err.Error())
			return false
		}
		body = b.gz
	}
	if n := r.ContentLength; n > 0 && n <= MaxContentLength && cap(b.req) < int(n) && body == r.Body {
		b.req = make([]byte, 0, n+1)
	}
	var err error
	b.req, err = readAll(b.req[:0], body, MaxContentLength)
	if err != nil {
		var tooLarge *tooLargeError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "content_too_long_exception", err.Error())
			return false
		}
		writeError(w, http.StatusBadRequest, "parse_exception", "reading body: "+err.Error())
		return false
	}
	return true
}

func putBuffers(pool *sync.Pool, b *buffers) {
	if cap(b.req) > maxPooled {
		b.req = nil
	}
	if cap(b.resp) > maxPooled {
		b.resp = nil
	}
	if cap(b.items) > maxPooled/64 {
		b.items = nil
	}
	if cap(b.scratch) > maxPooled {
		b.scratch = nil
	}
	pool.Put(b)
}

// appendResponse walks an NDJSON bulk body and appends the response to dst,
// as pl keeps it. A non-empty problem is a whole-request error (a
// malformed body).
func appendResponse(dst, body []byte, defaultIndex string, pl *plan) (out []byte, items int, hasErrors bool, problem string) {
	dst = append(dst, pl.head...)
	errorsAt := -1
	if pl.errorsAt >= 0 {
		errorsAt = len(dst) - len(pl.head) + pl.errorsAt
	}
	var dflt []byte
	if defaultIndex != "" {
		dflt = []byte(jsonEscape(defaultIndex))
	}
	written := 0 // items written: a filter may leave some out
	for line := 0; len(body) > 0; line++ {
		nl := bytes.IndexByte(body, '\n')
		if nl < 0 {
			if len(bytes.TrimSpace(body)) == 0 {
				break
			}
			return dst, 0, false, "The bulk request must be terminated by a newline [\\n]"
		}
		action := body[:nl]
		body = body[nl+1:]
		if len(bytes.TrimSpace(action)) == 0 {
			continue
		}
		name, meta, ok := splitAction(action)
		if !ok {
			return dst, 0, false, "Malformed action/metadata line [" + strconv.Itoa(line+1) + "], expected START_OBJECT or END_OBJECT"
		}
		if string(name) != "delete" {
			// Skip the source line without reading it.
			nl = bytes.IndexByte(body, '\n')
			if nl < 0 {
				if len(bytes.TrimSpace(body)) == 0 {
					return dst, 0, false, "Validation Failed: 1: no requests added;"
				}
				return dst, 0, false, "The bulk request must be terminated by a newline [\\n]"
			}
			body = body[nl+1:]
			line++
		}
		items++
		idx := rawString(meta, `"_index"`)
		if idx == nil {
			idx = dflt
		}
		k := kindOK
		if idx == nil {
			hasErrors = true
			k = kindMissingIndex
		}
		dst = pl.appendItem(dst, &written, variant(actionOf(name), k), idx, rawString(meta, `"_id"`), true, items-1)
	}
	if items == 0 {
		return dst, 0, false, "Validation Failed: 1: no requests added;"
	}
	if hasErrors && errorsAt >= 0 {
		// "false" and "true " have the same length.
		copy(dst[errorsAt:], "true ")
	}
	if written > 0 {
		dst = append(dst, ']')
	}
	return append(dst, '}'), items, hasErrors, ""
}

// A plan is what one filter_path keeps of the answer, decided once: the
// start of the response up to the items, and for each kind of item the
// pieces to write, literal bytes and the item's own values between them.
type plan struct {
	head      []byte // {"took":0,"errors":false, or less
	errorsAt  int    // offset of "false" in head, -1 without "errors"
	itemsOpen []byte // ,"items":[ or "items":[ before the first item written
	items     [int(numKinds) * len(actions)]itemPlan
}

// itemPlan is the pieces of one kind of item; nil leaves the item out.
type itemPlan []part

type part struct {
	lit  []byte
	slot slot // written after lit
}

type slot uint8

const (
	slotNone  slot = iota
	slotIndex      // "_index" as a JSON string
	slotID         // "_id" as a JSON string, or null
	slotSeqNo      // the item's position
)

// actions are the bulk actions, in the order of actionOf.
var actions = [...]string{"create", "index", "update", "delete"}

const (
	actionCreate = iota
	actionIndex
	actionUpdate
	actionDelete
)

// actionOf returns the position in actions of a name splitAction accepted.
func actionOf(name []byte) int {
	switch string(name) {
	case "create":
		return actionCreate
	case "index":
		return actionIndex
	case "update":
		return actionUpdate
	}
	return actionDelete
}

// kind is the outcome an item reports.
type kind uint8

const (
	// kindOK is the Receiver's answer, which stores nothing: create and
	// index 201 created, update 200 updated, delete 404 not_found.
	kindOK kind = iota
	// kindMissingIndex: an action line without an index (none in the
	// URL either), 400.
	kindMissingIndex
	// The Model's answers, which track _ids.
	kindCreated    // 201 created
	kindUpdated    // 200 updated: index or update of a document it has
	kindDeleted    // 200 deleted
	kindNotFound   // 404 not_found: delete of a document it does not have
	kindDocMissing // 404 document_missing_exception: update of one it does not have
	kindConflict   // 409 version_conflict_engine_exception: create of one it has
	kindRejected   // 429 es_rejected_execution_exception: above capacity
	kindInvalid    // 400 document_parsing_exception: the source is not JSON
	numKinds
)

// variant is the index into plan.items of an action's item of kind k.
func variant(action int, k kind) int { return int(k)*len(actions) + action }

// field is one member of an item: a constant JSON value, or a slot.
type field struct {
	name  string
	value string
	slot  slot
}

// itemFields lists the members of the item answering action with kind k,
// in the order Elasticsearch writes them.
func itemFields(action string, k kind) []field {
	failure := func(status, errType, reason string) []field {
		return []field{
			{name: "_index", slot: slotIndex},
			{name: "_id", slot: slotID},
			{name: "status", value: status},
			{name: "error", value: `{"type":"` + errType + `","reason":"` + reason + `"}`},
		}
	}
	version, result, status := "1", `"created"`, "201"
	switch k {
	case kindMissingIndex:
		return []field{
			{name: "_index", value: "null"},
			{name: "_id", slot: slotID},
			{name: "status", value: "400"},
			{name: "error", value: `{"type":"action_request_validation_exception","reason":"Validation Failed: 1: index is missing;"}`},
		}
	case kindDocMissing:
		return failure("404", "document_missing_exception", "document missing")
	case kindConflict:
		return failure("409", "version_conflict_engine_exception", "version conflict, document already exists (current version [1])")
	case kindRejected:
		return failure("429", "es_rejected_execution_exception", "rejected execution of primary operation [bulkrecv: above capacity]")
	case kindInvalid:
		return failure("400", "document_parsing_exception", "[1:1] failed to parse: the source is not valid JSON")
	case kindOK:
		switch action {
		case "delete":
			result, status = `"not_found"`, "404"
		case "update":
			result, status = `"updated"`, "200"
		}
	case kindUpdated:
		version, result, status = "2", `"updated"`, "200"
	case kindDeleted:
		version, result, status = "2", `"deleted"`, "200"
	case kindNotFound:
		result, status = `"not_found"`, "404"
	}
	return []field{
		{name: "_index", slot: slotIndex},
		{name: "_id", slot: slotID},
		{name: "_version", value: version},
		{name: "result", value: result},
		{name: "_shards", value: `{"total":1,"successful":1,"failed":0}`},
		{name: "_seq_no", slot: slotSeqNo},
		{name: "_primary_term", value: "1"},
		{name: "status", value: status},
	}
}

// appendItem appends item v as the plan keeps it, with a separator
// after the first one written (counted in *written). With raw, idx and id
// are a JSON string's contents (id nil: null); otherwise they are whole
// JSON values.
func (pl *plan) appendItem(dst []byte, written *int, v int, idx, id []byte, raw bool, seq int) []byte {
	ip := pl.items[v]
	if ip == nil {
		return dst
	}
	if *written == 0 {
		dst = append(dst, pl.itemsOpen...)
	} else {
		dst = append(dst, ',')
	}
	*written++
	for k := range ip {
		pt := &ip[k]
		dst = append(dst, pt.lit...)
		switch {
		case pt.slot == slotSeqNo:
			dst = strconv.AppendInt(dst, int64(seq), 10)
		case pt.slot == slotIndex && raw:
			dst = append(append(append(dst, '"'), idx...), '"')
		case pt.slot == slotIndex:
			dst = append(dst, idx...)
		case pt.slot == slotID && raw:
			dst = appendQuotedRaw(dst, id)
		case pt.slot == slotID:
			dst = append(dst, id...)
		}
	}
	return dst
}

// compile decides what f keeps of the answer. A nil f keeps everything.
func compile(f *filterpath.Filter) (*plan, error) {
	root := f.Root()
	p := &plan{errorsAt: -1}
	p.head = append(p.head, '{')
	if m, _ := root.Field("took"); m == filterpath.All {
		p.head = append(p.head, `"took":0`...)
	}
	if m, _ := root.Field("errors"); m == filterpath.All {
		if len(p.head) > 1 {
			p.head = append(p.head, ',')
		}
		p.head = append(p.head, `"errors":`...)
		p.errorsAt = len(p.head)
		p.head = append(p.head, "false"...)
	}
	if len(p.head) > 1 {
		p.itemsOpen = append(p.itemsOpen, ',')
	}
	p.itemsOpen = append(p.itemsOpen, `"items":[`...)
	mItems, itemsLevel := root.Field("items")
	if mItems == filterpath.None {
		return p, nil
	}
	for v := range p.items {
		action, k := actions[v%len(actions)], kind(v/len(actions))
		// Arrays are transparent: an item is matched at the level of
		// "items", its action's object below it.
		all, level := mItems == filterpath.All, filterpath.Level{}
		if !all {
			m, l := itemsLevel.Field(action)
			if m == filterpath.None {
				continue
			}
			all, level = m == filterpath.All, l
		}
		var ip itemPlan
		lit := []byte(`{"` + action + `":{`)
		kept := 0
		for _, fd := range itemFields(action, k) {
			value := []byte(fd.value)
			if !all {
				m, l := level.Field(fd.name)
				switch {
				case m == filterpath.None:
					continue
				case m == filterpath.Partial && fd.slot != slotNone:
					continue // a scalar on a path that goes on below it
				case m == filterpath.Partial:
					var ok bool
					var err error
					if value, ok, err = l.Append(nil, value); err != nil {
						return nil, fmt.Errorf("bulkrecv: %s: %w", fd.name, err)
					} else if !ok {
						continue
					}
				}
			}
			if kept > 0 {
				lit = append(lit, ',')
			}
			kept++
			lit = append(append(append(lit, '"'), fd.name...), `":`...)
			if fd.slot == slotNone {
				lit = append(lit, value...)
				continue
			}
			ip = append(ip, part{lit: lit, slot: fd.slot})
			lit = nil
		}
		if kept == 0 {
			continue
		}
		p.items[v] = append(ip, part{lit: append(lit, "}}"...)})
	}
	return p, nil
}

// fullPlan keeps everything: the plan of a request without filter_path.
var fullPlan = sync.OnceValues(func() (*plan, error) { return compile(nil) })

// planCache keeps the plan of the last query string seen (a client sends
// the same query every time). The zero value is ready.
type planCache struct{ last atomic.Pointer[cachedPlan] }

// get returns the plan of a request's raw query string.
func (c *planCache) get(rawQuery string) (*plan, error) {
	if rawQuery == "" {
		return fullPlan()
	}
	if cp := c.last.Load(); cp != nil && cp.query == rawQuery {
		return cp.plan, nil
	}
	q, _ := url.ParseQuery(rawQuery) // as http.Request.URL.Query: bad pairs are dropped
	f, err := filterpath.Parse(q.Get("filter_path"))
	if err != nil {
		return nil, err
	}
	p, err := compile(f)
	if err != nil {
		return nil, err
	}
	c.last.Store(&cachedPlan{query: rawQuery, plan: p})
	return p, nil
}

// splitAction returns the action name of {"<name>":{...}} and the bytes
// after it (the metadata object and the closing brace).
func splitAction(line []byte) (name, meta []byte, ok bool) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, nil, false
	}
	i = skipSpace(line, i+1)
	if i >= len(line) || line[i] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(line[i+1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	name = line[i+1 : i+1+end]
	switch string(name) {
	case "create", "index", "update", "delete":
	default:
		return nil, nil, false
	}
	return name, line[i+2+end:], true
}

// rawString returns the raw (still escaped) contents of the string value
// of key in meta, or nil. Keys are matched literally, which is all a
// client's metadata line needs.
func rawString(meta []byte, key string) []byte {
	k := bytes.Index(meta, []byte(key))
	if k < 0 {
		return nil
	}
	i := skipSpace(meta, k+len(key))
	if i >= len(meta) || meta[i] != ':' {
		return nil
	}
	i = skipSpace(meta, i+1)
	if i >= len(meta) || meta[i] != '"' {
		return nil
	}
	start := i + 1
	for j := start; j < len(meta); j++ {
		switch meta[j] {
		case '\\':
			j++
		case '"':
			return meta[start:j]
		}
	}
	return nil
}

func appendQuotedRaw(dst, raw []byte) []byte {
	if raw == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = append(dst, raw...)
	return append(dst, '"')
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

type tooLargeError struct{ limit int }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes", e.limit)
}

// readAll appends r to dst, at most limit bytes.
func readAll(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, &tooLargeError{limit}
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, errType, reason string) {
	t, r := jsonEscape(errType), jsonEscape(reason)
	writeJSON(w, status, []byte(`{"error":{"root_cause":[{"type":"`+t+`","reason":"`+r+`"}],"type":"`+
		t+`","reason":"`+r+`"},"status":`+strconv.Itoa(status)+`}`))
}

// jsonEscape returns s escaped for use inside a JSON string; invalid UTF-8
// becomes U+FFFD.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Server serves a Receiver on a listener.
type Server struct {
	*Receiver
	srv *http.Server
	ln  net.Listener
}

// Listen starts a Receiver on addr (such as "127.0.0.1:0") and serves it in
// the background until Close.
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Receiver: new(Receiver), ln: ln}
	s.srv = &http.Server{Handler: s.Receiver, MaxHeaderBytes: 64 << 10}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the base URL of the server.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server and closes its connections.
func (s *Server) Close() error { return s.srv.Close() }

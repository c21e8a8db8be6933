package esfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/siembridge/siembridge/internal/fake/filterpath"
)

// op is one parsed action of a bulk request.
type op struct {
	action   string // create, index, update, delete
	index    string
	id       string
	source   []byte // nil for delete; aliases the request body
	pipeline string // the action's ingest pipeline, "" for none
	lineNo   int    // 1-based line of the action, for error messages
	badIndex string // reason the index name is invalid, "" if valid
}

type meta struct {
	Index    string `json:"_index"`
	ID       string `json:"_id"`
	Pipeline string `json:"pipeline"`
}

// bulkRequestError is a whole-request 400.
type bulkRequestError struct{ errType, reason string }

func (e *bulkRequestError) Error() string { return e.errType + ": " + e.reason }

// serveBulk answers a _bulk request; filter is its filter_path, nil for
// none.
func (s *Server) serveBulk(w http.ResponseWriter, r *http.Request, pathIndex string, filter *filterpath.Filter) {
	started := time.Now()
	body, status, err := s.readBody(r)
	if err != nil {
		if status == http.StatusRequestEntityTooLarge {
			writeError(w, status, "content_too_long_exception", err.Error())
		} else {
			writeError(w, status, "parse_exception", err.Error())
		}
		return
	}
	ops, err := parseBulk(body, pathIndex)
	if err != nil {
		var re *bulkRequestError
		if errors.As(err, &re) {
			writeError(w, http.StatusBadRequest, re.errType, re.reason)
		} else {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		}
		return
	}
	if ctxDone(r.Context()) {
		return // the client gave up before we applied anything
	}

	items := make([]item, len(ops))
	hasErrors := false
	s.mu.Lock()
	now := s.now()
	for i := range ops {
		items[i] = s.apply(&ops[i], now)
		if items[i].errType != "" { // like ES: a delete of a missing doc (404 not_found) is no error
			hasErrors = true
		}
	}
	s.mu.Unlock()

	out := make([]byte, 0, 64+len(items)*200)
	out = append(out, `{"took":`...)
	out = strconv.AppendInt(out, time.Since(started).Milliseconds(), 10)
	out = append(out, `,"errors":`...)
	out = strconv.AppendBool(out, hasErrors)
	out = append(out, `,"items":[`...)
	for i := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = items[i].appendJSON(out)
	}
	out = append(out, "]}"...)
	// The full response, then filtered: the same path as Elasticsearch,
	// whose filter sits between the response and its bytes.
	writeFiltered(w, filter, out)
}

// readBody reads the request body, gunzipping it when the request says so,
// and enforces MaxContentLength. On error it returns the HTTP status.
func (s *Server) readBody(r *http.Request) ([]byte, int, error) {
	limit := s.opts.MaxContentLength
	if r.ContentLength > limit {
		drain(r.Body)
		return nil, http.StatusRequestEntityTooLarge, tooLong(r.ContentLength, limit)
	}
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			drain(r.Body)
			return nil, http.StatusBadRequest, fmt.Errorf("bad gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	if err != nil {
		drain(r.Body)
		return nil, http.StatusBadRequest, fmt.Errorf("reading body: %w", err)
	}
	if n > limit {
		drain(r.Body)
		return nil, http.StatusRequestEntityTooLarge, tooLong(n, limit)
	}
	return buf.Bytes(), 0, nil
}

func tooLong(n, limit int64) error {
	return fmt.Errorf("request content length [%d] exceeds http.max_content_length [%d]", n, limit)
}

// parseBulk splits an NDJSON bulk body into operations. Like Elasticsearch
// it requires the body to end with a newline, rejects malformed action
// lines for the whole request and leaves source validation to each item.
func parseBulk(body []byte, pathIndex string) ([]op, error) {
	if len(body) == 0 {
		return nil, &bulkRequestError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	if body[len(body)-1] != '\n' {
		return nil, &bulkRequestError{"illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"}
	}
	var ops []op
	line := 0
	next := func() ([]byte, bool) {
		for len(body) > 0 {
			i := bytes.IndexByte(body, '\n')
			l := body[:i]
			body = body[i+1:]
			line++
			if len(bytes.TrimSpace(l)) > 0 {
				return l, true
			}
		}
		return nil, false
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		o, err := parseAction(l, line, pathIndex)
		if err != nil {
			return nil, err
		}
		if o.action != "delete" {
			src, ok := next()
			if !ok {
				return nil, &bulkRequestError{"illegal_argument_exception",
					fmt.Sprintf("Malformed action/metadata line [%d], expected a source line after it", o.lineNo)}
			}
			o.source = src
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, &bulkRequestError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	return ops, nil
}

func parseAction(l []byte, line int, pathIndex string) (op, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(l, &m); err != nil || len(m) != 1 {
		return op{}, &bulkRequestError{"x_content_parse_exception",
			fmt.Sprintf("[%d:1] Malformed action/metadata line [%d], expected a simple value for field [_index] but found [START_OBJECT]", line, line)}
	}
	o := op{lineNo: line}
	var raw json.RawMessage
	for k, v := range m {
		o.action, raw = k, v
	}
	switch o.action {
	case "create", "index", "update", "delete":
	default:
		return op{}, &bulkRequestError{"illegal_argument_exception",
			fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", line, o.action)}
	}
	var md meta
	if err := json.Unmarshal(raw, &md); err != nil {
		return op{}, &bulkRequestError{"x_content_parse_exception",
			fmt.Sprintf("[%d:1] Malformed action/metadata line [%d]: %v", line, line, err)}
	}
	o.index, o.id, o.pipeline = md.Index, md.ID, md.Pipeline
	if o.index == "" {
		o.index = pathIndex
	}
	if o.index == "" {
		return op{}, &bulkRequestError{"action_request_validation_exception", "Validation Failed: 1: index is missing;"}
	}
	if o.id == "" && (o.action == "update" || o.action == "delete") {
		return op{}, &bulkRequestError{"action_request_validation_exception", "Validation Failed: 1: id is missing;"}
	}
	o.badIndex = validateIndexName(o.index)
	return o, nil
}

// validateIndexName applies Elasticsearch's index name rules and returns
// why name is invalid, or "".
func validateIndexName(name string) string {
	switch {
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	case name == "." || name == "..":
		return "must not be '.' or '..'"
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}

// item is one entry of a bulk response.
type item struct {
	action      string
	index       string
	indexUUID   string
	id          string
	version     int64
	result      string
	seqNo       int64
	status      int
	errType     string
	errReason   string
	withShard   bool // error carries index_uuid/shard/index like engine errors
	hasMetadata bool // successful write: _version, _shards, _seq_no...
}

// failure is an item's error: its HTTP status, error type and reason.
type failure struct {
	status  int
	errType string
	reason  string
	// withShard: the error carries index_uuid, shard and index, like
	// Elasticsearch's engine errors (version conflict, document missing).
	withShard bool
}

// target is where an admitted operation lands: its concrete index and the
// document already stored there under the operation's _id.
type target struct {
	name       string // the concrete index
	dataStream bool   // the index backs a data stream: documents need @timestamp
	ix         *index // nil until the first write creates the index
	existing   doc
	exists     bool
}

// apply executes one operation against the store. s.mu must be held.
//
// The operation's index may name an alias or a data stream: it is resolved
// to the concrete index it writes to, which the item reports as _index
// (as Elasticsearch does), and an existing _id is looked up in that index
// only.
func (s *Server) apply(o *op, now time.Time) item {
	it := item{action: o.action, index: o.index, id: s.assignID(o)}
	if o.badIndex == "" {
		if f := s.authorizeWrite(o); f != nil {
			return s.fail(it, f)
		}
		s.autoCreateDataStream(o)
	}
	t, f := s.resolve(o)
	if f != nil {
		return s.fail(it, f)
	}
	it.index = t.name
	if f := s.throttle(now); f != nil {
		return s.fail(it, f)
	}
	if t.ix != nil {
		it.indexUUID = t.ix.uuid
	} else {
		it.indexUUID = fakeUUID(t.name)
	}

	var src []byte
	switch o.action {
	case "create", "index":
		src, f = s.writeSource(o, t)
	case "update":
		src, f = s.updateSource(o, t)
	case "delete":
		return s.applyDelete(it, t, now)
	}
	if f != nil {
		return s.fail(it, f)
	}
	return s.store(it, t, src, o.pipeline, now)
}

// autoCreateDataStream creates the data stream o addresses when it does
// not exist yet and its name matches Options.DataStreamTemplates, as an
// index template with data streams enabled does. s.mu must be held.
func (s *Server) autoCreateDataStream(o *op) {
	if o.action == "delete" || s.indices[o.index] != nil || s.series[o.index] != nil || strings.HasPrefix(o.index, ".ds-") {
		return
	}
	for _, pattern := range s.opts.DataStreamTemplates {
		if ok, err := path.Match(pattern, o.index); ok && err == nil {
			first := s.backingName(o.index, 1)
			s.ensureIndex(first)
			s.series[o.index] = &series{dataStream: true, indices: []string{first}}
			s.backingOf[first] = o.index
			return
		}
	}
}

// assignID gives a create, index or update without an _id an automatic one,
// like Elasticsearch, and returns the operation's _id. s.mu must be held.
func (s *Server) assignID(o *op) string {
	if o.action != "delete" && o.id == "" {
		s.nextAutoID++
		o.id = fmt.Sprintf("esfake%014d", s.nextAutoID)
	}
	return o.id
}

// fail completes it as refused by f and counts the rejection. s.mu must
// be held.
func (s *Server) fail(it item, f *failure) item {
	it.status, it.errType, it.errReason = f.status, f.errType, f.reason
	it.withShard = f.withShard
	s.rejected[f.status]++
	return it
}

// resolve checks the operation's index name and resolves it to the
// concrete index it writes to, with the document already stored there
// under the operation's _id. s.mu must be held.
func (s *Server) resolve(o *op) (target, *failure) {
	if o.badIndex != "" {
		return target{}, &failure{status: http.StatusBadRequest, errType: "invalid_index_name_exception",
			reason: "Invalid index name [" + o.index + "], " + o.badIndex}
	}
	concrete, dataStream, st, errType, reason := s.resolveWrite(o.index, o.action)
	if st != 0 {
		return target{}, &failure{status: st, errType: errType, reason: reason}
	}
	t := target{name: concrete, dataStream: dataStream, ix: s.indices[concrete]}
	if t.ix != nil {
		t.existing, t.exists = t.ix.docs[o.id]
	}
	return t, nil
}

// throttle refuses the item with a 429 when Options.Item429Rate injects
// one or the SIEM is over capacity; otherwise it takes a capacity token.
// It does not block. s.mu must be held.
func (s *Server) throttle(now time.Time) *failure {
	if s.opts.Item429Rate > 0 && s.rng.Float64() < s.opts.Item429Rate {
		return &failure{status: http.StatusTooManyRequests, errType: "es_rejected_execution_exception",
			reason: rejectedExecution("injected")}
	}
	if !s.takeToken(now) {
		return &failure{status: http.StatusTooManyRequests, errType: "es_rejected_execution_exception",
			reason: rejectedExecution("capacity")}
	}
	return nil
}

// writeSource checks the source of a create or index and returns the
// document to store: a valid JSON object, with @timestamp in a data
// stream, accepted by Options.RejectIf, and for a create an _id not yet
// taken (a conflict counts as a duplicate). s.mu must be held.
func (s *Server) writeSource(o *op, t target) ([]byte, *failure) {
	if reason := checkSource(o.source); reason != "" {
		return nil, &failure{status: http.StatusBadRequest, errType: "document_parsing_exception", reason: reason}
	}
	if t.dataStream && !hasTimestamp(o.source) {
		return nil, &failure{status: http.StatusBadRequest, errType: "document_parsing_exception",
			reason: "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing"}
	}
	if s.opts.RejectIf != nil {
		if st, errType, reason := s.opts.RejectIf(o.source); st != 0 {
			return nil, &failure{status: st, errType: errType, reason: reason}
		}
	}
	if o.action == "create" && t.exists {
		s.dups++
		return nil, &failure{status: http.StatusConflict, errType: "version_conflict_engine_exception", withShard: true,
			reason: fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", o.id, t.existing.version)}
	}
	return o.source, nil
}

// updateSource returns the document an update leaves: the stored one
// merged with "doc", or for a missing document "doc" (doc_as_upsert) or
// "upsert". s.mu must be held.
func (s *Server) updateSource(o *op, t target) ([]byte, *failure) {
	var u struct {
		Doc         json.RawMessage `json:"doc"`
		DocAsUpsert bool            `json:"doc_as_upsert"`
		Upsert      json.RawMessage `json:"upsert"`
	}
	if err := json.Unmarshal(o.source, &u); err != nil {
		return nil, &failure{status: http.StatusBadRequest, errType: "x_content_parse_exception",
			reason: "[1:1] failed to parse update request: " + err.Error()}
	}
	var src []byte
	switch {
	case t.exists && len(u.Doc) > 0:
		merged, err := mergeDoc(t.existing.src, u.Doc, s.opts.DiscardSources)
		if err != nil {
			return nil, &failure{status: http.StatusBadRequest, errType: "document_parsing_exception",
				reason: "[1:1] failed to parse: " + err.Error()}
		}
		src = merged
	case t.exists:
		return nil, &failure{status: http.StatusBadRequest, errType: "action_request_validation_exception",
			reason: "Validation Failed: 1: script or doc is missing;"}
	case u.DocAsUpsert && len(u.Doc) > 0:
		src = u.Doc
	case len(u.Upsert) > 0:
		src = u.Upsert
	default:
		return nil, &failure{status: http.StatusNotFound, errType: "document_missing_exception", withShard: true,
			reason: "[" + o.id + "]: document missing"}
	}
	if reason := checkSource(src); reason != "" {
		return nil, &failure{status: http.StatusBadRequest, errType: "document_parsing_exception", reason: reason}
	}
	return src, nil
}

// applyDelete removes the target document and completes it; deleting a
// missing document answers 404 not_found, which like Elasticsearch is no
// item error. s.mu must be held.
func (s *Server) applyDelete(it item, t target, now time.Time) item {
	it.hasMetadata = true
	if !t.exists {
		it.status, it.result, it.version = http.StatusNotFound, "not_found", 1
		if t.ix != nil {
			it.seqNo = t.ix.seqNo
			t.ix.seqNo++
		}
		return it
	}
	delete(t.ix.docs, it.id)
	it.status, it.result, it.version = http.StatusOK, "deleted", t.existing.version+1
	it.seqNo = t.ix.seqNo
	t.ix.seqNo++
	s.countAccepted(now)
	return it
}

// store writes src under it.id in the target index, creating the index on
// its first write, and completes it as created or updated (an index over
// an existing _id counts as a duplicate). s.mu must be held.
func (s *Server) store(it item, t target, src []byte, pipeline string, now time.Time) item {
	ix := t.ix
	if ix == nil {
		ix = s.ensureIndex(t.name)
	}
	var stored []byte
	if !s.opts.DiscardSources {
		stored = bytes.Clone(src) // never keep the request body alive
	}
	d := doc{src: stored, version: 1, pipeline: pipeline}
	it.status, it.result = http.StatusCreated, "created"
	if t.exists {
		d.version = t.existing.version + 1
		it.status, it.result = http.StatusOK, "updated"
		if it.action == "index" {
			s.dups++
		}
	}
	ix.docs[it.id] = d
	it.version = d.version
	it.hasMetadata = true
	it.seqNo = ix.seqNo
	ix.seqNo++
	s.countAccepted(now)
	return it
}

func rejectedExecution(why string) string {
	return "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, " +
		"all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0] (esfake: " + why + ")"
}

// checkSource returns why src is not an indexable document, or "".
func checkSource(src []byte) string {
	t := bytes.TrimSpace(src)
	if !json.Valid(t) {
		var v any
		err := json.Unmarshal(t, &v)
		msg := "unexpected end of input"
		if err != nil {
			msg = err.Error()
		}
		return "[1:1] failed to parse: " + msg
	}
	if len(t) == 0 || t[0] != '{' {
		return "[1:1] failed to parse: root value of a document must be an object"
	}
	return ""
}

// hasTimestamp reports whether the document src (valid JSON) has a
// top-level "@timestamp" that is not null. Elasticsearch also checks that
// it parses as a date; the fake does not.
func hasTimestamp(src []byte) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(src, &m); err != nil {
		return false
	}
	v, ok := m["@timestamp"]
	return ok && string(v) != "null"
}

// mergeDoc applies a partial update (top-level keys of patch) to src.
func mergeDoc(src, patch []byte, discard bool) ([]byte, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	if discard {
		return patch, nil
	}
	m := map[string]json.RawMessage{}
	if len(src) > 0 {
		if err := json.Unmarshal(src, &m); err != nil {
			return nil, err
		}
	}
	for k, v := range p {
		m[k] = v
	}
	return json.Marshal(m)
}

// appendJSON writes the item in Elasticsearch 8's bulk response shape.
func (it *item) appendJSON(b []byte) []byte {
	b = append(b, `{"`...)
	b = append(b, it.action...)
	b = append(b, `":{"_index":`...)
	b = appendString(b, it.index)
	b = append(b, `,"_id":`...)
	b = appendString(b, it.id)
	if it.hasMetadata {
		b = append(b, `,"_version":`...)
		b = strconv.AppendInt(b, it.version, 10)
		b = append(b, `,"result":`...)
		b = appendString(b, it.result)
		b = append(b, `,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":`...)
		b = strconv.AppendInt(b, it.seqNo, 10)
		b = append(b, `,"_primary_term":1`...)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(it.status), 10)
	if it.errType != "" {
		b = append(b, `,"error":{"type":`...)
		b = appendString(b, it.errType)
		b = append(b, `,"reason":`...)
		b = appendString(b, it.errReason)
		if it.withShard {
			b = append(b, `,"index_uuid":`...)
			b = appendString(b, it.indexUUID)
			b = append(b, `,"shard":"0","index":`...)
			b = appendString(b, it.index)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// appendString appends s as a JSON string literal without allocating.
// Invalid UTF-8 is kept as is: the fake echoes what it was sent.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// jsonEscape returns s escaped for use inside a JSON string literal.
func jsonEscape(s string) string {
	q := appendString(nil, s)
	return string(q[1 : len(q)-1])
}

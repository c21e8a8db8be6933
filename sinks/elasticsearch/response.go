package elasticsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/siembridge/siembridge/internal/text"
)

// A small, allocation-free reader for _bulk responses.
//
// encoding/json would allocate per item (1000 items per batch, several
// strings each) and a bulk answer has a fixed, simple shape, so this walks
// the bytes once and keeps only what classification needs: the "errors"
// flag and, per item, the action, status and error type and reason, as
// slices of the response body. It is lenient about what it skips but never
// reads out of bounds; FuzzParseBulkResponse checks that it never panics.
//
// Send asks for a filtered response (bulkFilterPath), so what normally
// arrives is
//
//	{"errors":false,"items":[{"create":{"status":201}},...]}
//
// but the reader takes the full response too, for a proxy or server that
// ignores filter_path.

// bulkItem is one item of a bulk response. The byte slices alias the
// response body and are only valid while it is.
type bulkItem struct {
	action    []byte // "create", "index", ...
	status    int    // 0 when absent
	errType   []byte // raw (still escaped) JSON string contents
	errReason []byte // raw (still escaped) JSON string contents
}

var errMalformed = errors.New("malformed bulk response")

// maxDepth bounds nesting while skipping values, so hostile input cannot
// make us spin on deeply nested containers for long (skipping is iterative,
// so this is about sanity, not the stack).
const maxDepth = 1000

// parseBulkResponse reads a bulk response body, filtered or not. It
// appends the items to items[:0] and returns them with the "errors" flag.
// When "errors" is false and precedes "items" (as Elasticsearch writes
// it), items are only counted, not decoded: their entries are zero.
func parseBulkResponse(data []byte, items []bulkItem) (hasErrors bool, out []bulkItem, err error) {
	p := parser{b: data}
	return p.response(items)
}

// response is parseBulkResponse on p.b.
func (p *parser) response(items []bulkItem) (hasErrors bool, out []bulkItem, err error) {
	out = items[:0]
	if !p.consume('{') {
		return false, out, errMalformed
	}
	errorsSeen, itemsSeen := false, false
	if p.consume('}') {
		return false, out, errors.New("bulk response without items")
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return false, out, errMalformed
		}
		switch string(key) { // no allocation: the compiler optimises this conversion
		case "errors":
			v, ok := p.boolean()
			if !ok {
				return false, out, errMalformed
			}
			hasErrors, errorsSeen = v, true
		case "items":
			if itemsSeen {
				return false, out, errors.New("bulk response with two item lists")
			}
			itemsSeen = true
			countOnly := errorsSeen && !hasErrors
			if out, ok = p.items(out, countOnly); !ok {
				return false, out, errMalformed
			}
		default:
			if !p.skip() {
				return false, out, errMalformed
			}
		}
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			break
		}
		return false, out, errMalformed
	}
	if !errorsSeen || !itemsSeen {
		return false, out, errors.New("bulk response without errors or items")
	}
	return hasErrors, out, nil
}

type parser struct {
	b []byte
	i int
	// exact turns off the count-only shortcuts, so that tests can hold
	// them to the item-by-item reading.
	exact bool
	// counted records how "items" was read when only counted, for tests.
	counted countPath
}

type countPath uint8

const (
	countedNone     countPath = iota // decoded, or skipped item by item
	countedFiltered                  // countFiltered: each item checked
	countedStatuses                  // the "status" key count of a full response
)

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, if c is next.
func (p *parser) consume(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// str reads a string and returns its raw contents between the quotes.
// It jumps from quote to quote with bytes.IndexByte (vectorised): a
// response is mostly strings, and this is most of the cost of reading one.
func (p *parser) str() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	for {
		k := bytes.IndexByte(p.b[p.i:], '"')
		if k < 0 {
			p.i = len(p.b)
			return nil, false
		}
		end := p.i + k
		// The quote is escaped when an odd number of backslashes precede
		// it within the string.
		n := 0
		for j := end - 1; j >= start && p.b[j] == '\\'; j-- {
			n++
		}
		p.i = end + 1
		if n%2 == 0 {
			return p.b[start:end], true
		}
	}
}

func (p *parser) boolean() (bool, bool) {
	p.ws()
	if p.i >= len(p.b) {
		return false, false
	}
	rest := p.b[p.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		p.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

// integer reads a non-negative integer of at most 9 digits (a status).
func (p *parser) integer() (int, bool) {
	p.ws()
	n, start := 0, p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start >= 9 {
			return 0, false
		}
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
	}
	return n, p.i > start
}

// skip skips one value of any kind.
func (p *parser) skip() bool {
	switch p.peek() {
	case '"':
		_, ok := p.str()
		return ok
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				if _, ok := p.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
				if depth > maxDepth {
					return false
				}
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return true
				}
			}
			p.i++
		}
		return false
	case 0:
		return false
	default: // number, true, false, null
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p.i > start
			case '{', '[', '"', ':':
				return false
			}
			p.i++
		}
		return p.i > start
	}
}

// statusKey marks one item of a bulk response.
var statusKey = []byte(`"status":`)

// items reads the "items" array.
func (p *parser) items(out []bulkItem, countOnly bool) ([]bulkItem, bool) {
	if countOnly && !p.exact {
		// "errors":false, filtered: every item is {"<action>":{"status":N}}.
		out, shape := p.countFiltered(out)
		if shape == filteredShape {
			p.counted = countedFiltered
			return out, true
		}
		// "errors":false, not filtered: every item is a success made of
		// fixed fields (_index, _id, _version, result, _shards, _seq_no,
		// status), so when "items" closes the response, counting "status"
		// keys counts the items without tokenising each one. Not for a
		// response that starts filtered and then changes shape: that is
		// read item by item below.
		rest := bytes.TrimRight(p.b[p.i:], " \t\r\n")
		if shape == otherShape && len(rest) >= 3 && rest[0] == '[' && bytes.HasSuffix(rest, []byte("]}")) &&
			bytes.IndexByte(rest, '\\') < 0 && !bytes.Contains(rest, []byte(`"items"`)) {
			p.counted = countedStatuses
			p.i += len(rest) - 1 // at the closing '}'
			return appendZero(out, bytes.Count(rest, statusKey)), true
		}
	}
	if !p.consume('[') {
		return out, false
	}
	if p.consume(']') {
		return out, true
	}
	for {
		if countOnly {
			if p.peek() != '{' || !p.skip() {
				return out, false
			}
			out = append(out, bulkItem{})
		} else {
			it, ok := p.item()
			if !ok {
				return out, false
			}
			out = append(out, it)
		}
		if p.consume(',') {
			continue
		}
		return out, p.consume(']')
	}
}

// itemsShape is what countFiltered found.
type itemsShape uint8

const (
	filteredShape itemsShape = iota // every item {"<action>":{"status":N}}: counted
	otherShape                      // not so from the first item (or no items)
	brokenShape                     // filtered items, then something else
)

// countFiltered counts the items of a success response filtered down to
// {"<action>":{"status":N}} each, the shape bulkFilterPath gives them.
// Every item is checked in full, but an item that is byte for byte the
// one before it (in a batch of one action, nearly all are) costs one
// comparison, without tokenising. Unless the shape is filteredShape, p is
// left where it was, for the caller to read the items another way.
func (p *parser) countFiltered(out []bulkItem) ([]bulkItem, itemsShape) {
	start := p.i
	if !p.consume('[') || p.peek() == ']' {
		p.i = start
		return out, otherShape
	}
	var prev []byte // the last item read in full
	n := 0
	for {
		// The common case: the same item again, then a comma.
		if k := len(prev); k > 0 && len(p.b)-p.i > k && p.b[p.i+k] == ',' && string(p.b[p.i:p.i+k]) == string(prev) {
			p.i += k + 1
			n++
			continue
		}
		p.ws()
		if k := len(prev); k > 0 && len(p.b)-p.i > k && string(p.b[p.i:p.i+k]) == string(prev) {
			p.i += k
		} else {
			itemStart := p.i
			if !p.statusOnlyItem() {
				p.i = start
				if n == 0 {
					return out, otherShape
				}
				return out, brokenShape
			}
			prev = p.b[itemStart:p.i]
		}
		n++
		if p.consume(',') {
			continue
		}
		if p.consume(']') {
			return appendZero(out, n), filteredShape
		}
		p.i = start
		return out, brokenShape
	}
}

// statusOnlyItem reads {"<action>":{"status":N}}.
func (p *parser) statusOnlyItem() bool {
	if !p.consume('{') {
		return false
	}
	if _, ok := p.str(); !ok || !p.consume(':') || !p.consume('{') {
		return false
	}
	if key, ok := p.str(); !ok || string(key) != "status" || !p.consume(':') {
		return false
	}
	if _, ok := p.integer(); !ok {
		return false
	}
	return p.consume('}') && p.consume('}')
}

// appendZero appends n zero items to out.
func appendZero(out []bulkItem, n int) []bulkItem {
	l := len(out)
	out = slices.Grow(out, n)[:l+n]
	clear(out[l:])
	return out
}

// item reads {"<action>":{..."status":N,"error":{"type":..,"reason":..}}}.
func (p *parser) item() (bulkItem, bool) {
	var it bulkItem
	if !p.consume('{') {
		return it, false
	}
	action, ok := p.str()
	if !ok || !p.consume(':') || !p.consume('{') {
		return it, false
	}
	it.action = action
	if !p.consume('}') {
		for {
			key, ok := p.str()
			if !ok || !p.consume(':') {
				return it, false
			}
			switch string(key) {
			case "status":
				if it.status, ok = p.integer(); !ok {
					return it, false
				}
			case "error":
				if !p.itemError(&it) {
					return it, false
				}
			default:
				if !p.skip() {
					return it, false
				}
			}
			if p.consume(',') {
				continue
			}
			if p.consume('}') {
				break
			}
			return it, false
		}
	}
	// An item has one key; tolerate (skip) any others.
	for p.consume(',') {
		if _, ok := p.str(); !ok || !p.consume(':') || !p.skip() {
			return it, false
		}
	}
	return it, p.consume('}')
}

// itemError reads an item's "error": normally an object with type and
// reason, but a bare string is accepted as the reason.
func (p *parser) itemError(it *bulkItem) bool {
	switch p.peek() {
	case '"':
		r, ok := p.str()
		it.errReason = r
		return ok
	case '{':
	default:
		return p.skip()
	}
	p.consume('{')
	if p.consume('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return false
		}
		switch {
		case string(key) == "type" && p.peek() == '"':
			it.errType, ok = p.str()
		case string(key) == "reason" && p.peek() == '"':
			it.errReason, ok = p.str()
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
		if p.consume(',') {
			continue
		}
		return p.consume('}')
	}
}

// maxReason bounds the reasons we keep: they travel in dead-letter headers
// and logs.
const maxReason = 512

// unquote turns raw JSON string contents into text, bounded to max bytes
// at a rune boundary. It allocates; call it on the error path only.
func unquote(raw []byte, max int) string {
	if len(raw) > 4*max { // bound the work before decoding
		raw = raw[:4*max]
		for len(raw) > 0 && raw[len(raw)-1] == '\\' {
			raw = raw[:len(raw)-1]
		}
	}
	s := string(raw)
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var u string
	if err := json.Unmarshal(quoted, &u); err == nil {
		s = u
	}
	return text.Truncate(s, max)
}

// describeErrorBody summarises a whole-request error from Elasticsearch,
// {"error":{"type":..,"reason":..},"status":N} or {"error":"text"}, or any
// other body, in at most maxReason bytes.
func describeErrorBody(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 {
		if len(body) == 0 {
			return ""
		}
		return text.Truncate(string(body), maxReason)
	}
	var obj struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(e.Error, &obj) == nil && obj.Type != "" {
		return text.Truncate(obj.Type+": "+obj.Reason, maxReason)
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil {
		return text.Truncate(s, maxReason)
	}
	return text.Truncate(string(e.Error), maxReason)
}

package event

import (
	"bytes"

	"github.com/siembridge/siembridge/internal/text"
)

// Header is one Kafka record header.
type Header struct {
	Key, Value []byte
}

// AddHeaders puts the record's headers into the event's document, so that
// every sink sends them (as an Elasticsearch field, inside a HEC event, in
// a syslog JSON message): Doc becomes a new object whose first key is field
// and whose value maps each header key to its value as a string; a key that
// occurs more than once maps to the list of its values, in record order.
// A null value is an empty string. Keys and values that are not valid
// UTF-8 have each bad byte replaced by U+FFFD.
//
// Nothing changes when headers is empty, when Doc does not start with '{',
// or when Doc already has a value at field (nested or dotted: the
// document's own field wins). It must be called by whoever made e, before
// e is shared (see Event); it keeps e.Unchecked as it is, since it
// inserts a well-formed member after the opening brace without reading
// the rest.
func (e *Event) AddHeaders(field string, headers []Header) {
	if len(headers) == 0 || field == "" {
		return
	}
	if _, exists := FieldJSON(e.Doc, field); exists {
		return
	}
	doc, ok := AppendHeaders(make([]byte, 0, len(e.Doc)+len(field)+64*len(headers)), e.Doc, field, headers)
	if ok {
		e.Doc = doc
	}
}

// AppendHeaders appends doc to dst with a member field → headers object
// inserted as its first key (see Event.AddHeaders) and reports whether it
// did: false, with dst unchanged, when doc, after leading white space, does
// not start with '{'.
func AppendHeaders(dst, doc []byte, field string, headers []Header) ([]byte, bool) {
	start := 0
	for start < len(doc) && (doc[start] == ' ' || doc[start] == '\t' || doc[start] == '\n' || doc[start] == '\r') {
		start++
	}
	if start >= len(doc) || doc[start] != '{' {
		return dst, false
	}
	// Group the values by key, keys in order of first occurrence: linear
	// in the headers, however many a hostile record carries.
	order := make([]string, 0, len(headers))
	values := make(map[string][][]byte, len(headers))
	for _, h := range headers {
		k := string(h.Key)
		if _, seen := values[k]; !seen {
			order = append(order, k)
		}
		values[k] = append(values[k], h.Value)
	}
	dst = append(dst, '{')
	dst = text.AppendJSONString(dst, field)
	dst = append(dst, ':', '{')
	for i, k := range order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = text.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendHeaderValues(dst, values[k])
	}
	dst = append(dst, '}')
	rest := doc[start+1:]
	if r := bytes.TrimLeft(rest, " \t\r\n"); len(r) == 0 || r[0] != '}' {
		dst = append(dst, ',') // the object has members of its own
	}
	return append(dst, rest...), true
}

// appendHeaderValues writes a key's values: a string for one, a list for
// several.
func appendHeaderValues(dst []byte, vs [][]byte) []byte {
	if len(vs) == 1 {
		return text.AppendJSONString(dst, vs[0])
	}
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = text.AppendJSONString(dst, v)
	}
	return append(dst, ']')
}

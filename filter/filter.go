// Package filter decides which events a route delivers (routes[].filter).
// The bridge applies a route's filter once, before rate limiting and
// sending; an event it does not accept counts as done for offsets, costs no
// rate budget and reaches no sink.
//
// Today a filter is one field test: the field exists and, when a list of
// values is given, equals one of them. A later version replaces it with an
// expression language; New and Accepts are the whole API, so that callers
// do not change then.
package filter

import (
	"errors"
	"slices"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

// Filter is a compiled routes[].filter. It is immutable and safe for
// concurrent use. A nil *Filter accepts every event.
type Filter struct {
	field  string
	equals []string // empty: the field only has to exist
}

// New compiles c. It fails when c.Field is empty (config.Validate reports
// that as routes[N].filter.field first). A nil c means no filter: New
// returns a nil *Filter, which accepts everything.
func New(c *config.Filter) (*Filter, error) {
	if c == nil {
		return nil, nil
	}
	if c.Field == "" {
		return nil, errors.New("filter: field is required")
	}
	return &Filter{field: c.Field, equals: slices.Clone(c.Equals)}, nil
}

// Accepts reports whether e is to be delivered: its Doc has the field (a
// JSON null counts as absent) and, when Equals was given, the field's value
// as text (a string unquoted and unescaped, a number or a boolean as
// written, an object or array as its raw JSON) equals one of them exactly.
// The field is a dotted path as event.Field reads it: "host.name" finds
// {"host":{"name":"x"}} and {"host.name":"x"}.
//
// A record that was not a JSON object is filtered by its wrapping document
// (event.Wrap: message, event.original, kafka.topic, ...). e's Doc must be
// checked JSON (not e.Unchecked): on malformed JSON the answer is
// unspecified, though Accepts never panics. It does not block and is safe
// for concurrent use.
func (f *Filter) Accepts(e *event.Event) bool {
	if f == nil {
		return true
	}
	v, ok := event.Field(e.Doc, f.field)
	if !ok {
		return false
	}
	return len(f.equals) == 0 || slices.Contains(f.equals, v)
}

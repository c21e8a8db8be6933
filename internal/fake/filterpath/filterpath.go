// Package filterpath implements Elasticsearch's response filtering, the
// filter_path query parameter, for the fakes that stand in for
// Elasticsearch (internal/esfake, internal/bulkrecv).
//
// The semantics are those of Elasticsearch's FilterPath and
// FilterPathBasedFilter (libs/x-content) driving Jackson's filtering
// generator:
//
//   - The value is a comma-separated list of paths; white space around a
//     path is trimmed and empty paths are ignored. A value with no path
//     filters nothing.
//   - A path is a list of field names separated by dots; `\.` is a literal
//     dot in a name. A name may hold `*` wildcards, each matching any run of
//     characters (`*` alone matches any name, `host*` any name starting with
//     "host"). A `**` segment matches one or more levels of objects.
//   - A field whose name ends a path is kept whole. A field that a path only
//     passes through keeps the parts of its value that the rest of the path
//     matches: arrays are transparent (their elements are matched at the
//     array's own level), and scalars are dropped.
//   - An object or array left with nothing matched is dropped, key included;
//     the root object is always written, so a body where nothing matches is
//     {}.
//   - Key order and the raw text of kept values are preserved.
//
// Elasticsearch does not filter error responses (AbstractRestChannel
// builds them with filtering disabled), so callers apply a Filter to
// successful responses only.
//
// Exclusion paths ("-path") are not supported: Parse rejects them rather
// than answer in a shape Elasticsearch would not.
package filterpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Filter is a compiled filter_path. A nil *Filter keeps everything. A
// Filter is immutable and safe for concurrent use.
type Filter struct {
	root *node
	src  string
}

// node is one segment of the compiled path tree, as Elasticsearch's
// FilterPath: children with a literal name are looked up by name, those
// with a '*' are glob-matched.
type node struct {
	pattern string
	final   bool // a path ends here: a matching field is kept whole
	double  bool // pattern is "**": it also matches at every deeper level
	terms   map[string]*node
	globs   []*node
}

// maxPaths and maxPathLen bound what Parse compiles, so a hostile query
// string cannot build a huge tree. Elasticsearch has no such limits, but
// no real request comes near them.
const (
	maxPaths   = 1024
	maxPathLen = 4096
)

// Parse compiles the value of a filter_path parameter. A value without any
// path returns a nil *Filter and no error: nothing is filtered.
func Parse(value string) (*Filter, error) {
	root := &buildNode{}
	n := 0
	for _, p := range strings.Split(value, ",") {
		p = trim(p)
		if p == "" {
			continue
		}
		if p[0] == '-' {
			return nil, fmt.Errorf("filter_path %q: exclusion paths are not supported", p)
		}
		if len(p) > maxPathLen {
			return nil, fmt.Errorf("filter_path: a path is longer than %d bytes", maxPathLen)
		}
		if n++; n > maxPaths {
			return nil, fmt.Errorf("filter_path: more than %d paths", maxPaths)
		}
		root.insert(p)
	}
	if n == 0 {
		return nil, nil
	}
	return &Filter{root: root.build(""), src: value}, nil
}

// String returns the value the Filter was parsed from.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// trim removes leading and trailing characters up to U+0020, as Java's
// String.trim, which Elasticsearch applies to each path.
func trim(s string) string {
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// buildNode is the mutable tree Parse builds before compiling it.
type buildNode struct {
	final    bool
	children map[string]*buildNode
}

// insert adds one path below n, as FilterPathBuilder.insertNode: the first
// unescaped dot after the first character splits off a field name, and a
// path that ends at a field makes that field final (kept whole), whatever
// longer paths through it say.
func (n *buildNode) insert(path string) {
	split, escapes := -1, false
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			split = i
			break
		}
		if path[i] == '\\' && i+1 < len(path) && path[i+1] == '.' {
			i++
			escapes = true
		}
	}
	if n.children == nil {
		n.children = make(map[string]*buildNode)
	}
	if split > 0 {
		field := path[:split]
		if escapes {
			field = strings.ReplaceAll(field, `\.`, ".")
		}
		child := n.children[field]
		if child == nil {
			child = &buildNode{}
			n.children[field] = child
		}
		if !child.final {
			child.insert(path[split+1:])
		}
		return
	}
	field := path
	if escapes {
		field = strings.ReplaceAll(field, `\.`, ".")
	}
	n.children[field] = &buildNode{final: true}
}

func (n *buildNode) build(pattern string) *node {
	out := &node{pattern: pattern, final: n.final, double: pattern == "**"}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic; matching does not depend on the order
	for _, name := range names {
		child := n.children[name].build(name)
		if strings.Contains(name, "*") {
			out.globs = append(out.globs, child)
			continue
		}
		if out.terms == nil {
			out.terms = make(map[string]*node)
		}
		out.terms[name] = child
	}
	return out
}

// Match says what becomes of a field.
type Match uint8

const (
	// None drops the field.
	None Match = iota
	// Partial keeps the parts of the field's value that the returned Level
	// matches: an object's fields are matched against it, an array's
	// elements at that same Level, and a scalar is dropped. A value left
	// with nothing is dropped, key included.
	Partial
	// All keeps the field and its whole value.
	All
)

func (m Match) String() string {
	switch m {
	case None:
		return "none"
	case Partial:
		return "partial"
	case All:
		return "all"
	}
	return fmt.Sprintf("Match(%d)", uint8(m))
}

// Level is a position in a document as the filter sees it: the paths that
// can still match below it. The zero Level matches nothing. A Level is
// immutable and safe for concurrent use.
type Level struct {
	nodes []*node
	all   bool
}

// Root returns the Level of the document's root object. On a nil Filter
// it is a Level that keeps every field.
func (f *Filter) Root() Level {
	if f == nil {
		return Level{all: true}
	}
	return Level{nodes: []*node{f.root}}
}

// Field matches the field called name of an object at this Level, and
// returns the Level of its value when the match is Partial.
func (l Level) Field(name string) (Match, Level) {
	return field(l, name)
}

func field[S string | []byte](l Level, name S) (Match, Level) {
	if l.all {
		return All, l
	}
	var next []*node
	add := func(n *node) {
		if !slices.Contains(next, n) { // keep "**" chains from multiplying
			next = append(next, n)
		}
	}
	for _, n := range l.nodes {
		if t := n.terms[string(name)]; t != nil {
			if t.final {
				return All, Level{}
			}
			add(t)
		}
		for _, g := range n.globs {
			if globMatch(g.pattern, name) {
				if g.final {
					return All, Level{}
				}
				add(g)
			}
		}
		if n.double {
			add(n)
		}
	}
	if len(next) == 0 {
		return None, Level{}
	}
	return Partial, Level{nodes: next}
}

// globMatch reports whether s matches pattern, where '*' matches any run
// of bytes (Elasticsearch's Glob.globMatch; "**" is the same as "*" here).
func globMatch[S string | []byte](pattern string, s S) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ErrInvalid is returned for a document that is not valid JSON.
var ErrInvalid = errors.New("filterpath: invalid JSON")

// Append appends doc, a JSON document, to dst as f keeps it. A nil Filter
// appends doc unchanged. A root object is always written, as {} when
// nothing in it matches; a root of another kind is treated as any value
// that a path passes through, and may leave nothing. Kept values are
// copied byte for byte; white space between the tokens the filter walks
// through is dropped.
func (f *Filter) Append(dst, doc []byte) ([]byte, error) {
	if f == nil {
		return append(dst, doc...), nil
	}
	if !json.Valid(doc) {
		return dst, ErrInvalid
	}
	w := walker{b: doc}
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == '{' {
		mark := len(dst)
		out, ok := w.partial(dst, f.Root())
		if !ok {
			out = append(out[:mark], "{}"...)
		}
		return out, nil
	}
	out, _ := w.partial(dst, f.Root())
	return out, nil
}

// Append appends value, a JSON value found at this Level (an object's
// fields are matched against l), keeping what l matches. It reports
// whether anything was kept; when not, dst is returned unchanged.
func (l Level) Append(dst, value []byte) ([]byte, bool, error) {
	if !json.Valid(value) {
		return dst, false, ErrInvalid
	}
	w := walker{b: value}
	w.ws()
	if l.all {
		return append(dst, w.b[w.i:w.skip()]...), true, nil
	}
	out, ok := w.partial(dst, l)
	return out, ok, nil
}

// walker walks a document that json.Valid accepted, so it does not check
// syntax again.
type walker struct {
	b []byte
	i int
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// str skips the string at w.i (its opening quote) and returns its end.
func (w *walker) str() int {
	w.i++
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			w.i += 2
			continue
		case '"':
			w.i++
			return w.i
		}
		w.i++
	}
	return w.i
}

// skip skips the value at w.i and returns its end.
func (w *walker) skip() int {
	w.ws()
	switch w.b[w.i] {
	case '"':
		return w.str()
	case '{', '[':
		depth := 0
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '"':
				w.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.i++
					return w.i
				}
			}
			w.i++
		}
		return w.i
	default:
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return w.i
			}
			w.i++
		}
		return w.i
	}
}

// partial appends what l keeps of the value at w.i and moves past it. It
// reports whether anything was kept; when not, dst comes back as it was.
func (w *walker) partial(dst []byte, l Level) ([]byte, bool) {
	w.ws()
	mark := len(dst)
	switch w.b[w.i] {
	case '{':
		w.i++
		dst = append(dst, '{')
		kept := false
		for {
			w.ws()
			if w.b[w.i] == '}' {
				w.i++
				break
			}
			if w.b[w.i] == ',' {
				w.i++
				w.ws()
			}
			keyStart := w.i
			keyEnd := w.str()
			key := w.b[keyStart:keyEnd]
			w.ws()
			w.i++ // ':'
			var m Match
			var next Level
			if raw := key[1 : len(key)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
				m, next = field(l, raw)
			} else { // decoded as encoding/json does: invalid UTF-8 becomes U+FFFD
				var name string
				if json.Unmarshal(key, &name) != nil {
					name = string(raw) // unreachable: the document is valid
				}
				m, next = field(l, name)
			}
			switch m {
			case None:
				w.skip()
			case All:
				if kept {
					dst = append(dst, ',')
				}
				dst = append(append(dst, key...), ':')
				w.ws()
				start := w.i
				dst = append(dst, w.b[start:w.skip()]...)
				kept = true
			case Partial:
				before := len(dst)
				if kept {
					dst = append(dst, ',')
				}
				dst = append(append(dst, key...), ':')
				var ok bool
				if dst, ok = w.partial(dst, next); ok {
					kept = true
				} else {
					dst = dst[:before]
				}
			}
		}
		if !kept {
			return dst[:mark], false
		}
		return append(dst, '}'), true
	case '[':
		w.i++
		dst = append(dst, '[')
		kept := false
		for {
			w.ws()
			if w.b[w.i] == ']' {
				w.i++
				break
			}
			if w.b[w.i] == ',' {
				w.i++
			}
			before := len(dst)
			if kept {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = w.partial(dst, l); ok {
				kept = true
			} else {
				dst = dst[:before]
			}
		}
		if !kept {
			return dst[:mark], false
		}
		return append(dst, ']'), true
	default: // a scalar on a path that goes on below it
		w.skip()
		return dst, false
	}
}

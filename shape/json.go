package shape

import (
	"encoding/json"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// The JSON an event is shaped in: an object is parsed one level at a time,
// only where a path leads, into its members; every value no path reaches
// stays the raw text it was, so an event is never decoded into maps and
// its untouched parts are copied as they are.

// object is the members of one JSON object, in document order.
type object struct {
	members []member
}

// member is one key and its value.
type member struct {
	// rawKey is the key as written between its quotes (escapes kept);
	// key is its unescaped text, rawKey itself when it has no escape.
	rawKey []byte
	key    []byte
	// val is the raw JSON text of the value, nil once obj holds it.
	val []byte
	// obj is the value parsed as an object, when a path reached into it.
	obj *object
	// gone marks a member dropPath is removing (never set outside it).
	gone bool
}

// isObject reports whether m's value is an object.
func (m *member) isObject() bool {
	return m.obj != nil || len(m.val) > 0 && m.val[0] == '{'
}

// child parses m's value as an object (once) and returns it; nil when the
// value is not an object or is malformed.
func (m *member) child() *object {
	if m.obj != nil {
		return m.obj
	}
	if len(m.val) == 0 || m.val[0] != '{' {
		return nil
	}
	o, ok := parseObject(m.val, nestedMembers)
	if !ok {
		return nil
	}
	m.obj, m.val = o, nil
	return o
}

// Initial capacities of an object's members: an ECS event has a dozen
// top-level fields, its objects a few each.
const (
	rootMembers   = 16
	nestedMembers = 6
)

// parseObject splits b, which must be exactly one JSON object with blanks
// around it allowed, into its members. It does not check the values'
// grammar beyond finding where each ends; it never panics, and reports ok
// false on anything it cannot split.
func parseObject(b []byte, capHint int) (*object, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	o := &object{members: make([]member, 0, capHint)}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return o, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		kEnd, ok := event.StringEnd(b, i+1)
		if !ok {
			return nil, false
		}
		rawKey := b[i+1 : kEnd]
		key, ok := unescape(rawKey)
		if !ok {
			return nil, false
		}
		i = skipSpace(b, kEnd+1)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		vStart := skipSpace(b, i+1)
		vEnd, ok := skipValue(b, vStart)
		if !ok {
			return nil, false
		}
		o.members = append(o.members, member{rawKey: rawKey, key: key, val: b[vStart:vEnd]})
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return o, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// appendTo writes o as compact JSON (blanks inside untouched values kept).
func (o *object) appendTo(buf []byte) []byte {
	buf = append(buf, '{')
	for i := range o.members {
		m := &o.members[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, m.rawKey...)
		buf = append(buf, '"', ':')
		if m.obj != nil {
			buf = m.obj.appendTo(buf)
		} else {
			buf = append(buf, m.val...)
		}
	}
	return append(buf, '}')
}

// size is the length appendTo would write.
func (o *object) size() int {
	n := 2
	for i := range o.members {
		m := &o.members[i]
		if i > 0 {
			n++
		}
		n += len(m.rawKey) + 3
		if m.obj != nil {
			n += m.obj.size()
		} else {
			n += len(m.val)
		}
	}
	return n
}

// clone copies o and every parsed object below it; raw values are shared
// (they are never written to).
func (o *object) clone() *object {
	c := &object{members: make([]member, len(o.members))}
	copy(c.members, o.members)
	for i := range c.members {
		if c.members[i].obj != nil {
			c.members[i].obj = c.members[i].obj.clone()
		}
	}
	return c
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i]. It
// checks only what it needs to find the end: brackets balance and strings
// close.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		end, ok := event.StringEnd(b, i+1)
		return end + 1, ok
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			case '"':
				end, ok := event.StringEnd(b, i+1)
				if !ok {
					return end, false
				}
				i = end
			}
		}
		return i, false
	case ',', '}', ']', ':':
		return i, false
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', '{', '[', '"', ':':
			return j, true
		}
		j++
	}
	return j, true
}

// unescape returns a key's text; without a backslash it is raw itself.
func unescape(raw []byte) ([]byte, bool) {
	for _, c := range raw {
		if c == '\\' {
			quoted := make([]byte, 0, len(raw)+2)
			quoted = append(append(append(quoted, '"'), raw...), '"')
			var s string
			if err := json.Unmarshal(quoted, &s); err != nil {
				return nil, false
			}
			return []byte(s), true
		}
	}
	return raw, true
}

// quoteKey is key as written between quotes in JSON.
func quoteKey(key string) []byte {
	q := text.AppendJSONString(make([]byte, 0, len(key)+2), key)
	return q[1 : len(q)-1]
}

// hasAny reports whether one of paths reaches a member of the object b
// (a value of null counts), in one pass over b and without allocating. A
// key with an escape, or anything it cannot read, counts as a match: it
// answers "maybe", and the caller then parses.
func hasAny(b []byte, paths []string) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return true
	}
	return hasIn(b, i, paths)
}

// hasIn is hasAny for the object starting at b[i]. Each level of
// recursion consumes a step of a path, so its depth is bounded by the
// paths, not by b.
func hasIn(b []byte, i int, paths []string) bool {
	var restsBuf [8]string
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return true
		}
		switch b[i] {
		case '}':
			return false
		case ',':
			i++
			continue
		case '"':
		default:
			return true
		}
		kEnd, ok := event.StringEnd(b, i+1)
		if !ok {
			return true
		}
		key := b[i+1 : kEnd]
		for _, c := range key {
			if c == '\\' {
				return true
			}
		}
		i = skipSpace(b, kEnd+1)
		if i >= len(b) || b[i] != ':' {
			return true
		}
		vStart := skipSpace(b, i+1)
		rests := restsBuf[:0]
		for _, p := range paths {
			rest, full, prefix := matchStep(key, p)
			if full {
				return true
			}
			if prefix {
				rests = append(rests, rest)
			}
		}
		if len(rests) > 0 && vStart < len(b) && b[vStart] == '{' && hasIn(b, vStart, rests) {
			return true
		}
		vEnd, ok := skipValue(b, vStart)
		if !ok {
			return true
		}
		i = vEnd
	}
}

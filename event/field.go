package event

import "bytes"

// Field returns the value at a dotted path, such as "host.name", in the JSON
// object doc. Each step of the path may be a nested key or a key that
// itself contains dots, in any mix: "host.name" finds
// {"host":{"name":"x"}} as well as {"host.name":"x"}. When several keys
// match, the first in document order that leads to a value wins.
//
// A string is returned unquoted and unescaped; a number or a boolean as
// its JSON text; an object or an array as its raw JSON. A null, a missing
// path, an empty path or a doc that is not a JSON object return ok false.
// Array elements cannot be addressed.
//
// Field reads doc without decoding it into maps and allocates only the
// returned string. It never panics, whatever doc holds: on malformed JSON
// the result is unspecified but safe. It is safe for concurrent use.
func Field(doc []byte, path string) (string, bool) {
	raw, ok := lookup(doc, path)
	if !ok {
		return "", false
	}
	if raw[0] == '"' {
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return string(inner), true
		}
		return unescape(inner)
	}
	return string(raw), true
}

// FieldJSON is Field without the decoding: the raw JSON text of the value
// at path, a string with its quotes and escapes, so that a caller can tell
// a string from a number. It is a sub-slice of doc, not a copy. Missing,
// null and malformed cases are as for Field.
func FieldJSON(doc []byte, path string) ([]byte, bool) { return lookup(doc, path) }

// lookup returns the raw JSON text of the value at path, quotes included for
// a string. A null is treated as missing.
func lookup(doc []byte, path string) ([]byte, bool) {
	if path == "" {
		return nil, false
	}
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, false
	}
	raw, ok := findIn(doc, i, path)
	if !ok || len(raw) == 0 || raw[0] == 'n' {
		return nil, false
	}
	return raw, true
}

// findIn looks for path in the object starting at b[i] (a '{'). Each level
// of recursion consumes at least one step of path, so its depth is bounded
// by the path, not by doc.
func findIn(b []byte, i int, path string) ([]byte, bool) {
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			return nil, false
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return nil, false
		}
		kEnd, ok := stringEnd(b, i+1)
		if !ok {
			return nil, false
		}
		key := b[i+1 : kEnd]
		i = skipSpace(b, kEnd+1)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		vStart := skipSpace(b, i+1)
		n, full := matchKey(key, path)
		if n >= 0 && !full && vStart < len(b) && b[vStart] == '{' {
			// findIn stops at the end of this object.
			if raw, ok := findIn(b, vStart, path[n+1:]); ok {
				return raw, true
			}
		}
		vEnd, ok := skipValue(b, vStart)
		if !ok {
			return nil, false
		}
		if full {
			return b[vStart:vEnd], true
		}
		i = vEnd
	}
}

// matchKey compares a raw key with path: full when they are equal,
// otherwise n >= 0 when path continues past the key with a '.' at path[n].
func matchKey(raw []byte, path string) (n int, full bool) {
	key := raw
	if bytes.IndexByte(raw, '\\') >= 0 {
		s, ok := unescape(raw)
		if !ok {
			return -1, false
		}
		key = []byte(s)
	}
	if string(key) == path {
		return len(path), true
	}
	if len(key) < len(path) && path[len(key)] == '.' && string(key) == path[:len(key)] {
		return len(key), false
	}
	return -1, false
}

// StringEnd returns the index of the closing quote of the JSON string
// whose contents start at b[i], honoring escapes; false when it does not
// close. Package shape scans documents with it too.
func StringEnd(b []byte, i int) (int, bool) { return stringEnd(b, i) }

// stringEnd returns the index of the closing quote of the string whose
// contents start at b[i], honoring escapes.
func stringEnd(b []byte, i int) (int, bool) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i, true
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(b), false
}

// skipValue returns the index just past the value starting at b[i]. It
// checks only as much as it needs to find the end.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		end, ok := stringEnd(b, i+1)
		return end + 1, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			case '"':
				end, ok := stringEnd(b, i+1)
				if !ok {
					return end, false
				}
				i = end
			}
			i++
		}
		return i, false
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}

package export

import (
	"bytes"
	"encoding/json"
)

// ecsIndex maps each ECS column's path to its position in ecsColumns;
// ecsPrefixes holds every proper prefix of those paths ("host",
// "file.hash"): the objects worth descending into.
var ecsIndex, ecsPrefixes = func() (map[string]int, map[string]bool) {
	idx := make(map[string]int, len(ecsColumns))
	pre := map[string]bool{}
	for i, c := range ecsColumns {
		idx[c] = i
		for j := range len(c) {
			if c[j] == '.' {
				pre[c[:j]] = true
			}
		}
	}
	return idx, pre
}()

// ecsValues reads the ECS columns' values from doc, a valid JSON object,
// in one pass: what event.Field returns for each path (a nested key, a
// key holding dots, or a mix; the first match in document order counts,
// a null one as absent; a string unescaped, anything else its JSON text),
// without scanning the document once per column (TestECSValuesAgreeWithField
// holds the two together).
func ecsValues(doc []byte, out *[len(ecsColumns)]*string) {
	w := ecsWalker{doc: doc, out: out}
	w.object(w.space(0))
}

type ecsWalker struct {
	doc []byte
	out *[len(ecsColumns)]*string
	// path is the dotted path of the key being looked at.
	path []byte
	// seen marks the columns matched already: by a value, or by a null,
	// which ends the search as it does for event.Field.
	seen [len(ecsColumns)]bool
}

func (w *ecsWalker) space(i int) int {
	for i < len(w.doc) && (w.doc[i] == ' ' || w.doc[i] == '\t' || w.doc[i] == '\n' || w.doc[i] == '\r') {
		i++
	}
	return i
}

// object walks the object at i under w.path and returns the offset after
// it; -1 on malformed input (the walk stops, what was found stays).
func (w *ecsWalker) object(i int) int {
	prefix := len(w.path)
	defer func() { w.path = w.path[:prefix] }()
	if i >= len(w.doc) || w.doc[i] != '{' {
		return -1
	}
	i = w.space(i + 1)
	if i < len(w.doc) && w.doc[i] == '}' {
		return i + 1
	}
	for i < len(w.doc) {
		end := w.stringEnd(i)
		if end < 0 {
			return -1
		}
		w.path = w.path[:prefix]
		if prefix > 0 {
			w.path = append(w.path, '.')
		}
		if raw := w.doc[i+1 : end-1]; bytes.IndexByte(raw, '\\') < 0 {
			w.path = append(w.path, raw...)
		} else {
			w.path = append(w.path, w.str(i, end)...)
		}
		i = w.space(end)
		if i >= len(w.doc) || w.doc[i] != ':' {
			return -1
		}
		i = w.space(i + 1)
		if i >= len(w.doc) {
			return -1
		}
		var next int
		switch {
		case w.doc[i] == '{' && ecsPrefixes[string(w.path)]:
			if col, ok := ecsIndex[string(w.path)]; ok && !w.seen[col] {
				w.seen[col] = true
				next = w.skip(i)
				if next < 0 {
					return -1
				}
				v := string(w.doc[i:next])
				w.out[col] = &v
				break
			}
			next = w.object(i)
		default:
			next = w.skip(i)
			if next < 0 {
				return -1
			}
			if col, ok := ecsIndex[string(w.path)]; ok && !w.seen[col] {
				w.seen[col] = true
				if !bytes.HasPrefix(w.doc[i:next], []byte("null")) {
					v := w.value(i, next)
					w.out[col] = &v
				}
			}
		}
		if next < 0 {
			return -1
		}
		i = w.space(next)
		if i >= len(w.doc) {
			return -1
		}
		switch w.doc[i] {
		case ',':
			i = w.space(i + 1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
	return -1
}

// value is the text of the value in doc[i:end] as event.Field gives it.
func (w *ecsWalker) value(i, end int) string {
	if w.doc[i] == '"' {
		return w.str(i, end)
	}
	return string(w.doc[i:end])
}

// str returns the string whose quoted form is doc[i:end], unescaped.
func (w *ecsWalker) str(i, end int) string {
	raw := w.doc[i+1 : end-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if json.Unmarshal(w.doc[i:end], &s) == nil {
				return s
			}
			return string(raw)
		}
	}
	return string(raw)
}

// stringEnd returns the offset after the string starting at i, -1 if none.
func (w *ecsWalker) stringEnd(i int) int {
	if i >= len(w.doc) || w.doc[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(w.doc); j++ {
		switch w.doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skip returns the offset after the value starting at i, -1 if malformed.
func (w *ecsWalker) skip(i int) int {
	depth := 0
	for i < len(w.doc) {
		switch c := w.doc[i]; c {
		case '"':
			if i = w.stringEnd(i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of a scalar
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

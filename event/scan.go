package event

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// scan reports whether b is exactly one JSON object, optionally surrounded by
// whitespace, in valid UTF-8 and nested at most MaxDepth deep. It checks the
// grammar and the encoding in one pass without allocating, which is about
// three times as fast as json.Valid followed by utf8.Valid; FuzzDecode checks
// that it agrees with them.
//
// When the object has a top-level "@timestamp" whose value is a string or a
// number, ts is that value's text (for a string the bytes between the
// quotes, escapes untouched) and kind is '"' or '0'; otherwise kind is 0.
func scan(b []byte) (ts []byte, kind byte, ok bool) {
	var (
		arrays  [MaxDepth/64 + 1]uint64 // bit d set: level d is an array
		depth   int
		i       int
		start   int
		want    bool // the next value belongs to a top-level "@timestamp"
		capture bool
	)
	i = skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, false
	}

value:
	capture, want = want, false
	if capture {
		ts, kind = nil, 0 // the last "@timestamp" wins
	}
	i = skipSpace(b, i)
	if i >= len(b) {
		return nil, 0, false
	}
	switch c := b[i]; {
	case c == '"':
		start = i + 1
		if i, ok = scanString(b, start); !ok {
			return nil, 0, false
		}
		if capture {
			ts, kind = b[start:i-1], '"'
		}
	case c == '{' || c == '[':
		if depth == MaxDepth {
			return nil, 0, false
		}
		depth++
		if c == '[' {
			arrays[depth>>6] |= 1 << (depth & 63)
		} else {
			arrays[depth>>6] &^= 1 << (depth & 63)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == c+2 { // '}' is '{'+2 and ']' is '['+2
			depth--
			i++
			goto next
		}
		if c == '{' {
			goto key
		}
		goto value
	case c == '-' || c >= '0' && c <= '9':
		start = i
		if i, ok = scanNumber(b, i); !ok {
			return nil, 0, false
		}
		if capture {
			ts, kind = b[start:i], '0'
		}
	case c == 't':
		if i, ok = scanLiteral(b, i, "true"); !ok {
			return nil, 0, false
		}
	case c == 'f':
		if i, ok = scanLiteral(b, i, "false"); !ok {
			return nil, 0, false
		}
	case c == 'n':
		if i, ok = scanLiteral(b, i, "null"); !ok {
			return nil, 0, false
		}
	default:
		return nil, 0, false
	}

next:
	i = skipSpace(b, i)
	if depth == 0 {
		return ts, kind, i == len(b)
	}
	if i >= len(b) {
		return nil, 0, false
	}
	if arrays[depth>>6]&(1<<(depth&63)) != 0 {
		switch b[i] {
		case ',':
			i++
			goto value
		case ']':
			depth--
			i++
			goto next
		}
		return nil, 0, false
	}
	switch b[i] {
	case ',':
		i = skipSpace(b, i+1)
		goto key
	case '}':
		depth--
		i++
		goto next
	}
	return nil, 0, false

key:
	// i is at the key's opening quote, whitespace skipped.
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start = i + 1
	if i, ok = scanString(b, start); !ok {
		return nil, 0, false
	}
	if depth == 1 {
		want = keyIs(b[start:i-1], "@timestamp")
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return nil, 0, false
	}
	i++
	goto value
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace. Compact JSON has none, so the common case is one
// comparison (every whitespace byte is below '!').
func skipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns a mask with the high bit set in the lowest byte of x that
// ends a plain run inside a JSON string: a control character, '"', '\\' or
// a non-ASCII byte. Bits above that byte may be set spuriously (borrows),
// bits below it never are, so only the lowest set bit is meaningful.
func special(x uint64) uint64 {
	ctl := (x - ones*0x20) &^ x
	quote := x ^ (ones * '"')
	quote = (quote - ones) &^ quote
	bslash := x ^ (ones * '\\')
	bslash = (bslash - ones) &^ bslash
	return (ctl | quote | bslash | x) & highs
}

// scanString checks the JSON string whose contents start at b[i] and returns
// the index just past its closing quote.
func scanString(b []byte, i int) (int, bool) {
	for {
		for i+8 <= len(b) {
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return i, false
			}
			i += n
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber checks the JSON number starting at b[i] and returns the index
// just past it.
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// keyIs reports whether the raw (still escaped) key equals s.
func keyIs(raw []byte, s string) bool {
	if string(raw) == s {
		return true
	}
	if len(raw) <= len(s) {
		// An escape is longer than the character it stands for: a raw
		// key no longer than s that differs from it cannot unescape to it.
		return false
	}
	for _, c := range raw {
		if c == '\\' {
			u, ok := unescape(raw)
			return ok && u == s
		}
	}
	return false
}

// unescape decodes the contents of a JSON string (the bytes between the
// quotes). Invalid escapes make it fail; lone surrogates become U+FFFD as
// in encoding/json. Invalid UTF-8 is passed through.
func unescape(raw []byte) (string, bool) {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b = append(b, raw[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if r >= 0xD800 && r < 0xDC00 {
				// A high surrogate counts only with a low one after it.
				if lo, ok := hex4(raw, i+2); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(b), true
}

// hex4 decodes the four hex digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

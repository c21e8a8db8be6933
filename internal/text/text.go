// Package text holds the string helpers that several siembridge packages
// share (the sinks, the delivery stage): cutting a reason to a size without
// breaking its UTF-8, and appending a JSON string. It is internal: its
// callers are siembridge's own packages, and its exact outputs (the "…"
// mark, the escapes) are part of what the sinks send, so it is changed
// with them.
package text

import "unicode/utf8"

// Ellipsis marks a string Truncate shortened.
const Ellipsis = "…"

// Truncate returns s when it is at most n bytes long. Otherwise it returns
// the longest prefix of s of at most n bytes that does not end inside a
// UTF-8 sequence, followed by Ellipsis: at most n+3 bytes in all. It never
// splits a rune of valid UTF-8; invalid bytes in s are kept as they are
// (a run of continuation bytes longer than a rune is cut anywhere). n < 0
// counts as 0.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	cut := n
	// s[n] is the first byte dropped. If it continues a rune, back up to
	// that rune's start, which is at most UTFMax-1 bytes earlier.
	for back := 0; back < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); back++ {
		cut--
	}
	if _, size := utf8.DecodeRuneInString(s[cut:]); cut < n && cut+size <= n {
		// What starts at cut ends before n (a whole rune, or an invalid
		// byte): s[n] is a stray byte, not part of a rune. Cut as asked.
		cut = n
	}
	return s[:cut] + Ellipsis
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to dst as a JSON string literal, quotes
// included, and returns the extended slice. '"' and '\' are escaped, \n, \r
// and \t take their short escapes, other bytes below 0x20 become \u00XX,
// and each byte of invalid UTF-8 becomes \ufffd (as encoding/json does);
// everything else, U+2028 and U+2029 included, is copied as it is. It does
// not allocate beyond growing dst. The sinks build their request lines with
// it (an Elasticsearch action line, a HEC envelope), so its output is part
// of what they send.
//
// event.Wrap quotes differently on purpose: its input is valid UTF-8
// already, and it escapes U+2028/U+2029, \b and \f, for documents that end
// up inside JavaScript; the two are not interchangeable byte for byte.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0 // first byte not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			var buf [utf8.UTFMax]byte
			n := copy(buf[:], s[i:])
			if r, size := utf8.DecodeRune(buf[:n]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

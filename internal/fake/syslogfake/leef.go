package syslogfake

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LEEF is one parsed LEEF 2.0 event (IBM QRadar's Log Event Extended
// Format).
type LEEF struct {
	Vendor, Product, Version, EventID string // header fields, unescaped
	Delimiter                         byte
	Attrs                             []SDParam // key=value attributes, in order
}

// Attr returns the value of the attribute key.
func (l *LEEF) Attr(key string) (string, bool) {
	for _, a := range l.Attrs {
		if a.Name == key {
			return a.Value, true
		}
	}
	return "", false
}

// ParseLEEF parses a LEEF 2.0 line strictly:
//
//	LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<Delimiter>key=value...
//
// Header fields may hold "\|" and "\\" (any other backslash is an error);
// Delimiter is one character or its hex code (x09, 0x5E). Each attribute
// needs a key of letters and digits, which appears once; values run to
// the next delimiter (a '=' in a value is data) and may not hold CR or LF.
// It never panics, whatever s holds.
func ParseLEEF(s string) (LEEF, error) {
	var l LEEF
	rest, ok := strings.CutPrefix(s, "LEEF:2.0|")
	if !ok {
		return l, errors.New("leef: want the prefix LEEF:2.0|")
	}
	var fields [5]string
	for i := range fields {
		v, n, err := leefHeaderField(rest)
		if err != nil {
			return l, fmt.Errorf("leef: header field %d: %w", i+1, err)
		}
		fields[i], rest = v, rest[n:]
	}
	l.Vendor, l.Product, l.Version, l.EventID = fields[0], fields[1], fields[2], fields[3]
	d, err := leefDelimiter(fields[4])
	if err != nil {
		return l, err
	}
	l.Delimiter = d
	if strings.ContainsAny(rest, "\r\n") {
		return l, errors.New("leef: attributes hold CR or LF")
	}
	if rest == "" {
		return l, nil
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(rest, string(d)) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			return l, fmt.Errorf("leef: attribute %.60q: want key=value with a key of letters and digits", kv)
		}
		if seen[k] {
			return l, fmt.Errorf("leef: attribute %s appears twice", k)
		}
		seen[k] = true
		l.Attrs = append(l.Attrs, SDParam{Name: k, Value: v})
	}
	return l, nil
}

// leefHeaderField reads a header field up to its unescaped '|' and
// returns it unescaped and the bytes consumed, the '|' included.
func leefHeaderField(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '|':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '|' || s[i+1] == '\\') {
				b.WriteByte(s[i+1])
				i++
				continue
			}
			return "", 0, fmt.Errorf("lone backslash at %d", i)
		case '\r', '\n':
			return "", 0, errors.New("CR or LF in the header")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("not ended by '|'")
}

// leefDelimiter reads the delimiter header field.
func leefDelimiter(f string) (byte, error) {
	switch {
	case len(f) == 1:
		return f[0], nil
	case len(f) == 3 && (f[0] == 'x' || f[0] == 'X'), len(f) == 4 && strings.HasPrefix(strings.ToLower(f), "0x"):
		n, err := strconv.ParseUint(f[len(f)-2:], 16, 8)
		if err == nil && n != 0 {
			return byte(n), nil
		}
	}
	return 0, fmt.Errorf("leef: delimiter field %q: want one character or a hex code", f)
}

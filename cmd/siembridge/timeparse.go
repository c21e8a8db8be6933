package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseTime reads a point in time given on the command line:
//
//   - RFC 3339, with or without fractional seconds: 2024-05-01T13:00:00Z,
//     2024-05-01T15:00:00.250+02:00;
//   - the same without a zone, or a bare date (2024-05-01), read as UTC:
//     a forensic window must not depend on the zone of the machine that
//     runs the command;
//   - "now", or a duration before now: -2h, -30m, -90s, -1d, -1h30m
//     (Go durations plus a "d" unit of 24 hours).
//
// now is passed in so that several flags of one command share one "now"
// and tests are tables.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, errors.New("empty time")
	case strings.EqualFold(s, "now"):
		return now, nil
	case s[0] == '-':
		d, err := parseAgo(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %v", s, err)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2024-05-01T13:00:00Z), \"now\" or a duration ago (-2h, -30m, -1d, -1h30m)", s)
}

// maxAgo bounds relative times; it keeps time.Duration from overflowing.
const maxAgo = 100 * 365 * 24 * time.Hour

var agoUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
}

// parseAgo parses a positive duration made of number+unit terms, where the
// units are Go's (ns, us, µs, ms, s, m, h) plus d = 24h.
func parseAgo(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("missing duration after '-'")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("expected a number at %q", rest)
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if unit == "" {
			return 0, fmt.Errorf("missing unit after %s (use s, m, h or d)", num)
		}
		per, ok := agoUnits[unit]
		if !ok {
			return 0, fmt.Errorf("unknown unit %q (use s, m, h or d)", unit)
		}
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad number %q", num)
		}
		if n*float64(per) > float64(maxAgo) {
			return 0, errors.New("too far in the past")
		}
		d := time.Duration(n * float64(per))
		total += d
		if total > maxAgo {
			return 0, errors.New("too far in the past")
		}
	}
	return total, nil
}

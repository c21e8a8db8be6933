package event

import "time"

// parseTimestamp parses an "@timestamp" string without allocating:
//
//	2006-01-02
//	2006-01-02T15:04:05[.fraction][zone]
//
// where 'T' may also be 't' or a space, the fraction has 1 or more digits
// (beyond nanoseconds they are dropped) after '.' or ',', and the zone is
// "Z", "z", "±hh:mm", "±hhmm" or "±hh"; without a zone the time is UTC. The
// result is in UTC.
func parseTimestamp(s []byte) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), true
	}
	if len(s) < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := digits(s[11:13])
	minute, ok2 := digits(s[14:16])
	sec, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		j := i
		scale := 100000000
		for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			nsec += int(s[j]-'0') * scale
			scale /= 10
		}
		if j == i {
			return time.Time{}, false
		}
		i = j
	}
	offset := 0 // seconds east of UTC
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			zone := s[i+1:]
			var zh, zm int
			var ok bool
			switch {
			case len(zone) == 2:
				zh, ok = digits(zone)
			case len(zone) == 4:
				zh, ok = digits(zone[0:2])
				zm, ok2 = digits(zone[2:4])
				ok = ok && ok2
			case len(zone) == 5 && zone[2] == ':':
				zh, ok = digits(zone[0:2])
				zm, ok2 = digits(zone[3:5])
				ok = ok && ok2
			}
			if !ok || zh > 23 || zm > 59 {
				return time.Time{}, false
			}
			offset = zh*3600 + zm*60
			if s[i] == '-' {
				offset = -offset
			}
			i = len(s)
		}
		if i != len(s) {
			return time.Time{}, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

// digits parses a short run of decimal digits.
func digits(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Epoch milliseconds accepted as "@timestamp": years 0001 to 9999.
const (
	minEpochMillis = -62135596800000
	maxEpochMillis = 253402300799999
)

// parseEpochMillis parses a JSON number of milliseconds since the Unix
// epoch: an integer with an optional fraction (kept to the nanosecond). An
// exponent or a time outside years 0001-9999 makes it fail.
func parseEpochMillis(s []byte) (time.Time, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var ms int64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i >= 15 {
			return time.Time{}, false
		}
		ms = ms*10 + int64(s[i]-'0')
	}
	if i == 0 {
		return time.Time{}, false
	}
	var ns int64
	if i < len(s) && s[i] == '.' {
		scale := int64(100000)
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			ns += int64(s[i]-'0') * scale
			scale /= 10
		}
	}
	if i != len(s) {
		return time.Time{}, false
	}
	if neg {
		ms, ns = -ms, -ns
	}
	if ms < minEpochMillis || ms > maxEpochMillis {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).Add(time.Duration(ns)).UTC(), true
}

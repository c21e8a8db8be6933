package event

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays, counting the
// top-level object as 1, that a value may have and still be delivered as
// it is. Deeper values are wrapped. 1000 is the default limit of Jackson,
// the parser behind Elasticsearch, so a deeper document would be rejected
// there anyway; as text inside a wrapper it is still delivered, and it
// bounds the work of every later reader of the document.
const MaxDepth = 1000

// Decode returns the JSON document for a record value and the event time.
//
// When value is a JSON object in valid UTF-8 (surrounding whitespace
// allowed) nested at most MaxDepth deep, doc is value itself: not copied and
// not re-encoded. Duplicate keys and numbers of any size are passed on as
// they are. The event time is then the top-level "@timestamp" when it is a
// string in RFC 3339 form (fractional seconds and zone optional; no zone
// means UTC; "+hhmm" and "+hh" zones and a space instead of the 'T' are
// accepted, and so is a bare date) or a number of milliseconds since the
// Unix epoch; with several "@timestamp" keys the last one counts, as in
// encoding/json. Otherwise, or when it does not parse, t is ts.
//
// Any other value (empty, not JSON, JSON that is not an object, too deep,
// invalid UTF-8) is wrapped: doc is Wrap's document, wrapped is true and t
// is ts.
//
// Decode validates value in a single pass and does not allocate unless it
// wraps. It never fails and never panics. It is safe for concurrent use.
func Decode(topic string, partition int32, offset int64, ts time.Time, value []byte) (doc []byte, wrapped bool, t time.Time) {
	raw, kind, ok := scan(value)
	if !ok {
		return Wrap(topic, partition, offset, ts, value), true, ts
	}
	var pt time.Time
	switch kind {
	case '"':
		ok = false
		if bytes.IndexByte(raw, '\\') < 0 {
			pt, ok = parseTimestamp(raw)
		} else if s, uok := unescape(raw); uok {
			pt, ok = parseTimestamp([]byte(s))
		}
	case '0':
		pt, ok = parseEpochMillis(raw)
	default:
		ok = false
	}
	if ok {
		return value, false, pt
	}
	return value, false, ts
}

// Wrap returns the document for a record value that is not a JSON object:
//
//	{"@timestamp": ts, "message": text, "event": {"original": text},
//	 "kafka": {"topic": topic, "partition": partition, "offset": offset, "timestamp": ts}}
//
// text is value with each run of invalid UTF-8 replaced by U+FFFD and
// escaped as a JSON string (control characters, NUL included, as \u00XX or
// their short escapes; U+2028 and U+2029 as \u2028 and \u2029). Times are
// RFC 3339 with nanoseconds, in UTC.
//
// A record without a timestamp (ts zero, or before the Unix epoch: Kafka
// reports a missing timestamp as -1) gets neither "@timestamp" nor
// "kafka.timestamp": an invented time, such as the time of consumption,
// would make the document differ between a delivery and its retry, and
// 0001-01-01 or 1969-12-31 would file the event under a misleading date.
// Sinks that need a time supply their own (an Elasticsearch ingest pipeline
// can set one on arrival).
//
// Wrap makes one allocation when value is valid UTF-8. It is safe for
// concurrent use.
func Wrap(topic string, partition int32, offset int64, ts time.Time, value []byte) []byte {
	if !utf8.Valid(value) {
		value = bytes.ToValidUTF8(value, []byte("\uFFFD"))
	}
	if !utf8.ValidString(topic) {
		topic = strings.ToValidUTF8(topic, "\uFFFD")
	}
	hasTS := HasTimestamp(ts)
	// Most bytes need no escaping; when some do, append grows b once.
	b := make([]byte, 0, 2*len(value)+len(topic)+200)
	b = append(b, '{')
	if hasTS {
		b = append(b, `"@timestamp":"`...)
		b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"message":`...)
	start := len(b)
	b = appendQuoted(b, value)
	end := len(b)
	b = append(b, `,"event":{"original":`...)
	b = append(b, b[start:end]...)
	b = append(b, `},"kafka":{"topic":`...)
	b = appendQuoted(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	if hasTS {
		b = append(b, `,"timestamp":"`...)
		b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, "}}"...)
	return b
}

// HasTimestamp reports whether a Kafka record timestamp is set: not the
// zero time and not before the Unix epoch (Kafka's "no timestamp" is -1).
func HasTimestamp(ts time.Time) bool {
	return !ts.IsZero() && ts.UnixMilli() >= 0
}

// quoteSafe[c] is true for bytes copied unchanged into a JSON string. 0xE2
// is not safe: it may start U+2028 or U+2029, which are escaped.
var quoteSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\' && c != 0xE2
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendQuoted appends s, which must be valid UTF-8, as a JSON string.
func appendQuoted[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	run := 0 // start of the pending run of safe bytes
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quoteSafe[c] {
			continue
		}
		if c == 0xE2 {
			if i+2 >= len(s) || s[i+1] != 0x80 || (s[i+2] != 0xA8 && s[i+2] != 0xA9) {
				continue
			}
		}
		b = append(b, s[run:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case 0xE2: // U+2028 or U+2029
			b = append(b, `\u202`...)
			b = append(b, hexDigits[s[i+2]&0xF])
			i += 2
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		run = i + 1
	}
	b = append(b, s[run:]...)
	return append(b, '"')
}

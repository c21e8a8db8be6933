package syslog

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siembridge/siembridge/event"
)

// RFC 5424 field limits (section 6).
const (
	maxHostname = 255
	maxAppName  = 48
	maxMsgID    = 32
)

// sdID names our structured-data element. 32473 is the private enterprise
// number RFC 5612 reserves for documentation and examples; siembridge has
// no number of its own, and receivers only need the ID to be stable.
const sdID = "kafka@32473"

// Severities (RFC 5424 section 6.2.1).
const (
	sevEmergency     = 0
	sevAlert         = 1
	sevCritical      = 2
	sevError         = 3
	sevWarning       = 4
	sevNotice        = 5
	sevInformational = 6
	sevDebug         = 7
)

// levelSeverity maps log.level values, lower-cased, to a severity.
var levelSeverity = map[string]int{
	"emerg": sevEmergency, "emergency": sevEmergency, "panic": sevEmergency,
	"alert": sevAlert,
	"crit":  sevCritical, "critical": sevCritical, "fatal": sevCritical,
	"err": sevError, "error": sevError,
	"warn": sevWarning, "warning": sevWarning,
	"notice": sevNotice,
	"info":   sevInformational, "informational": sevInformational, "information": sevInformational,
	"debug": sevDebug, "trace": sevDebug,
}

// severityOf derives the syslog severity of an event:
//
//  1. log.level, when it names a level (see levelSeverity; case-insensitive);
//  2. otherwise event.severity read as an integer on the CEF scale 0–10
//     (values above 10 count as 10):
//     9–10 → 2 critical, 7–8 → 3 error, 4–6 → 4 warning, 1–3 → 5 notice,
//     0 → 6 informational;
//  3. otherwise 6 (informational).
func severityOf(doc []byte) int {
	if lv, ok := event.Field(doc, "log.level"); ok {
		if s, ok := levelSeverity[strings.ToLower(strings.TrimSpace(lv))]; ok {
			return s
		}
	}
	if n, ok := intField(doc, "event.severity"); ok && n >= 0 {
		switch {
		case n >= 9:
			return sevCritical
		case n >= 7:
			return sevError
		case n >= 4:
			return sevWarning
		case n >= 1:
			return sevNotice
		}
		return sevInformational
	}
	return sevInformational
}

// intField returns the field at path when it is an integer (a JSON number
// or a string holding one).
func intField(doc []byte, path string) (int64, bool) {
	v, ok := event.Field(doc, path)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// appendHeader appends the RFC 5424 header and structured data of e, up
// to and including the space before MSG:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [kafka@32473 topic="t" partition="0" offset="42"]
//
// host and appName must already be sanitized.
func appendHeader(b []byte, e *event.Event, facility int, host, appName string) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+severityOf(e.Doc)), 10)
	b = append(b, ">1 "...)
	b = appendTimestamp(b, e.Time)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, appName...)
	b = append(b, " - "...)
	action, _ := event.Field(e.Doc, "event.action")
	b = appendSanitized(b, action, maxMsgID)
	b = append(b, " ["+sdID+` topic="`...)
	b = appendSDValue(b, e.Topic)
	b = append(b, `" partition="`...)
	b = strconv.AppendInt(b, int64(e.Partition), 10)
	b = append(b, `" offset="`...)
	b = strconv.AppendInt(b, e.Offset, 10)
	return append(b, `"] `...)
}

// appendTimestamp appends t in UTC with milliseconds, or the NILVALUE "-"
// when t is zero or its year does not fit the four digits RFC 5424 allows.
func appendTimestamp(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, '-')
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return append(b, '-')
	}
	return t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// appendSanitized appends s reduced to RFC 5424 PRINTUSASCII (33–126): each
// other character (space, control, non-ASCII rune, invalid byte) becomes
// one '_'. The result is cut to max bytes; an empty result is the NILVALUE
// "-".
func appendSanitized(b []byte, s string, max int) []byte {
	start := len(b)
	for i := 0; i < len(s) && len(b)-start < max; {
		c := s[i]
		if c >= 33 && c <= 126 {
			b = append(b, c)
			i++
			continue
		}
		b = append(b, '_')
		if c < utf8.RuneSelf {
			i++
		} else {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
	}
	if len(b) == start {
		b = append(b, '-')
	}
	return b
}

// sanitize is appendSanitized into a new string.
func sanitize(s string, max int) string { return string(appendSanitized(nil, s, max)) }

// appendSDValue appends s as an SD PARAM-VALUE: '"', '\' and ']' are
// escaped with a backslash (RFC 5424 section 6.3.3). Invalid UTF-8 becomes
// U+FFFD, since PARAM-VALUE must be UTF-8.
func appendSDValue(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' || c == ']' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// appendJSONBody appends doc with its raw line breaks turned into spaces.
// In valid JSON a raw CR or LF can only be white space between tokens
// (inside strings they must be escaped), so this changes nothing for a
// JSON reader, and it spares receivers that split on newlines despite the
// octet counting.
func appendJSONBody(b, doc []byte) []byte {
	start := len(b)
	b = append(b, doc...)
	for i := start; i < len(b); i++ {
		if b[i] == '\n' || b[i] == '\r' {
			b[i] = ' '
		}
	}
	return b
}

// maxTag is the longest RFC 3164 TAG (section 4.1.3).
const maxTag = 32

// appendHeader3164 appends the RFC 3164 (BSD syslog) header of e, up to
// and including the space before the body:
//
//	<PRI>Mmm dd hh:mm:ss HOSTNAME TAG:
//
// The timestamp is the event time in UTC (RFC 3164 has no zone; receivers
// read it as their local time or as configured), or now when the event
// has none; the day is space-padded. TAG is appName with each character
// other than letters, digits, '-', '_', '.' and '/' replaced by '_', at
// most 32 bytes. RFC 3164 has no structured data: the Kafka position is
// carried only by CEF and LEEF bodies.
func appendHeader3164(b []byte, e *event.Event, facility int, host, appName string, now time.Time) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+severityOf(e.Doc)), 10)
	b = append(b, '>')
	t := e.Time
	if t.IsZero() {
		t = now
	}
	b = t.UTC().AppendFormat(b, "Jan _2 15:04:05")
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	start := len(b)
	for i := 0; i < len(appName) && len(b)-start < maxTag; i++ {
		c := appName[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			c = '_'
		}
		b = append(b, c)
	}
	return append(b, ": "...)
}

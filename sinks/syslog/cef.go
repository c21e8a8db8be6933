package syslog

import (
	"strconv"
	"unicode/utf8"

	"github.com/siembridge/siembridge/event"
)

// CEF header field limits (Micro Focus CEF implementation standard).
const (
	maxCEFName        = 512
	maxCEFSignatureID = 1023
)

// cefField maps one ECS field to a CEF extension key.
type cefField struct {
	ecs string // dotted ECS path read with event.Field
	key string // CEF extension key: letters and digits only
	// integer fields are left out when the value is not an integer, which
	// receivers would otherwise reject the whole event for.
	integer bool
}

// cefFields is the extension mapping, in the order the keys are written.
// The README shows it as a table; keep both in step.
var cefFields = []cefField{
	{ecs: "source.ip", key: "src"},
	{ecs: "source.port", key: "spt", integer: true},
	{ecs: "destination.ip", key: "dst"},
	{ecs: "destination.port", key: "dpt", integer: true},
	{ecs: "user.name", key: "suser"},
	{ecs: "destination.user.name", key: "duser"},
	{ecs: "host.name", key: "dhost"},
	{ecs: "process.name", key: "sproc"},
	{ecs: "process.pid", key: "spid", integer: true},
	{ecs: "network.transport", key: "proto"},
	{ecs: "event.action", key: "act"},
	{ecs: "event.outcome", key: "outcome"},
	{ecs: "url.original", key: "request"},
	{ecs: "file.name", key: "fname"},
	{ecs: "message", key: "msg"},
}

// Custom string fields: CEF has no standard key for these, so they go into
// csN with a csNLabel naming what they hold.
const (
	cefDNSLabel       = "dns.question.name" // cs1
	cefTopicLabel     = "kafka.topic"       // cs2
	cefPartitionLabel = "kafka.partition"   // cs3
)

// cefSeverity maps a syslog severity to the CEF 0–10 scale, for events
// without an integer event.severity.
var cefSeverity = [8]int{
	sevEmergency: 10, sevAlert: 9, sevCritical: 8, sevError: 7,
	sevWarning: 5, sevNotice: 3, sevInformational: 1, sevDebug: 0,
}

// cefPrefix returns "CEF:0|vendor|product|version|" with the header
// fields escaped.
func cefPrefix(vendor, product, version string) []byte {
	b := append([]byte(nil), "CEF:0|"...)
	for _, f := range []string{vendor, product, version} {
		b = appendCEFHeader(b, f, len(f))
		b = append(b, '|')
	}
	return b
}

// appendCEF appends the CEF line for e after prefix (see cefPrefix):
//
//	Signature ID  event.code, else event.action, else "siembridge"
//	Name          message, else event.action, else "event" (at most 512 bytes)
//	Severity      event.severity when an integer (clamped to 0–10), else the
//	              syslog severity (see severityOf) mapped by cefSeverity
//
// followed by the extension: the cefFields that the event has, then
// cs1 (dns.question.name), rt (event time, ms since the epoch),
// externalId (Kafka offset), cs2 (topic) and cs3 (partition), each csN with
// its csNLabel.
func appendCEF(b []byte, prefix []byte, e *event.Event) []byte {
	doc := e.Doc
	b = append(b, prefix...)

	sig, ok := event.Field(doc, "event.code")
	if !ok || sig == "" {
		if sig, ok = event.Field(doc, "event.action"); !ok || sig == "" {
			sig = "siembridge"
		}
	}
	b = appendCEFHeader(b, sig, maxCEFSignatureID)
	b = append(b, '|')

	name, ok := event.Field(doc, "message")
	if !ok || name == "" {
		if name, ok = event.Field(doc, "event.action"); !ok || name == "" {
			name = "event"
		}
	}
	b = appendCEFHeader(b, name, maxCEFName)
	b = append(b, '|')

	sev, ok := intField(doc, "event.severity")
	if !ok || sev < 0 {
		sev = int64(cefSeverity[severityOf(doc)])
	}
	b = strconv.AppendInt(b, min(sev, 10), 10)
	b = append(b, '|')

	first := true
	add := func(key, value string) {
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, key...)
		b = append(b, '=')
		b = appendCEFValue(b, value)
	}
	for _, f := range cefFields {
		v, ok := event.Field(doc, f.ecs)
		if !ok || v == "" {
			continue
		}
		if f.integer {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				continue
			}
		}
		add(f.key, v)
	}
	if v, ok := event.Field(doc, "dns.question.name"); ok && v != "" {
		add("cs1Label", cefDNSLabel)
		add("cs1", v)
	}
	if !e.Time.IsZero() {
		add("rt", strconv.FormatInt(e.Time.UnixMilli(), 10))
	}
	add("externalId", strconv.FormatInt(e.Offset, 10))
	add("cs2Label", cefTopicLabel)
	add("cs2", e.Topic)
	add("cs3Label", cefPartitionLabel)
	add("cs3", strconv.FormatInt(int64(e.Partition), 10))
	return b
}

// appendCEFHeader appends a CEF header field: '\' and '|' are escaped with
// a backslash, CR and LF (not allowed in the header) become spaces, and the
// field is cut to max bytes at a character boundary.
func appendCEFHeader(b []byte, s string, max int) []byte {
	s = cutUTF8(s, max)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b = append(b, '\\', c)
		case '\r', '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendCEFValue appends an extension value: '\' and '=' are escaped with
// a backslash, and CR and LF are written as the two characters \r and \n.
// A '|' needs no escaping in the extension.
func appendCEFValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// cutUTF8 returns at most max bytes of s without splitting a character.
func cutUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

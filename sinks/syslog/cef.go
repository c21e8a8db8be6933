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

// cefDefaults is the default extension mapping, in the order the keys are
// written; cef.mapping changes it (buildMapping). The README shows it as a
// table; keep both in step. host.name is the host the event is about or
// was observed on — the device, dvchost — not a destination.
var cefDefaults = []extField{
	{key: "src", ecs: "source.ip"},
	{key: "spt", ecs: "source.port", integer: true},
	{key: "shost", ecs: "source.domain"},
	{key: "smac", ecs: "source.mac"},
	{key: "dst", ecs: "destination.ip"},
	{key: "dpt", ecs: "destination.port", integer: true},
	{key: "dhost", ecs: "destination.domain"},
	{key: "dmac", ecs: "destination.mac"},
	{key: "suser", ecs: "user.name"},
	{key: "duser", ecs: "destination.user.name"},
	{key: "dvchost", ecs: "host.name"},
	{key: "sproc", ecs: "process.name"},
	{key: "spid", ecs: "process.pid", integer: true},
	{key: "proto", ecs: "network.transport"},
	{key: "act", ecs: "event.action"},
	{key: "outcome", ecs: "event.outcome"},
	{key: "request", ecs: "url.original"},
	{key: "fname", ecs: "file.name"},
	{key: "msg", ecs: "message"},
	{key: "externalId", ecs: "event.id"},
}

// cefIntegerKeys are the CEF dictionary keys of integer type, checked for
// keys cef.mapping adds.
var cefIntegerKeys = map[string]bool{
	"spt": true, "dpt": true, "spid": true, "dpid": true, "in": true, "out": true, "cnt": true,
	"fsize": true, "oldFileSize": true, "cn1": true, "cn2": true, "cn3": true, "type": true,
	"sourceTranslatedPort": true, "destinationTranslatedPort": true,
}

// Custom string fields: CEF has no standard key for these, so they go into
// csN (cnN for numbers) with a csNLabel naming what they hold. The keys
// are config.CEFReservedKeys.
const (
	cefDNSLabel       = "dns.question.name" // cs1
	cefTopicLabel     = "kafka.topic"       // cs2
	cefPartitionLabel = "kafka.partition"   // cs3
	cefOffsetLabel    = "kafka.offset"      // cn1
)

// cefSeverity maps a syslog severity to the CEF 0–10 scale, for events
// without an integer event.severity.
var cefSeverity = [8]int{
	sevEmergency: 10, sevAlert: 9, sevCritical: 8, sevError: 7,
	sevWarning: 5, sevNotice: 3, sevInformational: 1, sevDebug: 0,
}

// cefEncoder writes CEF bodies.
type cefEncoder struct {
	vendor, product, version string // when the event has no observer.*
	fields                   []extField
}

// appendBody appends the CEF line for e:
//
//	CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension
//
//	Vendor etc.   observer.vendor/product/version, else the configured ones
//	Signature ID  event.code, else event.action, else "siembridge"
//	Name          message, else event.action, else "event" (at most 512 bytes)
//	Severity      event.severity when an integer (clamped to 0–10), else the
//	              syslog severity (see severityOf) mapped by cefSeverity
//
// followed by the extension: the mapped fields that the event has, then
// cs1 (dns.question.name), rt (event time, ms since the epoch), cs2
// (topic), cs3 (partition) and cn1 (offset), each with its label.
func (c *cefEncoder) appendBody(b []byte, e *event.Event) []byte {
	doc := e.Doc
	vendor, product, version := headerIdentity(doc, c.vendor, c.product, c.version)
	b = append(b, "CEF:0|"...)
	for _, f := range []string{vendor, product, version} {
		b = appendCEFHeader(b, f, len(f))
		b = append(b, '|')
	}
	b = appendCEFHeader(b, eventID(doc), maxCEFSignatureID)
	b = append(b, '|')

	name, ok := event.Field(doc, "message")
	if !ok || name == "" {
		if name, ok = event.Field(doc, "event.action"); !ok || name == "" {
			name = "event"
		}
	}
	b = appendCEFHeader(b, name, maxCEFName)
	b = append(b, '|')
	b = strconv.AppendInt(b, eventSeverity(doc), 10)
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
	for _, f := range c.fields {
		if v, ok := mappedValue(doc, f); ok {
			add(f.key, v)
		}
	}
	if v, ok := event.Field(doc, "dns.question.name"); ok && v != "" {
		add("cs1Label", cefDNSLabel)
		add("cs1", v)
	}
	if !e.Time.IsZero() {
		add("rt", strconv.FormatInt(e.Time.UnixMilli(), 10))
	}
	add("cs2Label", cefTopicLabel)
	add("cs2", e.Topic)
	add("cs3Label", cefPartitionLabel)
	add("cs3", strconv.FormatInt(int64(e.Partition), 10))
	add("cn1Label", cefOffsetLabel)
	add("cn1", strconv.FormatInt(e.Offset, 10))
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

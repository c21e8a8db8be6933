package syslog

import (
	"strconv"

	"github.com/siembridge/siembridge/event"
)

// leefDefaults is the default LEEF attribute mapping, in the order the
// keys are written; leef.mapping changes it (buildMapping). The keys are
// IBM's predefined LEEF event attributes where one fits (QRadar normalises
// those) and plain names otherwise. The README shows it as a table; keep
// both in step.
var leefDefaults = []extField{
	{key: "src", ecs: "source.ip"},
	{key: "srcPort", ecs: "source.port", integer: true},
	{key: "srcMAC", ecs: "source.mac"},
	{key: "srcBytes", ecs: "source.bytes", integer: true},
	{key: "dst", ecs: "destination.ip"},
	{key: "dstPort", ecs: "destination.port", integer: true},
	{key: "dstMAC", ecs: "destination.mac"},
	{key: "dstBytes", ecs: "destination.bytes", integer: true},
	{key: "usrName", ecs: "user.name"},
	{key: "identHostName", ecs: "host.name"},
	{key: "proto", ecs: "network.transport"},
	{key: "cat", ecs: "event.action"},
	{key: "url", ecs: "url.original"},
	{key: "policy", ecs: "rule.name"},
	{key: "outcome", ecs: "event.outcome"},
	{key: "msg", ecs: "message"},
	{key: "externalId", ecs: "event.id"},
}

// leefIntegerKeys are the predefined LEEF attributes of integer type,
// checked for keys leef.mapping adds.
var leefIntegerKeys = map[string]bool{
	"srcPort": true, "dstPort": true, "srcPreNATPort": true, "dstPreNATPort": true,
	"srcPostNATPort": true, "dstPostNATPort": true, "srcBytes": true, "dstBytes": true,
	"srcPackets": true, "dstPackets": true, "totalPackets": true,
}

// leefTimeFormat is the devTime layout, announced to the receiver in
// devTimeFormat as the Java SimpleDateFormat pattern leefTimePattern.
const (
	leefTimeFormat  = "2006-01-02T15:04:05.000-0700"
	leefTimePattern = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
)

// leefEncoder writes LEEF 2.0 bodies.
type leefEncoder struct {
	vendor, product, version string // when the event has no observer.*
	delim                    byte
	fields                   []extField
}

// appendBody appends the LEEF 2.0 line for e:
//
//	LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<delim>key=value...
//
//	Vendor etc.  observer.vendor/product/version, else the configured ones
//	EventID      event.code, else event.action, else "siembridge"
//	Delimiter    the character itself, or x09 for a tab (IBM's hex form)
//
// then devTime and devTimeFormat (the event time, when known), sev
// (event.severity when an integer, clamped to 1–10, else from the syslog
// severity), the mapped fields the event has, and kafkaTopic,
// kafkaPartition and kafkaOffset.
//
// Escaping: in the header '\' and '|' are escaped with a backslash and CR
// and LF become spaces; in values the delimiter, CR and LF become spaces,
// since LEEF has no escape for them (IBM's guidelines tell senders to keep
// the delimiter out of values). '=' needs no escape in a value: a
// receiver splits an attribute at its first '='.
func (l *leefEncoder) appendBody(b []byte, e *event.Event) []byte {
	doc := e.Doc
	vendor, product, version := headerIdentity(doc, l.vendor, l.product, l.version)
	b = append(b, "LEEF:2.0|"...)
	for _, f := range []string{vendor, product, version, eventID(doc)} {
		b = appendCEFHeader(b, f, len(f))
		b = append(b, '|')
	}
	if l.delim == '\t' {
		b = append(b, "x09"...)
	} else {
		b = append(b, l.delim)
	}
	b = append(b, '|')

	first := true
	add := func(key, value string) {
		if !first {
			b = append(b, l.delim)
		}
		first = false
		b = append(b, key...)
		b = append(b, '=')
		b = appendLEEFValue(b, value, l.delim)
	}
	if !e.Time.IsZero() {
		add("devTime", e.Time.UTC().Format(leefTimeFormat))
		add("devTimeFormat", leefTimePattern)
	}
	add("sev", strconv.FormatInt(max(eventSeverity(doc), 1), 10))
	for _, f := range l.fields {
		if v, ok := mappedValue(doc, f); ok {
			add(f.key, v)
		}
	}
	add("kafkaTopic", e.Topic)
	add("kafkaPartition", strconv.FormatInt(int64(e.Partition), 10))
	add("kafkaOffset", strconv.FormatInt(e.Offset, 10))
	return b
}

// appendLEEFValue appends an attribute value with the delimiter, CR and
// LF replaced by spaces.
func appendLEEFValue(b []byte, s string, delim byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case delim, '\r', '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

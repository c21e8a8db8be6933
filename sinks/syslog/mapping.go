package syslog

import (
	"slices"
	"strconv"

	"github.com/siembridge/siembridge/event"
)

// extField maps one event field to an extension key (a CEF extension key
// or a LEEF attribute key).
type extField struct {
	key string // letters and digits only
	ecs string // dotted field path read with event.Field
	// integer fields are left out when the value is not an integer, which
	// receivers would otherwise reject the whole event for.
	integer bool
}

// buildMapping returns defaults with the configured overrides applied: an
// override of a default key replaces its field in place, an override with
// an empty field removes the key, and new keys follow the defaults in key
// order (so the output is the same on every run). A key is an integer key
// when integers names it.
func buildMapping(defaults []extField, overrides map[string]string, integers map[string]bool) []extField {
	out := make([]extField, 0, len(defaults)+len(overrides))
	for _, f := range defaults {
		if v, ok := overrides[f.key]; ok {
			if v == "" {
				continue
			}
			f.ecs = v
		}
		out = append(out, f)
	}
	var added []string
	for k, v := range overrides {
		if v == "" || slices.ContainsFunc(defaults, func(f extField) bool { return f.key == k }) {
			continue
		}
		added = append(added, k)
	}
	slices.Sort(added)
	for _, k := range added {
		out = append(out, extField{key: k, ecs: overrides[k], integer: integers[k]})
	}
	return out
}

// mappedValue returns the value of f in doc, and false when the event does
// not have it, it is empty, or f is an integer key and it is not an
// integer.
func mappedValue(doc []byte, f extField) (string, bool) {
	v, ok := event.Field(doc, f.ecs)
	if !ok || v == "" {
		return "", false
	}
	if f.integer {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", false
		}
	}
	return v, true
}

// headerIdentity returns the vendor, product and version for a CEF or
// LEEF header: observer.vendor, observer.product and observer.version of
// the event when it names them (the device that saw the event), else the
// configured ones.
func headerIdentity(doc []byte, vendor, product, version string) (string, string, string) {
	if v, ok := event.Field(doc, "observer.vendor"); ok && v != "" {
		vendor = v
	}
	if v, ok := event.Field(doc, "observer.product"); ok && v != "" {
		product = v
	}
	if v, ok := event.Field(doc, "observer.version"); ok && v != "" {
		version = v
	}
	return vendor, product, version
}

// eventID returns the event's signature: event.code, else event.action,
// else "siembridge".
func eventID(doc []byte) string {
	if v, ok := event.Field(doc, "event.code"); ok && v != "" {
		return v
	}
	if v, ok := event.Field(doc, "event.action"); ok && v != "" {
		return v
	}
	return "siembridge"
}

// eventSeverity returns event.severity when it is a non-negative integer
// (clamped to 10), else the syslog severity of the event mapped to the
// 0–10 scale by cefSeverity.
func eventSeverity(doc []byte) int64 {
	sev, ok := intField(doc, "event.severity")
	if !ok || sev < 0 {
		return int64(cefSeverity[severityOf(doc)])
	}
	return min(sev, 10)
}

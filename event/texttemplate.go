package event

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// TextTemplate is a parsed template for a free-text value taken from the
// event, such as a Splunk HEC sourcetype, source, host or index: the
// references of IndexTemplate without its index-name rules, and with a
// default for a missing field (as Beats' format strings write it):
//
//   - %{+PATTERN} formats the event time (Event.Time, in UTC) with the Joda
//     pattern letters IndexTemplate accepts.
//   - %{[field][sub]} or %{field.sub} takes a field of the document (see
//     Field), unchanged: a string unquoted and unescaped, a number or a
//     boolean as its JSON text.
//   - %{[field][sub]:default} or %{field.sub:default} gives default when
//     the field is missing, null, empty, an object or an array. default is
//     literal text up to the closing '}' (it may be empty).
//
// A field without a default that is missing, null, empty, an object or an
// array makes the whole rendering missing: AppendFormat reports false, and
// the caller leaves the value out (a HEC member then takes the token's
// default). So does a rendering that is empty.
//
// A TextTemplate is safe for concurrent use.
type TextTemplate struct {
	raw      string
	parts    []textPart
	hasField bool
	hasDate  bool
}

type textPart struct {
	kind   partKind
	text   string // partText
	date   []dateItem
	field  string // partField: dotted path
	def    string // partField: the default, when hasDef
	hasDef bool
}

// ParseTextTemplate parses a text template. It fails on an empty template,
// a reference that is not closed, an empty field name, an unknown or
// unsupported date pattern, or text that is not valid UTF-8. Errors are one
// line without a config path.
func ParseTextTemplate(s string) (*TextTemplate, error) {
	if s == "" {
		return nil, errors.New("empty template")
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("template is not valid UTF-8")
	}
	t := &TextTemplate{raw: s}
	err := scanRefs(s, func(text string) {
		t.parts = append(t.parts, textPart{kind: partText, text: text})
	}, func(ref string) error {
		if strings.HasPrefix(ref, "+") {
			items, _, err := parseDatePattern(ref[1:])
			if err != nil {
				return err
			}
			t.parts = append(t.parts, textPart{kind: partDate, date: items})
			t.hasDate = true
			return nil
		}
		ref, def, hasDef := splitDefault(ref)
		path, err := parseFieldRef(ref)
		if err != nil {
			return err
		}
		t.parts = append(t.parts, textPart{kind: partField, field: path, def: def, hasDef: hasDef})
		t.hasField = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// scanRefs splits a template into literal text and the references
// between "%{" and "}", calling text and ref for each in order. It fails on
// an unclosed reference or with ref's error.
func scanRefs(s string, text func(string), ref func(string) error) error {
	for s != "" {
		i := strings.Index(s, "%{")
		if i < 0 {
			text(s)
			return nil
		}
		if i > 0 {
			text(s[:i])
		}
		s = s[i+2:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return errors.New(`unclosed "%{"`)
		}
		if err := ref(s[:end]); err != nil {
			return err
		}
		s = s[end+1:]
	}
	return nil
}

// splitDefault splits "[a][b]:def" or "a.b:def" into the reference and the
// default. In the bracket form the default starts after the last ']'.
func splitDefault(ref string) (string, string, bool) {
	from := 0
	if strings.HasPrefix(ref, "[") {
		from = strings.LastIndexByte(ref, ']') + 1
	}
	i := strings.IndexByte(ref[from:], ':')
	if i < 0 {
		return ref, "", false
	}
	return ref[:from+i], ref[from+i+1:], true
}

// String returns the template as it was parsed.
func (t *TextTemplate) String() string { return t.raw }

// IsStatic reports whether the template has no references: it always
// renders as the text it was parsed from.
func (t *TextTemplate) IsStatic() bool { return !t.hasField && !t.hasDate }

// UsesFields reports whether the template refers to fields of the
// document.
func (t *TextTemplate) UsesFields() bool { return t.hasField }

// AppendFormat appends the rendering for e to dst. ok is false, and dst is
// returned unchanged, when the rendering is missing (see TextTemplate).
func (t *TextTemplate) AppendFormat(dst []byte, e *Event) (_ []byte, ok bool) {
	start := len(dst)
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			dst = append(dst, p.text...)
		case partDate:
			tm := e.Time
			if tm.Before(minTime) {
				tm = minTime
			} else if tm.After(maxTime) {
				tm = maxTime
			}
			dst = appendDate(dst, p.date, tm.UTC())
		case partField:
			var found bool
			dst, found = appendTextValue(dst, e.Doc, p.field)
			if !found {
				if !p.hasDef {
					return dst[:start], false
				}
				dst = append(dst, p.def...)
			}
		}
	}
	if len(dst) == start {
		return dst, false
	}
	return dst, true
}

// Format returns the rendering for e, "" and false when it is missing.
func (t *TextTemplate) Format(e *Event) (string, bool) {
	if t.IsStatic() {
		return t.raw, true
	}
	var buf [128]byte
	b, ok := t.AppendFormat(buf[:0], e)
	return string(b), ok
}

// appendTextValue appends the text of the field at path: a string
// unescaped (invalid UTF-8 replaced by U+FFFD), a number or a boolean as
// its JSON text. It reports false, appending nothing, for a missing, null
// or empty field, an object, an array or a string with a malformed
// escape.
func appendTextValue(dst, doc []byte, path string) ([]byte, bool) {
	raw, ok := lookup(doc, path)
	if !ok {
		return dst, false
	}
	switch raw[0] {
	case '{', '[':
		return dst, false
	case '"':
		inner := raw[1 : len(raw)-1]
		if len(inner) == 0 {
			return dst, false
		}
		for _, c := range inner {
			if c == '\\' {
				s, _ := unescape(inner)
				if s == "" {
					return dst, false
				}
				return append(dst, strings.ToValidUTF8(s, "\uFFFD")...), true
			}
		}
		if !utf8.Valid(inner) {
			return append(dst, strings.ToValidUTF8(string(inner), "\uFFFD")...), true
		}
		return append(dst, inner...), true
	}
	if !utf8.Valid(raw) { // a malformed document: never pass invalid UTF-8 on
		return append(dst, strings.ToValidUTF8(string(raw), "\uFFFD")...), true
	}
	return append(dst, raw...), true
}

// textTemplateSample is the time ParseTextTemplate's callers may render a
// template with to check its literal text (see IndexTemplate's sample).
var textTemplateSample = time.Date(2024, 12, 28, 23, 59, 59, 0, time.UTC)

// Sample renders the template with the widest dates and with the field
// references given their default, or "x" when they have none: what is left
// to check comes from the literal text. A caller that restricts the
// characters of a value (a Splunk index name) checks the sample.
func (t *TextTemplate) Sample() string {
	var b []byte
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			b = append(b, p.text...)
		case partDate:
			b = appendDate(b, p.date, textTemplateSample)
		case partField:
			if p.hasDef {
				b = append(b, p.def...)
			} else {
				b = append(b, 'x')
			}
		}
	}
	return string(b)
}

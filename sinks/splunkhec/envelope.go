package splunkhec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// envelope builds HEC event envelopes. Everything that does not depend on
// the event is encoded once, at New.
type envelope struct {
	hostField string              // dotted path into the event, "" for none
	host      *event.TextTemplate // nil for none; the fallback of hostField
	// dynamic are the source, sourcetype and index members rendered per
	// event (templates with references), in that order.
	dynamic []metaMember
	// static holds the encoded ,"source":..,"sourcetype":..,"index":..
	// members whose value is literal text (each only when set) followed
	// by ,"event":
	static []byte
	kafka  bool           // the kafka_* indexed fields
	fields []indexedField // configured indexed fields, by name
}

// metaMember is one of source, sourcetype, index rendered from a template
// per event.
type metaMember struct {
	prefix []byte // ,"name":
	tmpl   *event.TextTemplate
	index  bool // the value is made a valid Splunk index name
}

// indexedField is one configured indexed field.
type indexedField struct {
	key  []byte // "name":
	path string // dotted path into the event
}

// newEnvelope prepares the envelope of cfg (checked by config).
func newEnvelope(cfg *config.SplunkHEC) (*envelope, error) {
	env := &envelope{hostField: cfg.HostField, kafka: cfg.WithKafkaFields()}
	for _, m := range []struct {
		name, val string
	}{{"host", cfg.Host}, {"source", cfg.Source}, {"sourcetype", cfg.Sourcetype}, {"index", cfg.Index}} {
		if m.val == "" {
			continue
		}
		t, err := event.ParseTextTemplate(m.val)
		if err != nil {
			return nil, fmt.Errorf("splunk hec: %s: %w", m.name, err)
		}
		switch {
		case m.name == "host":
			env.host = t
		case t.IsStatic():
			env.static = appendMember(env.static, m.name)
			env.static = text.AppendJSONString(env.static, m.val)
		default:
			env.dynamic = append(env.dynamic, metaMember{prefix: appendMember(nil, m.name), tmpl: t, index: m.name == "index"})
		}
	}
	env.static = append(env.static, `,"event":`...)
	for _, name := range slices.Sorted(maps.Keys(cfg.Fields)) {
		key := text.AppendJSONString(nil, name)
		env.fields = append(env.fields, indexedField{key: append(key, ':'), path: cfg.Fields[name]})
	}
	return env, nil
}

func appendMember(dst []byte, name string) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	return append(dst, `":`...)
}

// perEventIndex reports whether the index is rendered per event, so that a
// refused index is the event's problem, not the configuration's.
func (env *envelope) perEventIndex() bool {
	for _, m := range env.dynamic {
		if m.index {
			return true
		}
	}
	return false
}

// appendEvent appends the envelope of e, followed by a newline, to dst:
//
//	{"time":1732662000.123,"host":"h","source":"s","sourcetype":"_json",
//	 "index":"i","event":<e.Doc>,"fields":{"kafka_topic":"t",
//	 "kafka_partition":"3","kafka_offset":"12345","user":"alice"}}
//
// e.Doc is a JSON object and is copied as it is, not re-encoded. The
// kafka_* indexed fields make every copy of a record findable in Splunk
// (| tstats count where kafka_offset=...), so the duplicates that
// at-least-once delivery can create after a retry or a replay can be
// found and removed at search time. A metadata member whose template
// renders missing is left out (HEC then uses the token's default), and so
// is "fields" when it would be empty. HEC accepts white space between
// envelopes; the newline only helps a human reading a capture.
func (env *envelope) appendEvent(dst []byte, e *event.Event) []byte {
	dst = append(dst, '{')
	mark := len(dst)
	if ts := eventTime(e); !ts.IsZero() {
		dst = append(dst, `"time":`...)
		dst = appendEpochMillis(dst, ts)
	}
	hostDone := false
	if env.hostField != "" {
		if h, ok := event.Field(e.Doc, env.hostField); ok && h != "" {
			dst = appendMember(dst, "host")
			dst = text.AppendJSONString(dst, h)
			hostDone = true
		}
	}
	if !hostDone && env.host != nil {
		dst = appendRendered(dst, hostPrefix, env.host, false, e)
	}
	for _, m := range env.dynamic {
		dst = appendRendered(dst, m.prefix, m.tmpl, m.index, e)
	}
	dst = append(dst, env.static...)
	// Every member after "time" starts with a comma; without a time the
	// first one must lose it. static always holds ,"event": at least.
	if dst[mark] == ',' {
		dst = append(dst[:mark], dst[mark+1:]...)
	}
	dst = append(dst, e.Doc...)
	dst = env.appendFields(dst, e)
	return append(dst, "}\n"...)
}

var hostPrefix = appendMember(nil, "host")

// appendRendered appends prefix and t rendered for e, nothing when it
// renders missing. An index is lowercased, with characters Splunk does not
// allow in an index name replaced by '_'.
func appendRendered(dst, prefix []byte, t *event.TextTemplate, index bool, e *event.Event) []byte {
	var buf [128]byte
	v, ok := t.AppendFormat(buf[:0], e)
	if !ok {
		return dst
	}
	if index {
		v = splunkIndexSafe(v)
	}
	dst = append(dst, prefix...)
	return text.AppendJSONString(dst, v)
}

// splunkIndexSafe makes b, in place, a Splunk index name: lowercase ASCII
// letters, digits, '_' and '-'; anything else (other bytes of a multi-byte
// character included) becomes '_'.
func splunkIndexSafe(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
			i++
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-':
			out = append(out, c)
			i++
		default:
			_, size := utf8.DecodeRune(b[i:])
			out = append(out, '_')
			i += size
		}
	}
	return out
}

// appendFields appends ,"fields":{...} for e, nothing when no field is
// sent.
func (env *envelope) appendFields(dst []byte, e *event.Event) []byte {
	start := len(dst)
	dst = append(dst, `,"fields":{`...)
	open := len(dst)
	if env.kafka {
		dst = append(dst, `"kafka_topic":`...)
		dst = text.AppendJSONString(dst, e.Topic)
		dst = append(dst, `,"kafka_partition":"`...)
		dst = strconv.AppendInt(dst, int64(e.Partition), 10)
		dst = append(dst, `","kafka_offset":"`...)
		dst = strconv.AppendInt(dst, e.Offset, 10)
		dst = append(dst, '"')
	}
	for _, f := range env.fields {
		raw, ok := event.FieldJSON(e.Doc, f.path)
		if !ok {
			continue
		}
		mark := len(dst)
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, f.key...)
		var wrote bool
		if dst, wrote = appendFieldValue(dst, raw); !wrote {
			dst = dst[:mark]
		}
	}
	if len(dst) == open {
		return dst[:start]
	}
	return append(dst, '}')
}

// appendFieldValue appends an indexed field's value for the raw JSON value
// of an event field, in the form HEC documents for "fields" (a string, or
// an array of strings for a multi-value field): a string as it is, a number
// or a boolean quoted, an array of those as an array of strings (other
// elements left out). It reports false, for the caller to drop the field,
// for an empty string, an object, or an array with nothing to send.
func appendFieldValue(dst, raw []byte) ([]byte, bool) {
	switch raw[0] {
	case '{':
		return dst, false
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return dst, false
		}
		start := len(dst)
		dst = append(dst, '[')
		n := 0
		for _, el := range elems {
			if len(el) == 0 || el[0] == '[' || el[0] == '{' || el[0] == 'n' {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendScalar(dst, el); ok {
				n++
			} else if n > 0 {
				dst = dst[:len(dst)-1]
			}
		}
		if n == 0 {
			return dst[:start], false
		}
		return append(dst, ']'), true
	}
	return appendScalar(dst, raw)
}

// appendScalar appends a JSON string as it is (valid JSON from a checked
// document) and a number or a boolean as a string; an empty string is
// refused.
func appendScalar(dst, raw []byte) ([]byte, bool) {
	if raw[0] == '"' {
		if len(raw) <= 2 {
			return dst, false
		}
		return append(dst, raw...), true
	}
	dst = append(dst, '"')
	dst = append(dst, raw...)
	return append(dst, '"'), true
}

// appendRaw appends the raw endpoint's line for e, followed by a newline:
// the record value as consumed when it was not a JSON object (invalid
// UTF-8 replaced by U+FFFD, as in the wrapping), the document otherwise.
// Line breaks inside it become spaces, so that Splunk's default line
// breaking makes one event of it. ok is false, nothing appended, when the
// line would be blank: Splunk drops a blank line, so such an event cannot
// travel this way.
func appendRaw(dst []byte, e *event.Event) (_ []byte, ok bool) {
	src := e.Doc
	if e.Wrapped {
		src = e.Value
		if !utf8.Valid(src) {
			src = bytes.ToValidUTF8(src, []byte("\uFFFD"))
		}
	}
	start := len(dst)
	blank := true
	for _, c := range src {
		switch c {
		case '\r', '\n':
			c = ' '
		case ' ', '\t', '\v', '\f':
		default:
			blank = false
		}
		dst = append(dst, c)
	}
	if blank {
		return dst[:start], false
	}
	return append(dst, '\n'), true
}

// eventTime is the event's own time, or the Kafka timestamp, or zero (then
// HEC uses its receive time). Times before 1970 are dropped: HEC's time is
// a non-negative epoch.
func eventTime(e *event.Event) time.Time {
	t := e.Time
	if t.IsZero() {
		t = e.Timestamp
	}
	if t.IsZero() || t.UnixMilli() < 0 {
		return time.Time{}
	}
	return t
}

// appendEpochMillis appends t as epoch seconds with three decimals, the
// form HEC documents ("1732662000.123"); t must not be before 1970.
func appendEpochMillis(dst []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	dst = strconv.AppendInt(dst, ms/1000, 10)
	frac := ms % 1000
	dst = append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return dst
}

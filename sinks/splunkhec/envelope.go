package splunkhec

import (
	"strconv"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// envelope builds HEC event envelopes. Everything that does not depend on
// the event is encoded once, at New.
type envelope struct {
	host      string // static host, "" for none
	hostField string // dotted path into the event, "" for none
	// static holds the encoded ,"source":..,"sourcetype":..,"index":..
	// members (each only when set) followed by ,"event":
	static []byte
}

func newEnvelope(host, hostField, source, sourcetype, index string) *envelope {
	env := &envelope{host: host, hostField: hostField}
	for _, kv := range [][2]string{{"source", source}, {"sourcetype", sourcetype}, {"index", index}} {
		if kv[1] == "" {
			continue
		}
		env.static = append(env.static, `,"`...)
		env.static = append(env.static, kv[0]...)
		env.static = append(env.static, `":`...)
		env.static = text.AppendJSONString(env.static, kv[1])
	}
	env.static = append(env.static, `,"event":`...)
	return env
}

// appendEvent appends the envelope of e, followed by a newline, to dst:
//
//	{"time":1732662000.123,"host":"h","source":"s","sourcetype":"_json",
//	 "index":"i","event":<e.Doc>,"fields":{"kafka_topic":"t",
//	 "kafka_partition":"3","kafka_offset":"12345"}}
//
// e.Doc is a JSON object and is copied as it is, not re-encoded. The
// kafka_* indexed fields make every copy of a record findable in Splunk
// (| tstats count where kafka_offset=...), so the duplicates that
// at-least-once delivery can create after a retry or a replay can be
// found and removed at search time. HEC accepts white space between
// envelopes; the newline only helps a human reading a capture.
func (env *envelope) appendEvent(dst []byte, e *event.Event) []byte {
	dst = append(dst, '{')
	mark := len(dst)
	if ts := eventTime(e); !ts.IsZero() {
		dst = append(dst, `"time":`...)
		dst = appendEpochMillis(dst, ts)
	}
	host := env.host
	if env.hostField != "" {
		if h, ok := event.Field(e.Doc, env.hostField); ok && h != "" {
			host = h
		}
	}
	if host != "" {
		dst = append(dst, `,"host":`...)
		dst = text.AppendJSONString(dst, host)
	}
	dst = append(dst, env.static...)
	// Every member after "time" starts with a comma; without a time the
	// first one must lose it. static always holds ,"event": at least.
	if dst[mark] == ',' {
		dst = append(dst[:mark], dst[mark+1:]...)
	}
	dst = append(dst, e.Doc...)
	dst = append(dst, `,"fields":{"kafka_topic":`...)
	dst = text.AppendJSONString(dst, e.Topic)
	dst = append(dst, `,"kafka_partition":"`...)
	dst = strconv.AppendInt(dst, int64(e.Partition), 10)
	dst = append(dst, `","kafka_offset":"`...)
	dst = strconv.AppendInt(dst, e.Offset, 10)
	return append(dst, "\"}}\n"...)
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

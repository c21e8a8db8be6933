// Package event turns Kafka records into the JSON documents siembridge
// delivers, and derives from them what every sink needs: a deterministic ID,
// the event time and the target index name.
package event

import (
	"strconv"
	"time"
)

// Event is one Kafka record on its way to a sink. It is created once by the
// bridge when the record is consumed and is read-only after that, so sinks
// may read it from several goroutines; the one exception is Check, which a
// sink may call on an unchecked event of the batch it was given.
type Event struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the Kafka record timestamp.
	Timestamp time.Time
	Key       []byte
	// Value is the record value exactly as consumed.
	Value []byte

	// Doc is the event as one JSON object in valid UTF-8: Value itself
	// (not copied) when it already is one, otherwise a wrapping document
	// (see Wrap).
	Doc []byte
	// Wrapped reports that Doc is a wrapping of a value that was not a JSON
	// object.
	Wrapped bool
	// Time is the event's own time: the top-level "@timestamp" of Doc when
	// present and parseable, otherwise Timestamp.
	Time time.Time
	// Unchecked reports that Doc is Value as Skim let it through: it looks
	// like a JSON object (braces at both ends, valid UTF-8, one line) but
	// its grammar was not checked, so it may not be valid JSON. The bridge
	// makes such events only for sinks that accept them (see
	// sinks.UncheckedAcceptor); everywhere else Doc is a valid object.
	Unchecked bool
}

// New builds an Event from a consumed record and decodes its value (see
// Decode). It never fails: a value that is not a JSON object is wrapped.
func New(topic string, partition int32, offset int64, ts time.Time, key, value []byte) *Event {
	e := new(Event)
	e.Init(topic, partition, offset, ts, key, value, false)
	return e
}

// Init sets e to the Event New would return. It lets a caller that makes
// many events allocate them together. With skim, the value is decoded with
// Skim instead of Decode.
func (e *Event) Init(topic string, partition int32, offset int64, ts time.Time, key, value []byte, skim bool) {
	*e = Event{Topic: topic, Partition: partition, Offset: offset, Timestamp: ts, Key: key, Value: value}
	if skim {
		e.Doc, e.Wrapped, e.Time, e.Unchecked = Skim(topic, partition, offset, ts, value)
		return
	}
	e.Doc, e.Wrapped, e.Time = Decode(topic, partition, offset, ts, value)
}

// Checked returns e itself when its Doc is a checked JSON object, and
// otherwise a copy whose Doc is checked with Decode: value itself when it is
// a valid object, its wrapping when not.
func (e *Event) Checked() *Event {
	if !e.Unchecked {
		return e
	}
	c := *e
	c.Check()
	return &c
}

// Check turns an unchecked event, in place, into exactly what Init without
// skim (Decode) would have made: Doc is Value when that is a valid JSON
// object, its wrapping otherwise, and Unchecked is false. It does nothing
// to a checked event. A sink may call it on an event of the batch it was
// given (see sinks.UncheckedAcceptor), during Send; it must not be called
// while another goroutine reads e.
func (e *Event) Check() {
	if !e.Unchecked {
		return
	}
	e.Unchecked = false
	e.Doc, e.Wrapped, e.Time = Decode(e.Topic, e.Partition, e.Offset, e.Timestamp, e.Value)
}

// ID returns the deterministic document ID of the event:
// "<topic>+<partition>+<offset>". Kafka topic names are limited to
// [a-zA-Z0-9._-], so the ID is unambiguous and well within Elasticsearch's
// 512-byte limit. Retries and replays of the same record produce the same ID.
func (e *Event) ID() string {
	return ID(e.Topic, e.Partition, e.Offset)
}

// ID is Event.ID for a topic, partition and offset.
func ID(topic string, partition int32, offset int64) string {
	b := make([]byte, 0, len(topic)+24)
	b = append(b, topic...)
	b = append(b, '+')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '+')
	b = strconv.AppendInt(b, offset, 10)
	return string(b)
}

// Size is the number of bytes the event costs in buffers and rate limits:
// the length of its document.
func (e *Event) Size() int { return len(e.Doc) }

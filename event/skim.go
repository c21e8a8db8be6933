package event

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// Skim is Decode for sinks whose server parses every document and rejects
// a malformed one on its own, item by item (Elasticsearch): there the
// bridge's full grammar check (scan) is work done twice, and at several
// hundred thousand events a second it is the largest cost of the bridge.
//
// When value looks like a JSON object and carries its time up front, Skim
// returns it unchecked: doc is value, unchecked is true and t is the time.
// "Looks like" means: '{' is its first byte and '}' its last, it is valid
// UTF-8 and one line (no '\n', which would break NDJSON framing), and its
// first key is "@timestamp" with a string value without escapes or a
// number, in a form Decode accepts. Beats, Logstash, Vector and most
// shippers write "@timestamp" first (it also sorts first). Its grammar is
// not checked: a sink that receives an unchecked event must, when the
// server rejects it, check it with Decode and send the wrapping if it is
// not a valid object (see Event.Unchecked).
//
// Every other value gets Decode's answer, with unchecked false. For a valid
// object the only difference from Decode is which of several top-level
// "@timestamp" keys counts: Skim takes the first, Decode the last; a server
// that rejects duplicate keys (Elasticsearch does) makes that moot.
func Skim(topic string, partition int32, offset int64, ts time.Time, value []byte) (doc []byte, wrapped bool, t time.Time, unchecked bool) {
	if t, ok := leadingTime(value); ok && utf8.Valid(value) && bytes.IndexByte(value, '\n') < 0 {
		return value, false, t, true
	}
	doc, wrapped, t = Decode(topic, partition, offset, ts, value)
	return doc, wrapped, t, false
}

// leadingTime parses the value of "@timestamp" when it is the first key of
// value, which must start with '{' and end with '}'. Blanks are allowed
// around the colon and after the brace, as json.dumps and friends write.
func leadingTime(value []byte) (time.Time, bool) {
	const key = `"@timestamp"`
	n := len(value)
	if n < len(key)+4 || value[0] != '{' || value[n-1] != '}' {
		return time.Time{}, false
	}
	i := skipBlanksAt(value, 1)
	if !bytes.HasPrefix(value[i:], []byte(key)) {
		return time.Time{}, false
	}
	i = skipBlanksAt(value, i+len(key))
	if i >= n || value[i] != ':' {
		return time.Time{}, false
	}
	i = skipBlanksAt(value, i+1)
	if i >= n {
		return time.Time{}, false
	}
	if value[i] == '"' {
		j := bytes.IndexByte(value[i+1:], '"')
		if j < 0 {
			return time.Time{}, false
		}
		raw := value[i+1 : i+1+j]
		if bytes.IndexByte(raw, '\\') >= 0 {
			return time.Time{}, false
		}
		return parseTimestamp(raw)
	}
	j := i
	for j < n && (value[j] == '-' || value[j] >= '0' && value[j] <= '9') {
		j++
	}
	if j == i || j >= n || value[j] != ',' && value[j] != '}' && value[j] != ' ' {
		return time.Time{}, false
	}
	return parseEpochMillis(value[i:j])
}

func skipBlanksAt(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

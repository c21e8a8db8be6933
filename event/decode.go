package event

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Decode returns the JSON document for a record value: value itself when it
// is a JSON object in valid UTF-8, otherwise Wrap's document. t is the event
// time (see Event.Time).
func Decode(topic string, partition int32, offset int64, ts time.Time, value []byte) (doc []byte, wrapped bool, t time.Time) {
	if utf8.Valid(value) && json.Valid(value) && len(value) > 0 && value[0] == '{' {
		var v struct {
			TS string `json:"@timestamp"`
		}
		if json.Unmarshal(value, &v) == nil && v.TS != "" {
			if pt, err := time.Parse(time.RFC3339Nano, v.TS); err == nil {
				return value, false, pt
			}
		}
		return value, false, ts
	}
	return Wrap(topic, partition, offset, ts, value), true, ts
}

// Wrap builds the document for a value that is not a JSON object.
func Wrap(topic string, partition int32, offset int64, ts time.Time, value []byte) []byte {
	text := string(value)
	if !utf8.ValidString(text) {
		text = string([]rune(text))
	}
	doc := map[string]any{
		"@timestamp": ts.UTC().Format(time.RFC3339Nano),
		"message":    text,
		"event":      map[string]any{"original": text},
		"kafka":      map[string]any{"topic": topic, "partition": partition, "offset": offset, "timestamp": ts.UTC().Format(time.RFC3339Nano)},
	}
	b, _ := json.Marshal(doc)
	return b
}

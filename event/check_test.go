package event

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// TestCheck: Check turns a skimmed event into the event Decode makes, in
// place; Checked does the same on a copy.
func TestCheck(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, value := range []string{
		`{"@timestamp":"2024-01-02T03:04:05Z","a":1}`,
		`{"@timestamp":"2024-01-02T03:04:05Z",bad}`,
		`{"@timestamp":1704164645000,"a":1,}`,
		`{"@timestamp":"2024-01-02T03:04:05Z","@timestamp":"2025-01-01T00:00:00Z"}`,
		`not JSON`,
	} {
		var want, skimmed Event
		want.Init("t", 1, 7, ts, []byte("k"), []byte(value), false)
		skimmed.Init("t", 1, 7, ts, []byte("k"), []byte(value), true)
		before := skimmed
		c := skimmed.Checked()
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("%s: Checked() = %+v, want %+v", value, *c, want)
		}
		if !reflect.DeepEqual(skimmed, before) {
			t.Errorf("%s: Checked changed the event", value)
		}
		skimmed.Check()
		if !reflect.DeepEqual(skimmed, want) {
			t.Errorf("%s: after Check %+v, want %+v", value, skimmed, want)
		}
		doc := skimmed.Doc
		skimmed.Check() // a checked event stays as it is
		if !bytes.Equal(skimmed.Doc, doc) || skimmed.Unchecked {
			t.Errorf("%s: a second Check changed the event", value)
		}
		if c := skimmed.Checked(); c != &skimmed {
			t.Errorf("%s: Checked of a checked event is a copy", value)
		}
	}
}

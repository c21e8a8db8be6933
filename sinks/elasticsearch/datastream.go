package elasticsearch

import (
	"strings"
	"unicode/utf8"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

// dataStream names the data stream of each event, <type>-<dataset>-<namespace>
// in Elastic's naming scheme. Data streams take only the create action,
// which config enforces.
type dataStream struct {
	typ, dataset, namespace string
	static                  string // the configured stream's name
	autoRouting             bool
}

func newDataStream(c config.DataStream) *dataStream {
	return &dataStream{
		typ: c.Type, dataset: c.Dataset, namespace: c.Namespace,
		static:      c.Type + "-" + c.Dataset + "-" + c.Namespace,
		autoRouting: c.AutoRouting,
	}
}

// dataStreamTypes are the types Elastic's index templates make data
// streams of.
var dataStreamTypes = []string{"logs", "metrics", "traces", "synthetics"}

// appendName appends the data stream of e to dst. With auto routing each
// part comes from the event's data_stream.type, data_stream.dataset and
// data_stream.namespace when that field is a string which, lowercased and
// with the characters a data stream name cannot hold replaced by '_', is a
// valid part; any other part is the configured one. A type must be one of
// dataStreamTypes as it is.
func (d *dataStream) appendName(dst []byte, e *event.Event) []byte {
	if !d.autoRouting {
		return append(dst, d.static...)
	}
	typ := d.typ
	if v, ok := stringField(e.Doc, "data_stream.type"); ok {
		for _, t := range dataStreamTypes {
			if v == t {
				typ = t
			}
		}
	}
	dst = append(dst, typ...)
	dst = append(dst, '-')
	dst = append(dst, eventPart(e.Doc, "data_stream.dataset", d.dataset)...)
	dst = append(dst, '-')
	return append(dst, eventPart(e.Doc, "data_stream.namespace", d.namespace)...)
}

// eventPart is the dataset or namespace the field at path of doc gives,
// sanitised, or def.
func eventPart(doc []byte, path, def string) string {
	v, ok := stringField(doc, path)
	if !ok {
		return def
	}
	v = sanitizePart(v)
	if config.DataStreamPartProblem(v) != "" {
		return def
	}
	return v
}

// stringField returns the string at path in doc; a number, an object or
// any other value is not one.
func stringField(doc []byte, path string) (string, bool) {
	raw, ok := event.FieldJSON(doc, path)
	if !ok || raw[0] != '"' {
		return "", false
	}
	return event.Field(doc, path)
}

// sanitizePart lowercases v, replaces what a dataset or namespace cannot
// hold ('-', the characters Elasticsearch forbids in index names, control
// characters, invalid UTF-8) by '_', and cuts it to
// config.MaxDataStreamPartLen bytes on a rune boundary.
func sanitizePart(v string) string {
	v = strings.ToLower(v)
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || strings.ContainsRune("-\\/*?\"<>|,#: ", r) {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > config.MaxDataStreamPartLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

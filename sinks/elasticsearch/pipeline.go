package elasticsearch

import (
	"strings"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// pipeline is the ingest pipeline parameter of each action line:
// `,"pipeline":"name"` or nothing.
type pipeline struct {
	static []byte               // the parameter when it is the same for every event
	tmpl   *event.IndexTemplate // a per-event name; nil when static
	// field is the dotted path of a template that is one field reference:
	// an event without the field gets no pipeline (the index's default
	// pipeline applies) rather than one named "unknown".
	field string
}

// newPipeline parses the pipeline setting: "" for none, a name, or with
// "%{" a template in the syntax of the index (event.IndexTemplate; field
// values are lowercased as in index names).
func newPipeline(p string) (*pipeline, error) {
	if !strings.Contains(p, "%{") {
		if p == "" {
			return &pipeline{}, nil
		}
		return &pipeline{static: text.AppendJSONString([]byte(`,"pipeline":`), p)}, nil
	}
	tmpl, err := event.ParseIndexTemplate(p)
	if err != nil {
		return nil, err
	}
	pl := &pipeline{tmpl: tmpl}
	if inner, ok := strings.CutPrefix(p, "%{"); ok && strings.IndexByte(inner, '}') == len(inner)-1 && inner[0] != '+' {
		// "[a][b]" or "a.b", already checked by ParseIndexTemplate.
		pl.field = strings.ReplaceAll(strings.Trim(inner[:len(inner)-1], "[]"), "][", ".")
	}
	return pl, nil
}

func (p *pipeline) usesFields() bool { return p.tmpl != nil && p.tmpl.UsesFields() }

// appendParam appends e's pipeline parameter to dst, rendering a template
// into scratch, which it returns for reuse.
func (p *pipeline) appendParam(dst, scratch []byte, e *event.Event) ([]byte, []byte) {
	if p.tmpl == nil {
		return append(dst, p.static...), scratch
	}
	if p.field != "" {
		if _, ok := event.FieldJSON(e.Doc, p.field); !ok {
			return dst, scratch
		}
	}
	scratch = p.tmpl.AppendFormat(scratch[:0], e)
	dst = append(dst, `,"pipeline":`...)
	return text.AppendJSONString(dst, scratch), scratch
}

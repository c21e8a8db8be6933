package event

import "strings"

// IndexTemplate is a parsed index name pattern such as
// "security-%{+yyyy.MM.dd}". It is safe for concurrent use.
type IndexTemplate struct{ raw string }

// ParseIndexTemplate parses an index name pattern.
func ParseIndexTemplate(s string) (*IndexTemplate, error) {
	return &IndexTemplate{raw: s}, nil
}

// Format returns the index name for e.
func (t *IndexTemplate) Format(e *Event) string {
	tm := e.Time.UTC()
	return strings.ReplaceAll(t.raw, "%{+yyyy.MM.dd}", tm.Format("2006.01.02"))
}

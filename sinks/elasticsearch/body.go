package elasticsearch

import (
	"strconv"
	"unicode/utf8"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// appendID appends e's document ID as a JSON string without allocating:
// the same "<topic>+<partition>+<offset>" as event.ID (a test holds the two
// equal). Kafka topic names are [a-zA-Z0-9._-], so nothing needs escaping;
// text.AppendJSONString still guards against a topic that breaks the rule.
func appendID(b []byte, e *event.Event) []byte {
	for i := 0; i < len(e.Topic); i++ {
		if c := e.Topic[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return text.AppendJSONString(b, e.ID())
		}
	}
	b = append(b, '"')
	b = append(b, e.Topic...)
	b = append(b, '+')
	b = strconv.AppendInt(b, int64(e.Partition), 10)
	b = append(b, '+')
	b = strconv.AppendInt(b, e.Offset, 10)
	return append(b, '"')
}

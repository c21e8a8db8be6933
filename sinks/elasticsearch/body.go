package elasticsearch

import (
	"strconv"
	"unicode/utf8"

	"github.com/siembridge/siembridge/event"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. Index names from
// event.IndexTemplate are already safe, but the action line must stay valid
// JSON whatever the template produces, and this costs nothing when there
// is nothing to escape. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendID appends e's document ID as a JSON string without allocating:
// the same "<topic>+<partition>+<offset>" as event.ID (a test holds the two
// equal). Kafka topic names are [a-zA-Z0-9._-], so nothing needs escaping;
// appendJSONString still guards against a topic that breaks the rule.
func appendID(b []byte, e *event.Event) []byte {
	for i := 0; i < len(e.Topic); i++ {
		if c := e.Topic[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendJSONString(b, []byte(e.ID()))
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

package gen

import (
	"strconv"

	"github.com/siembridge/siembridge/event"
)

// seqAt is where the sequence number starts in an event as Generator makes
// it: after {"@timestamp":"2006-01-02T15:04:05.000Z","labels":{"seq":
const (
	seqAt     = len(tsPrefix + "2006-01-02T15:04:05.000Z" + labelsKey)
	tsPrefix  = `{"@timestamp":"`
	labelsKey = `","labels":{"seq":`
)

// Seq returns the "labels.seq" of an event. For an event as Generator made
// it, it reads the number at its fixed place without allocating; any other
// JSON object (one a sink reformatted, say) is searched with event.Field.
// ok is false when there is no integer labels.seq.
func Seq(doc []byte) (seq int64, ok bool) {
	if len(doc) > seqAt && string(doc[:len(tsPrefix)]) == tsPrefix && string(doc[seqAt-len(labelsKey):seqAt]) == labelsKey {
		i, n := seqAt, int64(0)
		neg := doc[i] == '-'
		if neg {
			i++
		}
		start := i
		for ; i < len(doc) && i-start < 18 && doc[i] >= '0' && doc[i] <= '9'; i++ {
			n = n*10 + int64(doc[i]-'0')
		}
		if i > start && i < len(doc) && doc[i] == '}' {
			if neg {
				n = -n
			}
			return n, true
		}
	}
	s, ok := event.Field(doc, "labels.seq")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

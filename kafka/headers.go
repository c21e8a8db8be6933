package kafka

import (
	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

// AttachHeaders adds a consumed record's headers to its event as
// kafka.headers says (see event.Event.AddHeaders): nothing when
// headers.include is off or the record has none. Call it right after the
// event is made from the record, before its size is counted.
func AttachHeaders(ev *event.Event, hs []*sarama.RecordHeader, h config.KafkaHeaders) {
	if !h.Include || len(hs) == 0 {
		return
	}
	conv := make([]event.Header, 0, len(hs))
	for _, rh := range hs {
		if rh != nil {
			conv = append(conv, event.Header{Key: rh.Key, Value: rh.Value})
		}
	}
	ev.AddHeaders(h.Field, conv)
}

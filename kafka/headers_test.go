package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestAttachHeaders: headers produced with a record reach the event's
// document under the configured field only when include is on.
func TestAttachHeaders(t *testing.T) {
	c, err := kafkatest.Start(1, []string{"hdr"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := kafkatest.NewProducer(c.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	hs := []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-abc-01")}, {Key: []byte("tenant"), Value: []byte("blue")}, {Key: []byte("tenant"), Value: []byte("green")}}
	err = p.Send(kafkatest.Record{Topic: "hdr", Value: []byte(`{"msg":"x"}`), Headers: hs})
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := kafkatest.ReadAll(ctx, c.Brokers(), "hdr")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("read %d: %v", len(msgs), err)
	}
	m := msgs[0]
	for _, tc := range []struct {
		name string
		h    config.KafkaHeaders
		want string
	}{
		{"off", config.KafkaHeaders{Include: false, Field: "kafka.headers"}, `{"msg":"x"}`},
		{"on", config.KafkaHeaders{Include: true, Field: "kafka.headers"}, `{"kafka.headers":{"traceparent":"00-abc-01","tenant":["blue","green"]},"msg":"x"}`},
		{"other field", config.KafkaHeaders{Include: true, Field: "meta"}, `{"meta":{"traceparent":"00-abc-01","tenant":["blue","green"]},"msg":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := event.New(m.Topic, m.Partition, m.Offset, m.Timestamp, m.Key, m.Value)
			AttachHeaders(ev, m.Headers, tc.h)
			if string(ev.Doc) != tc.want {
				t.Fatalf("doc %s, want %s", ev.Doc, tc.want)
			}
		})
	}
}

package deliver

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/text"
)

// Rejected is an event the sink refused for good, with why.
type Rejected struct {
	Event  *event.Event
	Status int    // the sink's status code, 0 if none
	Reason string // the sink's words
}

// DeadLetter keeps the events a sink rejected. Write blocks until every
// one of them is kept, or ctx ends (then it returns ctx.Err() and none may
// be taken as kept). A reject is never dropped.
type DeadLetter interface {
	Write(ctx context.Context, rejects []Rejected) error
}

// Dead-letter record headers.
const (
	HeaderTopic     = "siembridge.original.topic"
	HeaderPartition = "siembridge.original.partition"
	HeaderOffset    = "siembridge.original.offset"
	HeaderTimestamp = "siembridge.original.timestamp"
	HeaderRoute     = "siembridge.route"
	HeaderSink      = "siembridge.sink"
	HeaderStatus    = "siembridge.status"
	HeaderReason    = "siembridge.reason"
	// HeaderValueOmitted is set when the value was too large for the
	// dead-letter topic and was left out.
	HeaderValueOmitted = "siembridge.value_omitted"
)

// KafkaDeadLetter writes rejects to a Kafka topic: the original key, value
// and timestamp, and headers naming where the event came from and why it
// was rejected. Set Producer before the first Write.
type KafkaDeadLetter struct {
	Topic    string
	Route    string
	SinkType string
	// Producer must wait for all in-sync replicas (kafka.SaramaConfig).
	Producer sarama.SyncProducer
	// Retry is the backoff while the topic is not writable.
	Retry config.Retry
	Log   *slog.Logger
}

// Write sends rejects, retrying until Kafka acknowledged every one or ctx
// ends. A value the topic will never take (too large) is left out of its
// record, which still points at the original, and a header says so.
func (d *KafkaDeadLetter) Write(ctx context.Context, rejects []Rejected) error {
	msgs := make([]*sarama.ProducerMessage, len(rejects))
	for i, rj := range rejects {
		msgs[i] = d.message(rj)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = d.Retry.InitialInterval, d.Retry.MaxInterval
	bo.MaxElapsedTime = 0
	bo.Reset()
	failing := false
	for {
		err := d.Producer.SendMessages(msgs)
		if err == nil {
			break
		}
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) {
			retry := make([]*sarama.ProducerMessage, 0, len(perrs))
			for _, pe := range perrs {
				if errors.Is(pe.Err, sarama.ErrMessageSizeTooLarge) && pe.Msg.Value != nil {
					pe.Msg.Value = nil
					pe.Msg.Headers = append(pe.Msg.Headers, sarama.RecordHeader{
						Key: []byte(HeaderValueOmitted), Value: []byte("value larger than the dead-letter topic accepts; read it at the original topic/partition/offset"),
					})
				}
				retry = append(retry, pe.Msg)
			}
			msgs = retry
		}
		if !failing {
			d.log().Error("dead-letter topic not writable; partition waits", "topic", d.Topic, "events", len(msgs), "err", err)
			failing = true
		}
		t := time.NewTimer(bo.NextBackOff())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if failing {
		d.log().Info("dead-letter topic writable again", "topic", d.Topic)
	}
	return nil
}

func (d *KafkaDeadLetter) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

func (d *KafkaDeadLetter) message(rj Rejected) *sarama.ProducerMessage {
	ev := rj.Event
	return &sarama.ProducerMessage{
		Topic:     d.Topic,
		Key:       byteEncoder(ev.Key),
		Value:     byteEncoder(ev.Value),
		Timestamp: ev.Timestamp,
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderTopic), Value: []byte(ev.Topic)},
			{Key: []byte(HeaderPartition), Value: strconv.AppendInt(nil, int64(ev.Partition), 10)},
			{Key: []byte(HeaderOffset), Value: strconv.AppendInt(nil, ev.Offset, 10)},
			{Key: []byte(HeaderTimestamp), Value: []byte(ev.Timestamp.UTC().Format(time.RFC3339Nano))},
			{Key: []byte(HeaderRoute), Value: []byte(d.Route)},
			{Key: []byte(HeaderSink), Value: []byte(d.SinkType)},
			{Key: []byte(HeaderStatus), Value: strconv.AppendInt(nil, int64(rj.Status), 10)},
			{Key: []byte(HeaderReason), Value: []byte(strings.ToValidUTF8(text.Truncate(rj.Reason, 1024), ""))},
		},
	}
}

// byteEncoder keeps a nil key nil (sarama.ByteEncoder(nil) would send an
// empty key rather than a null one).
func byteEncoder(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

// Package kafkatest runs an in-process Kafka-protocol broker (kfake) and
// offers the few client operations that tests, the demo and benchmarks
// need: producing many records, reading a topic back, and reading a
// group's committed offsets. Everything goes through sarama, the same
// client the bridge uses.
package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is an in-process broker.
type Cluster struct {
	*kfake.Cluster
}

// Start starts a one-broker cluster that creates topics on demand, with the
// given topics seeded with partitions each. Extra kfake options are
// appended. Close it when done.
func Start(partitions int32, topics []string, opts ...kfake.Opt) (*Cluster, error) {
	all := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}
	if len(topics) > 0 {
		all = append(all, kfake.SeedTopics(partitions, topics...))
	}
	all = append(all, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// Brokers returns the bootstrap addresses.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Config returns a sarama configuration suited to tests.
func Config() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.MaxMessageBytes = 16 << 20
	sc.Producer.Flush.Messages = 500
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Consumer.Return.Errors = true
	return sc
}

// Record is one record to produce.
type Record struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
	Timestamp time.Time // zero: now
	Headers   []sarama.RecordHeader
}

// Producer writes records synchronously in batches.
type Producer struct {
	client sarama.Client
	p      sarama.SyncProducer
}

// NewProducer connects a producer to brokers.
func NewProducer(brokers []string) (*Producer, error) {
	client, err := sarama.NewClient(brokers, Config())
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Producer{client: client, p: p}, nil
}

// Send writes recs and returns when the broker acknowledged all of them.
func (p *Producer) Send(recs ...Record) error {
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Timestamp: r.Timestamp, Headers: r.Headers}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		if m.Timestamp.IsZero() {
			m.Timestamp = time.Now()
		}
		msgs[i] = m
	}
	return p.p.SendMessages(msgs)
}

// Close closes the producer and its client.
func (p *Producer) Close() error {
	err := p.p.Close()
	p.client.Close()
	return err
}

// EndOffsets returns the log-end offset of each partition of topic.
func EndOffsets(brokers []string, topic string) (map[int32]int64, error) {
	client, err := sarama.NewClient(brokers, Config())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, nil
}

// Committed returns the committed offsets of group for topic (-1 where none).
func Committed(brokers []string, group, topic string) (map[int32]int64, error) {
	admin, err := sarama.NewClusterAdmin(brokers, Config())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, b := range resp.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("offset of %s/%d: %w", topic, p, b.Err)
		}
		out[p] = b.Offset
	}
	return out, nil
}

// ReadAll reads every record of topic from the beginning up to the log end
// captured at the call, or until ctx ends.
func ReadAll(ctx context.Context, brokers []string, topic string) ([]*sarama.ConsumerMessage, error) {
	ends, err := EndOffsets(brokers, topic)
	if err != nil {
		return nil, err
	}
	consumer, err := sarama.NewConsumer(brokers, Config())
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var out []*sarama.ConsumerMessage
	for p, end := range ends {
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		for {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				if m.Offset+1 >= end {
					goto next
				}
			case err := <-pc.Errors():
				pc.Close()
				return nil, err
			case <-ctx.Done():
				pc.Close()
				return out, ctx.Err()
			}
		}
	next:
		pc.Close()
	}
	return out, nil
}

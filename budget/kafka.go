package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Ledger topic settings: one partition (every member reads all of it),
// compacted so that only the latest entry of each member and day is kept,
// and deleted after a week so that old days go.
const (
	ledgerRetention = 7 * 24 * time.Hour
	// ledgerDays is how many budget days of entries a reader keeps.
	ledgerDays = 2
)

// KafkaLedger is a Ledger on a compacted Kafka topic with one partition.
// Every process of a route writes its entries there and reads everyone's.
// Close must be called; it is safe for concurrent use.
type KafkaLedger struct {
	topic  string
	client sarama.Client
	prod   sarama.SyncProducer
	cons   sarama.Consumer
	pc     sarama.PartitionConsumer
	log    *slog.Logger

	mu      sync.Mutex
	entries map[string]Entry
	latest  int64         // the latest day seen
	end     int64         // the reader closes caught at this offset; 0: done
	caught  chan struct{} // closed once the reader reached the end seen at open
	done    chan struct{}
}

var _ Ledger = (*KafkaLedger)(nil)

// OpenKafkaLedger connects to brokers with a copy of sc, creates the topic
// when it is missing, and starts reading it from the beginning. Call
// WaitRead before trusting Day.
func OpenKafkaLedger(brokers []string, sc *sarama.Config, topic string, log *slog.Logger) (*KafkaLedger, error) {
	c := *sc
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Idempotent = false
	// One small record per exchange: sent at once, not lingering for a
	// batch as the dead-letter producer's settings may ask.
	c.Producer.Flush.Frequency, c.Producer.Flush.Messages, c.Producer.Flush.Bytes, c.Producer.Flush.MaxMessages = 0, 0, 0, 0
	client, err := sarama.NewClient(brokers, &c)
	if err != nil {
		return nil, fmt.Errorf("budget ledger: %w", err)
	}
	l := &KafkaLedger{topic: topic, client: client, log: log, entries: map[string]Entry{},
		caught: make(chan struct{}), done: make(chan struct{})}
	if err := l.open(brokers, &c); err != nil {
		_ = client.Close()
		return nil, err
	}
	go l.read()
	return l, nil
}

// open creates the topic when needed and starts the producer and the
// reader. The reader has a client (a broker connection) of its own: a
// broker answers a connection's requests in order, so a write queued
// behind the reader's long-polling fetch would wait for it.
func (l *KafkaLedger) open(brokers []string, c *sarama.Config) error {
	l.ensureTopic()
	end, err := l.endOffset()
	if err != nil {
		return fmt.Errorf("budget ledger %s: %w", l.topic, err)
	}
	if l.prod, err = sarama.NewSyncProducerFromClient(l.client); err != nil {
		return fmt.Errorf("budget ledger: %w", err)
	}
	if l.cons, err = sarama.NewConsumer(brokers, c); err != nil {
		_ = l.prod.Close()
		return fmt.Errorf("budget ledger: %w", err)
	}
	if l.pc, err = l.cons.ConsumePartition(l.topic, 0, sarama.OffsetOldest); err != nil {
		_ = l.cons.Close()
		_ = l.prod.Close()
		return fmt.Errorf("budget ledger %s: %w", l.topic, err)
	}
	if end == 0 || l.pc.HighWaterMarkOffset() == 0 {
		close(l.caught)
	} else {
		l.end = end // before the reader starts
	}
	return nil
}

// topicWait bounds how long open waits for a topic that was just created
// (by this process or another) to show in the metadata.
const topicWait = 5 * time.Second

// endOffset returns the topic's log-end offset, waiting up to topicWait
// for a new topic to appear in the brokers' metadata.
func (l *KafkaLedger) endOffset() (int64, error) {
	deadline := time.Now().Add(topicWait)
	for {
		end, err := l.client.GetOffset(l.topic, 0, sarama.OffsetNewest)
		if err == nil || time.Now().After(deadline) {
			return end, err
		}
		time.Sleep(100 * time.Millisecond)
		_ = l.client.RefreshMetadata(l.topic) // the next GetOffset reports a failure
	}
}

// ensureTopic creates the topic, compacted, when it does not exist. A
// failure is logged: the broker may create it on the first write.
func (l *KafkaLedger) ensureTopic() {
	admin, err := sarama.NewClusterAdminFromClient(l.client)
	if err != nil {
		l.log.Warn("budget ledger: no cluster admin", "topic", l.topic, "err", err)
		return
	}
	// Closing admin would close the shared client: it is left to Close.
	policy, retention := "compact,delete", strconv.FormatInt(ledgerRetention.Milliseconds(), 10)
	err = admin.CreateTopic(l.topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: map[string]*string{"cleanup.policy": &policy, "retention.ms": &retention}}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		l.log.Warn("budget ledger: cannot create the topic", "topic", l.topic, "err", err)
	}
}

func (l *KafkaLedger) read() {
	defer close(l.done)
	for msg := range l.pc.Messages() {
		e, err := DecodeEntry(msg.Key, msg.Value)
		if err != nil {
			l.log.Warn("budget ledger: record skipped", "topic", l.topic, "offset", msg.Offset, "err", err)
		}
		l.mu.Lock()
		if err == nil {
			l.keep(e)
		}
		if l.end > 0 && msg.Offset+1 >= l.end {
			l.end = 0
			close(l.caught)
		}
		l.mu.Unlock()
	}
}

// keep stores e unless an entry of the same key is newer, and forgets
// days older than the ledgerDays latest. l.mu is held.
func (l *KafkaLedger) keep(e Entry) {
	if old, ok := l.entries[e.Key()]; ok && (old.Bytes > e.Bytes || old.Events > e.Events) {
		return // counts only grow within a day: an older record arrived late
	}
	l.entries[e.Key()] = e
	if e.Day <= l.latest {
		return
	}
	l.latest = e.Day
	for k, x := range l.entries {
		if x.Day < l.latest-int64(ledgerDays)*26*3600 {
			delete(l.entries, k)
		}
	}
}

// WaitRead blocks until the reader has read every entry written before
// Open, or ctx ends.
func (l *KafkaLedger) WaitRead(ctx context.Context) error {
	select {
	case <-l.caught:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put writes e and waits for it to be read back, so that Day includes it.
func (l *KafkaLedger) Put(ctx context.Context, e Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: l.topic, Partition: 0, Key: sarama.StringEncoder(e.Key()), Value: sarama.ByteEncoder(v)}
	sent := make(chan error, 1)
	go func() { _, _, err := l.prod.SendMessage(msg); sent <- err }()
	select {
	case err := <-sent:
		if err != nil {
			return fmt.Errorf("budget ledger %s: %w", l.topic, err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	l.keep(e)
	l.mu.Unlock()
	return nil
}

// Day returns the latest entry of each member for day.
func (l *KafkaLedger) Day(day int64) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Entry
	for _, e := range l.entries {
		if e.Day == day {
			out = append(out, e)
		}
	}
	return out
}

// Close stops the reader and closes the connections.
func (l *KafkaLedger) Close() error {
	l.pc.AsyncClose()
	<-l.done
	return errors.Join(l.cons.Close(), l.prod.Close(), l.client.Close())
}

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/sinks/registry"
)

// testLogger writes the bridge's log to the test log when -v is set.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startCluster(t testing.TB, partitions int32, topics ...string) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(partitions, topics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func startES(t testing.TB, opts esfake.Options) *esfake.Server {
	t.Helper()
	s := esfake.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// produceSeq writes events with sequence numbers from..to (inclusive),
// spread round-robin over partitions. value may replace the generated
// document for some sequence numbers.
func produceSeq(t testing.TB, brokers []string, topic string, partitions int32, from, to int64, value func(seq int64, doc []byte) []byte) {
	t.Helper()
	p, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g := gen.New(7)
	now := time.Now()
	var recs []kafkatest.Record
	for seq := from; seq <= to; seq++ {
		doc := g.Next(seq, now)
		if value != nil {
			doc = value(seq, doc)
		}
		recs = append(recs, kafkatest.Record{Topic: topic, Partition: int32(seq % int64(partitions)), Value: doc, Timestamp: now})
		if len(recs) == 2000 || seq == to {
			if err := p.Send(recs...); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// routeYAML is a one-route configuration into an Elasticsearch sink.
func routeYAML(brokers []string, topic, esURL, dlq, extra string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
routes:
  - name: elastic
    topics: [%q]
    start: oldest
    sink:
      type: elasticsearch
      urls: [%q]
      index: "security-%%{+yyyy.MM.dd}"
      timeout: 5s
    batch: {max_events: 500, max_bytes: 2MiB, max_wait: 100ms}
    dead_letter: {topic: %q}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    breaker: {failures: 3, max_probe_interval: 500ms}
    commit_interval: 200ms
%s
shutdown_timeout: 10s
`, brokers[0], topic, esURL, dlq, extra)
}

func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	return cfg
}

// runBridge starts a bridge and returns a function that stops it and
// waits for Run to return.
func runBridge(t testing.TB, cfg *config.Config, opts ...bridge.Option) (*bridge.Bridge, func()) {
	t.Helper()
	b, err := bridge.New(cfg, append([]bridge.Option{bridge.WithLogger(testLogger(t)), bridge.WithSinkFactory(registry.New)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bridge.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("bridge did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return b, stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seqs maps the sequence number of every document in the sink to the
// number of documents that carry it, counting every copy: a document whose
// _id is also in another index (an alias or data stream that rolled over)
// counts once per index, as a search of the SIEM would find it.
func seqs(t testing.TB, es *esfake.Server) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, d := range es.Documents() {
		id, doc := d.ID, d.Source
		s, ok := gen.Seq(doc)
		if !ok {
			// A wrapped raw value: the sequence number is in the text.
			msg, _ := event.Field(doc, "message")
			if i := bytes.LastIndex([]byte(msg), []byte("seq=")); i >= 0 {
				n, err := strconv.ParseInt(msg[i+4:], 10, 64)
				if err == nil {
					out[n]++
					continue
				}
			}
			t.Fatalf("document %s carries no sequence number: %.200s", id, doc)
		}
		out[s]++
	}
	return out
}

// assertNoDeadLetters checks that the dead-letter topic dlq is empty.
func assertNoDeadLetters(t testing.TB, brokers []string, dlq string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if dl, err := kafkatest.ReadAll(ctx, brokers, dlq); err != nil {
		t.Fatal(err)
	} else if len(dl) != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0", len(dl))
	}
}

// assertCommittedAtEnd checks that the group committed the log end of every
// partition.
func assertCommittedAtEnd(t testing.TB, brokers []string, group, topic string) {
	t.Helper()
	ends, err := kafkatest.EndOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var committed map[int32]int64
	waitFor(t, 10*time.Second, "offsets committed at the log end", func() bool {
		committed, err = kafkatest.Committed(brokers, group, topic)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if committed[p] != end {
				return false
			}
		}
		return true
	})
}

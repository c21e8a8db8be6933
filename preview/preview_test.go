package preview

import (
	"context"
	"encoding/json"
	"github.com/IBM/sarama"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/replay"
	"github.com/siembridge/siembridge/sample"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// produce writes n events of internal/gen (the demo's data) stamped one
// per second from t0, over two partitions, plus two records outside the
// window; it returns the window's events.
func produce(t *testing.T, brokers []string, n int) [][]byte {
	t.Helper()
	p, err := kafkatest.NewProducer(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g := gen.New(7)
	var recs []kafkatest.Record
	var docs [][]byte
	recs = append(recs, kafkatest.Record{Topic: "events", Partition: 0, Value: g.Next(0, t0.Add(-time.Hour)), Timestamp: t0.Add(-time.Hour)})
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second)
		doc := g.Next(int64(i+1), ts)
		docs = append(docs, doc)
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(i % 2), Value: doc, Timestamp: ts})
	}
	recs = append(recs, kafkatest.Record{Topic: "events", Partition: 1, Value: g.Next(int64(n+1), t0.Add(24*time.Hour)), Timestamp: t0.Add(24 * time.Hour)})
	if err := p.Send(recs...); err != nil {
		t.Fatal(err)
	}
	return docs
}

func previewConfig(t *testing.T, brokers []string) *config.Config {
	t.Helper()
	c := &config.Config{Kafka: config.Kafka{Brokers: brokers}, Routes: []config.Route{{
		Name: "siem", Topics: []string{"events"}, Sink: config.Sink{Type: "null"},
		Filter:     &config.Filter{Expr: `event.dataset != "auditd.log"`},
		Sample:     &config.Sample{Rate: 0.1, Key: "source.ip", When: `event.action == "dns-query"`},
		DropFields: []string{"agent", "ecs", "host.os"},
	}}}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPreview: a preview of the demo's events counts each step exactly as
// an independent reading of the same events does, and its examples are
// shaped; nothing else reads the topic.
func TestPreview(t *testing.T) {
	k, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	docs := produce(t, k.Brokers(), 1000)
	cfg := previewConfig(t, k.Brokers())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg, Options{Route: "siem", From: t0, To: t0.Add(time.Hour), Show: 2})
	if err != nil {
		t.Fatal(err)
	}

	smp, err := sample.New(cfg.Routes[0].Sample)
	if err != nil {
		t.Fatal(err)
	}
	var want Report
	for _, d := range docs {
		want.Read.Events++
		want.Read.Bytes += int64(len(d))
		if ds, _ := event.Field(d, "event.dataset"); ds == "auditd.log" {
			continue
		}
		want.AfterFilter.Events++
		want.AfterFilter.Bytes += int64(len(d))
		ev := event.New("events", 0, 0, t0, nil, d)
		if !smp.Keep(ev) {
			continue
		}
		want.AfterSample.Events++
		want.AfterSample.Bytes += int64(len(d))
	}
	for _, c := range []struct {
		name      string
		got, want Count
	}{
		{"read", rep.Read, want.Read},
		{"after filter", rep.AfterFilter, want.AfterFilter},
		{"after sample", rep.AfterSample, want.AfterSample},
	} {
		if c.got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, c.got, c.want)
		}
	}
	if rep.Sent.Events != want.AfterSample.Events || rep.Shaped != rep.Sent.Events || rep.Sent.Bytes >= want.AfterSample.Bytes {
		t.Errorf("sent %+v, shaped %d; want %d events, all shaped, fewer bytes than %d", rep.Sent, rep.Shaped, want.AfterSample.Events, want.AfterSample.Bytes)
	}
	if want.AfterFilter.Events == want.Read.Events || want.AfterSample.Events == want.AfterFilter.Events {
		t.Fatal("the data does not exercise the filter and the sampling")
	}
	if rep.Skipped != 0 || !rep.Complete || rep.Partitions != 2 {
		t.Errorf("skipped %d, complete %v, %d partitions; want 0, true, 2 (the records outside the window lie outside the offsets read)", rep.Skipped, rep.Complete, rep.Partitions)
	}
	if len(rep.Examples) != 2 {
		t.Fatalf("%d examples, want 2", len(rep.Examples))
	}
	for _, ex := range rep.Examples {
		var m map[string]any
		if err := json.Unmarshal([]byte(ex.Doc), &m); err != nil || m["agent"] != nil || m["ecs"] != nil || m["@timestamp"] == nil {
			t.Errorf("example %s not shaped: %s", ex.ID, ex.Doc)
		}
		if !strings.HasPrefix(ex.ID, "events+") {
			t.Errorf("example ID %q", ex.ID)
		}
	}
}

// TestPreviewLimit: the limit bounds the records read, shared by the
// partitions, and the report says the window was not read to its end.
func TestPreviewLimit(t *testing.T) {
	k, err := kafkatest.Start(2, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	produce(t, k.Brokers(), 400)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Run(ctx, previewConfig(t, k.Brokers()), Options{Route: "siem", From: t0, To: t0.Add(time.Hour), Limit: 50, Show: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read.Events != 50 || rep.Complete || len(rep.Examples) != 0 {
		t.Errorf("read %d, complete %v, %d examples; want 50, false, 0", rep.Read.Events, rep.Complete, len(rep.Examples))
	}
	if _, err := Run(ctx, previewConfig(t, k.Brokers()), Options{Route: "nope", From: t0, To: t0.Add(time.Hour)}); err == nil {
		t.Error("an unknown route previewed")
	}
}

// TestPreviewEndsAfterTransactionMarkers: a partition whose last offset is
// a transaction marker yields no record at its end − 1; the preview sees
// the log end reached and nothing more coming, and finishes.
func TestPreviewEndsAfterTransactionMarkers(t *testing.T) {
	k, err := kafkatest.Start(1, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	sc := kafkatest.Config()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "preview-test"
	sc.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(k.Brokers(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := &sarama.ProducerMessage{Topic: "events", Partition: 0, Value: sarama.StringEncoder(`{"event":{"dataset":"dns"}}`), Timestamp: t0.Add(time.Duration(i) * time.Second)}
		if _, _, err := prod.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	ends, err := kafkatest.EndOffsets(k.Brokers(), "events")
	if err != nil || ends[0] != 6 {
		t.Fatalf("log end %v %v, want 6: the test needs a partition ending with a marker", ends, err)
	}
	// The slice up to the log end, as a plan has it when no record is
	// stamped after the window (Kafka answers the offset lookup with -1).
	cfg := previewConfig(t, k.Brokers())
	opts := withDefaults(Options{Route: "siem", From: t0, To: t0.Add(time.Hour)})
	rt, err := newRoute(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(k.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var rep Report
	complete, err := readPartition(ctx, consumer, replay.PartitionPlan{Topic: "events", Partition: 0, From: 0, To: 6, End: 6}, 100, opts, rt, &rep)
	if err != nil || !complete || rep.Read.Events != 5 {
		t.Fatalf("read %d, complete %v, %v; want 5 records, complete", rep.Read.Events, complete, err)
	}
}

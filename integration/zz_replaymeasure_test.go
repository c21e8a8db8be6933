package integration

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/internal/esfake"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/internal/kafkatest"
)

func TestZZReplayMeasure(t *testing.T) {
	if os.Getenv("REPLAY_MEASURE") == "" {
		t.Skip()
	}
	const n = 300000
	cluster := startCluster(t, 6, "events", "events-dlq")
	es := startES(t, esfake.Options{DiscardSources: true})
	p, _ := kafkatest.NewProducer(cluster.Brokers())
	g := gen.New(1)
	var recs []kafkatest.Record
	for seq := int64(1); seq <= n; seq++ {
		ts := replayBase.Add(time.Duration(seq) * time.Millisecond)
		recs = append(recs, kafkatest.Record{Topic: "events", Partition: int32(seq % 6), Value: g.Next(seq, ts), Timestamp: ts})
		if len(recs) == 5000 {
			if err := p.Send(recs...); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	p.Close()
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), "events", es.URL(), "events-dlq", ""))
	cfg.Routes[0].Batch.MaxEvents = 1000
	start := time.Now()
	res, err := bridge.Replay(context.Background(), cfg, bridge.ReplayOptions{Route: "elastic", From: replayBase, To: replayBase.Add(time.Hour), Rate: 0, Parallel: 6, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replayed %d events in %s: %.0f events/s; es count %d", res.Delivered, time.Since(start), float64(res.Delivered)/time.Since(start).Seconds(), es.Count())
}

func TestZZReplayTTY(t *testing.T) {
	if os.Getenv("REPLAY_MEASURE") == "" {
		t.Skip()
	}
	cluster := startCluster(t, 3, "events", "events-dlq")
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), 6000)
	cfgPath := writeConfig(t, routeYAML(cluster.Brokers(), "events", es.URL(), "events-dlq", ""))
	bin := siembridgeBinary(t)
	dir := t.TempDir()
	line := bin + " replay --config " + cfgPath + " --route elastic --from " + seqTime(100).Format(time.RFC3339) + " --to " + seqTime(5900).Format(time.RFC3339) + " --rate 2000"
	out, err := exec.Command("script", "-qfec", "cd "+dir+" && "+line, "/dev/null").CombinedOutput()
	t.Logf("err=%v\n%q", err, out)
	out, err = exec.Command("sh", "-c", "cd "+dir+" && "+line+" --index other-%{+yyyy}").CombinedOutput()
	t.Logf("err=%v\n%s", err, out)
}

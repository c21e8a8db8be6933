package export

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// BenchmarkExport measures an export of 200k ECS-like events from a
// local kfake topic of 8 partitions, unlimited rate, per format and
// partitions read at once, and reports events/s and MB/s of values read:
//
//	go test -run '^$' -bench Export -benchtime 1x ./export
//
// (verify, files alone and against Kafka, is timed too).
func BenchmarkExport(b *testing.B) {
	const n = 200_000
	cluster, err := kafkatest.Start(8, []string{"events"})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	recs := make([]kafkatest.Record, n)
	var valueBytes int64
	for i := range recs {
		v := []byte(fmt.Sprintf(`{"@timestamp":"2024-05-01T12:%02d:%02d.%03dZ","host":{"name":"web-%d"},"event":{"action":"login","category":["authentication"],"outcome":"success"},"source":{"ip":"10.%d.%d.%d","port":%d},"user":{"name":"user%d"},"message":"Accepted publickey for user%d from 10.0.0.%d port %d ssh2"}`,
			i/60000%60, i/1000%60, i%1000, i%50, i%256, i/256%256, i%100, 1024+i%60000, i%5000, i%5000, i%250, 1024+i%60000))
		valueBytes += int64(len(v))
		recs[i] = kafkatest.Record{Topic: "events", Partition: int32(i % 8), Value: v, Timestamp: at(100 + i/100)}
	}
	produce(b, cluster.Brokers(), recs)
	cfg := testConfig(b, cluster.Brokers())
	cfg.Routes[0].Batch.MaxEvents = 1000
	cfg.Routes[0].Batch.MaxBytes = 4 << 20
	for _, format := range []Format{NDJSON, Parquet} {
		for _, parallel := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/parallel=%d", format, parallel), func(b *testing.B) {
				var el, vel, kel float64
				for range b.N {
					dir := filepath.Join(b.TempDir(), "out")
					start := time.Now()
					res, err := Run(context.Background(), cfg, Options{Route: "archive", From: at(0), To: at(1e7), Dir: dir, Format: format,
						Parallel: parallel, Logger: quiet})
					if err != nil || !res.Complete || res.Delivered != n {
						b.Fatalf("%v complete %v delivered %d", err, res.Complete, res.Delivered)
					}
					el += time.Since(start).Seconds()
					vstart := time.Now()
					rep, err := VerifyFiles(dir)
					if err != nil || rep.Verdict() != Pass {
						b.Fatal(err)
					}
					vel += time.Since(vstart).Seconds()
					kstart := time.Now()
					if err := VerifyKafka(context.Background(), cfg, dir, rep); err != nil || rep.Verdict() != Pass || rep.Compared != n {
						b.Fatalf("verify kafka: %v %v %d", err, rep.Verdict(), rep.Compared)
					}
					kel += time.Since(kstart).Seconds()
				}
				runs := float64(b.N)
				b.ReportMetric(n*runs/el, "events/s")
				b.ReportMetric(float64(valueBytes)*runs/el/1e6, "MB/s")
				b.ReportMetric(vel/runs, "verify-files-s")
				b.ReportMetric(kel/runs, "verify-kafka-s")
			})
		}
	}
}

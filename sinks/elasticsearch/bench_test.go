package elasticsearch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/esfake"
)

// benchEvents returns n events with documents of about 700 bytes.
func benchEvents(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		v := fmt.Sprintf(`{"@timestamp":"2025-03-14T10:00:00Z","event":{"kind":"event","module":"bench","seq":%d},`+
			`"host":{"name":"web-01"},"message":"%s"}`, i, strings.Repeat("m", 600))
		out[i] = event.New("bench", 0, int64(i), day, nil, []byte(v))
	}
	return out
}

func benchSend(b *testing.B, s *Sink, batch []*event.Event) {
	b.Helper()
	bytes := 0
	for _, e := range batch {
		bytes += len(e.Doc)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Send(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(batch)), "ns/event")
}

// BenchmarkSend sends 1000 × 700-byte events to the fake over loopback.
// The fake runs in this process, so allocs/op includes the server's.
// With action "index" every round is a full success (errors: false).
func BenchmarkSend(b *testing.B) {
	f := fake(b, esfake.Options{DiscardSources: true})
	cfg := baseConfig(f.URL())
	cfg.Action = "index"
	benchSend(b, newSink(b, cfg), benchEvents(1000))
}

// BenchmarkSendDuplicates: every round after the first is 1000 item 409s,
// the errors: true path where each item is decoded and classified.
func BenchmarkSendDuplicates(b *testing.B) {
	f := fake(b, esfake.Options{DiscardSources: true})
	benchSend(b, newSink(b, baseConfig(f.URL())), benchEvents(1000))
}

// BenchmarkSendCanned replaces the network and server with a canned
// answer, so allocs/op is the sink's and the client's alone.
func BenchmarkSendCanned(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			var resp strings.Builder
			resp.WriteString(`{"errors":false,"took":1,"items":[`)
			for i := range 1000 {
				if i > 0 {
					resp.WriteByte(',')
				}
				fmt.Fprintf(&resp, `{"create":{"_index":"logs-2025.03.14","_id":"bench+0+%d","_version":1,"result":"created",`+
					`"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, i, i)
			}
			resp.WriteString("]}")
			cfg := baseConfig("http://127.0.0.1:1")
			cfg.Gzip = gz
			s := newSink(b, cfg, WithTransport(cannedTransport{200, []byte(resp.String())}))
			benchSend(b, s, benchEvents(1000))
		})
	}
}

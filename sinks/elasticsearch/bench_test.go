package elasticsearch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
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
// answer, so allocs/op is the sink's and the client's alone. The answer is
// the full one (a server that ignores filter_path) or the filtered one.
func BenchmarkSendCanned(b *testing.B) {
	for _, resp := range []string{"full", "filtered"} {
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("resp=%s/gzip=%v", resp, gz), func(b *testing.B) {
				body := successResponse(1000, resp == "filtered")
				cfg := baseConfig("http://127.0.0.1:1")
				cfg.Gzip = gz
				s := newSink(b, cfg, WithTransport(cannedTransport{200, body}))
				benchSend(b, s, benchEvents(1000))
			})
		}
	}
}

// successResponse is Elasticsearch's answer to n successful creates, in
// full or filtered by bulkFilterPath.
func successResponse(n int, filtered bool) []byte {
	var resp []byte
	if filtered {
		resp = append(resp, `{"errors":false,"items":[`...)
	} else {
		resp = append(resp, `{"took":12,"errors":false,"items":[`...)
	}
	for i := range n {
		if i > 0 {
			resp = append(resp, ',')
		}
		if filtered {
			resp = append(resp, `{"create":{"status":201}}`...)
			continue
		}
		resp = fmt.Appendf(resp, `{"create":{"_index":"security-2026.11.26","_id":"events+0+%d","_version":1,"result":"created",`+
			`"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, i, i)
	}
	return append(resp, "]}"...)
}

// conflictResponse is Elasticsearch's answer to n creates of documents it
// already has (a replay), in full or filtered by bulkFilterPath.
func conflictResponse(n int, filtered bool) []byte {
	var resp []byte
	if filtered {
		resp = append(resp, `{"errors":true,"items":[`...)
	} else {
		resp = append(resp, `{"took":12,"errors":true,"items":[`...)
	}
	for i := range n {
		if i > 0 {
			resp = append(resp, ',')
		}
		reason := fmt.Sprintf("[events+0+%d]: version conflict, document already exists (current version [1])", i)
		if filtered {
			resp = fmt.Appendf(resp, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":%q}}}`, reason)
			continue
		}
		resp = fmt.Appendf(resp, `{"create":{"_index":"security-2026.11.26","_id":"events+0+%d","status":409,"error":{"type":"version_conflict_engine_exception",`+
			`"reason":%q,"index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"security-2026.11.26"}}}`, i, reason)
	}
	return append(resp, "]}"...)
}

// BenchmarkParseBulkResponse reads a 1000-item answer as Elasticsearch
// sends it with and without bulkFilterPath: all created (errors: false,
// only counted) and all 409s (a replay: every item decoded).
func BenchmarkParseBulkResponse(b *testing.B) {
	for _, tc := range []struct {
		name      string
		body      func(int, bool) []byte
		hasErrors bool
	}{
		{"success", successResponse, false},
		{"conflicts", conflictResponse, true},
	} {
		for _, filtered := range []bool{false, true} {
			name := tc.name + "/unfiltered"
			if filtered {
				name = tc.name + "/filtered"
			}
			b.Run(name, func(b *testing.B) {
				body := tc.body(1000, filtered)
				scratch := make([]bulkItem, 0, 1000)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					hasErrors, out, err := parseBulkResponse(body, scratch)
					if err != nil || len(out) != 1000 || hasErrors != tc.hasErrors {
						b.Fatal(err, len(out))
					}
				}
				b.ReportMetric(float64(len(body)), "resp-bytes")
			})
		}
	}
}

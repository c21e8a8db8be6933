package event_test

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/gen"
)

// BenchmarkDecodeGenerated decodes the benchmark's own event mix
// (internal/gen): the input `siembridge bench` measures the bridge with.
func BenchmarkDecodeGenerated(b *testing.B) {
	g := gen.New(1)
	docs := make([][]byte, 1024)
	var total int64
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range docs {
		docs[i] = g.Next(int64(i), t0.Add(time.Duration(i)*time.Millisecond))
		total += int64(len(docs[i]))
	}
	b.SetBytes(total / int64(len(docs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, wrapped, _ := event.Decode("t", 0, 0, t0, docs[i&1023]); wrapped {
			b.Fatal("wrapped")
		}
		i++
	}
}

package shape

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/cputime"
	"github.com/siembridge/siembridge/internal/gen"
)

// BenchmarkShape shapes the events of internal/gen (600-800 bytes, the
// demo's and `siembridge bench`'s mix). "unchanged" is the fast path: a
// route whose drop_fields names nothing the event has, so the document is
// split at its top level, nothing is re-encoded and nothing allocated but
// the member list.
func BenchmarkShape(b *testing.B) {
	g := gen.New(1)
	docs := make([][]byte, 1024)
	var total int64
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for i := range docs {
		docs[i] = g.Next(int64(i), t0)
		total += int64(len(docs[i]))
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"unchanged", Config{Drop: []string{"nope", "event.nope"}}},
		{"drop-4", Config{Drop: []string{"agent", "ecs", "host.os", "message"}}},
		{"keep-5", Config{Keep: []string{"event.action", "source", "destination", "user.name", "host.name"}}},
		{"rename-1", Config{Rename: []config.Rename{{From: "host.name", To: "observer.host"}}, IgnoreMissing: true, FailOnError: true}},
		{"add-1", Config{AddTarget: "labels", Add: map[string]any{"site": "fra1"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := New(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total / int64(len(docs)))
			b.ReportAllocs()
			i := 0
			defer cputime.Start(b)()
			for b.Loop() {
				if _, res := s.Shape(docs[i&1023]); res.NotObject {
					b.Fatal("not an object")
				}
				i++
			}
		})
	}
}

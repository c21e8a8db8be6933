package ratelimit

import (
	"context"
	"testing"
)

func BenchmarkWaitUnlimited(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx, 500, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A limit far above what the benchmark reaches: the cost of the slow path
// when it does not sleep.
func BenchmarkWaitLimitedHighRate(b *testing.B) {
	l, err := New(Config{EventsPerSecond: 1e12, BytesPerSecond: 1e15, Burst: 1000, BurstBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx, 500, 1<<19); err != nil {
				b.Fatal(err)
			}
		}
	})
}

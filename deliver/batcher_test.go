package deliver

import (
	"slices"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
)

func TestBatcher(t *testing.T) {
	ev := func(off int64, size int) *event.Event {
		e := new(event.Event)
		v := make([]byte, size)
		for i := range v {
			v[i] = 'x'
		}
		e.Init("t", 0, off, time.Unix(0, 0), nil, v, false)
		return e
	}
	for _, tc := range []struct {
		name                string
		maxEvents, maxBytes int
		sizes               []int
		// want: the batches Add returned (offsets), then Flush's.
		want  [][]int64
		flush []int64
	}{
		{"by count", 2, 1 << 20, []int{10, 10, 10, 10, 10}, [][]int64{{0, 1}, {2, 3}}, []int64{4}},
		{"by bytes: the event that does not fit starts the next", 10, 0, nil, nil, nil},
		{"one per batch", 1, 1 << 20, []int{10, 10}, [][]int64{{0}, {1}}, nil},
		{"a single event over the bytes is a batch of its own", 10, 100, []int{50, 500, 10}, [][]int64{{0}, {1}}, []int64{2}},
		{"empty flush", 5, 100, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.maxBytes == 0 { // sizes chosen against the encoded size
				one := ev(0, 10).Size()
				tc.maxBytes, tc.sizes = 3*one, []int{10, 10, 10, 10}
				tc.want, tc.flush = [][]int64{{0, 1, 2}}, []int64{3}
			}
			b := NewBatcher(tc.maxEvents, tc.maxBytes)
			var got [][]int64
			for i, sz := range tc.sizes {
				if done := b.Add(ev(int64(i), sz)); done != nil {
					got = append(got, offsets(done.Events))
					n := 0
					for _, e := range done.Events {
						n += e.Size()
					}
					if n != done.Bytes {
						t.Errorf("batch %v: Bytes %d, want %d", offsets(done.Events), done.Bytes, n)
					}
				}
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("Add returned %v, want %v", got, tc.want)
			}
			var flushed []int64
			if f := b.Flush(); f != nil {
				flushed = offsets(f.Events)
			}
			if !slices.Equal(flushed, tc.flush) {
				t.Errorf("Flush = %v, want %v", flushed, tc.flush)
			}
			if b.Started() || b.Flush() != nil {
				t.Error("not empty after Flush")
			}
		})
	}
}

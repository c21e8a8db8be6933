package checkpoint

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestTrackerCommittable(t *testing.T) {
	type step struct {
		track   []int64
		release []int64
		want    int64 // Committable after the step
		pending int
	}
	tests := []struct {
		name  string
		start int64
		steps []step
	}{
		{"nothing tracked", 7, []step{{want: 7}}},
		{"in order", 0, []step{
			{track: []int64{0, 1, 2}, want: 0, pending: 3},
			{release: []int64{0}, want: 1, pending: 2},
			{release: []int64{1, 2}, want: 3, pending: 0},
		}},
		{"out of order acks hold the watermark", 10, []step{
			{track: []int64{10, 11, 12, 13}, want: 10, pending: 4},
			{release: []int64{12, 13}, want: 10, pending: 2},
			{release: []int64{11}, want: 10, pending: 1},
			{release: []int64{10}, want: 14, pending: 0},
		}},
		{"gaps from compaction", 0, []step{
			{track: []int64{3, 9, 20}, want: 3, pending: 3},
			{release: []int64{9}, want: 3, pending: 2},
			{release: []int64{3}, want: 20, pending: 1},
			{release: []int64{20}, want: 21, pending: 0},
		}},
		{"double release is ignored", 0, []step{
			{track: []int64{0, 1}, release: []int64{1, 1}, want: 0, pending: 1},
		}},
		{"release of an untracked offset is ignored", 0, []step{
			{track: []int64{0, 1}, release: []int64{5, -1}, want: 0, pending: 2},
		}},
		{"tracking continues after everything was released", 0, []step{
			{track: []int64{0}, release: []int64{0}, want: 1},
			{track: []int64{1, 2}, want: 1, pending: 2},
			{release: []int64{2}, want: 1, pending: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.start)
			for i, s := range tt.steps {
				for _, o := range s.track {
					if err := tr.Track(o); err != nil {
						t.Fatalf("step %d: Track(%d): %v", i, o, err)
					}
				}
				for _, o := range s.release {
					tr.Release(o)
				}
				if got := tr.Committable(); got != s.want {
					t.Errorf("step %d: Committable() = %d, want %d", i, got, s.want)
				}
				if got := tr.Pending(); got != s.pending {
					t.Errorf("step %d: Pending() = %d, want %d", i, got, s.pending)
				}
			}
		})
	}
}

func TestTrackerRejectsOutOfOrderTrack(t *testing.T) {
	tr := NewTracker(5)
	for _, o := range []int64{4} {
		if err := tr.Track(o); err == nil {
			t.Errorf("Track(%d) below the start offset: want error", o)
		}
	}
	if err := tr.Track(6); err != nil {
		t.Fatal(err)
	}
	for _, o := range []int64{6, 5} {
		if err := tr.Track(o); err == nil {
			t.Errorf("Track(%d) after 6: want error", o)
		}
	}
}

func TestTrackerReleaseRange(t *testing.T) {
	tr := NewTracker(0)
	for _, o := range []int64{0, 1, 2, 5, 6} {
		if err := tr.Track(o); err != nil {
			t.Fatal(err)
		}
	}
	tr.ReleaseRange(1, 5)
	if got := tr.Committable(); got != 0 {
		t.Fatalf("Committable = %d, want 0 (offset 0 still pending)", got)
	}
	tr.ReleaseRange(0, 0)
	if got := tr.Committable(); got != 6 {
		t.Fatalf("Committable = %d, want 6", got)
	}
}

// TestTrackerNeverPassesUnreleased releases a long run in random order and
// checks after every release that the watermark is exactly the lowest
// unreleased offset, through the compactions of the internal queue.
func TestTrackerNeverPassesUnreleased(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	tr := NewTracker(0)
	offs := make([]int64, 0, n)
	var o int64
	for range n {
		o += 1 + int64(rng.IntN(3)) // gaps
		offs = append(offs, o)
		if err := tr.Track(o); err != nil {
			t.Fatal(err)
		}
	}
	released := make(map[int64]bool, n)
	order := rng.Perm(n)
	lowest := 0 // index into offs of the lowest unreleased
	for k, i := range order {
		tr.Release(offs[i])
		released[offs[i]] = true
		for lowest < n && released[offs[lowest]] {
			lowest++
		}
		want := offs[n-1] + 1
		if lowest < n {
			want = offs[lowest]
		}
		if got := tr.Committable(); got != want {
			t.Fatalf("after %d releases: Committable = %d, want %d", k+1, got, want)
		}
	}
	if tr.Pending() != 0 {
		t.Fatalf("Pending = %d after releasing everything", tr.Pending())
	}
}

func TestTrackerConcurrentRelease(t *testing.T) {
	tr := NewTracker(0)
	const n = 10000
	for i := range int64(n) {
		if err := tr.Track(i); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(w); i < n; i += 4 {
				tr.Release(i)
			}
		}()
	}
	wg.Wait()
	if got := tr.Committable(); got != n {
		t.Fatalf("Committable = %d, want %d", got, n)
	}
}

func BenchmarkTrackRelease(b *testing.B) {
	tr := NewTracker(0)
	b.ReportAllocs()
	for i := range int64(b.N) {
		_ = tr.Track(i)
		tr.Release(i)
	}
}

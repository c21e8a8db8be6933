package budget

import (
	"fmt"
	"testing"
	"time"
)

func (r ranges) String() string {
	s := ""
	for _, x := range r {
		s += fmt.Sprintf("[%d,%d]", x.from, x.to)
	}
	return s
}

func TestRanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		adds  [][2]int64
		limit int
		want  string
		fail  int // index of the add that must fail, -1 none
	}{
		{"one", [][2]int64{{5, 5}}, 9, "[5,5]", -1},
		{"adjacent merge", [][2]int64{{5, 5}, {6, 6}, {4, 4}}, 9, "[4,6]", -1},
		{"apart", [][2]int64{{5, 5}, {7, 7}, {1, 2}}, 9, "[1,2][5,5][7,7]", -1},
		{"bridge a gap", [][2]int64{{1, 2}, {7, 9}, {3, 6}}, 9, "[1,9]", -1},
		{"overlap several", [][2]int64{{1, 1}, {3, 3}, {5, 5}, {0, 4}}, 9, "[0,5]", -1},
		{"inside", [][2]int64{{1, 9}, {3, 4}}, 9, "[1,9]", -1},
		{"full", [][2]int64{{1, 1}, {3, 3}, {5, 5}}, 2, "[1,1][3,3]", 2},
		{"full but merges", [][2]int64{{1, 1}, {3, 3}, {4, 4}, {2, 2}}, 2, "[1,4]", -1},
	}
	for _, tt := range tests {
		var r ranges
		for i, a := range tt.adds {
			if ok := r.add(a[0], a[1], tt.limit); ok != (i != tt.fail) {
				t.Errorf("%s: add %v = %v", tt.name, a, ok)
			}
		}
		if r.String() != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, r, tt.want)
		}
	}
	r := ranges{{1, 3}, {6, 8}, {10, 10}}
	for off, want := range map[int64]bool{0: false, 1: true, 3: true, 4: false, 7: true, 9: false, 10: true, 11: false} {
		if r.contains(off) != want {
			t.Errorf("contains(%d) != %v", off, want)
		}
	}
	r.trimBelow(7)
	if r.String() != "[7,8][10,10]" {
		t.Errorf("trimBelow(7): %s", r)
	}
	r.trimBelow(11)
	if len(r) != 0 {
		t.Errorf("trimBelow(11): %s", r)
	}
}

// A deferral caps the commit at the first deferred offset, remembers the
// priority events sent behind it, and after the rewind skips exactly
// those.
func TestDeferralRewind(t *testing.T) {
	t.Parallel()
	d := NewDeferral()
	if d.Active() || d.Cap(100) != 100 {
		t.Fatal("a fresh deferral is active")
	}
	// Offsets 10..19: 10-11 sent before the budget ran out, 12, 14, 15,
	// 17 deferred, 13, 16, 18, 19 sent (priority or filtered out).
	ts := time.Unix(1000, 0)
	for _, off := range []int64{12, 14, 15, 17} {
		d.Defer(off, ts.Add(time.Duration(off)*time.Second), 100)
	}
	for _, off := range []int64{13, 16, 18, 19} {
		if !d.Done(off, off) {
			t.Fatal("Done failed")
		}
	}
	if !d.Active() || d.Cap(20) != 12 || d.Cap(11) != 11 {
		t.Fatalf("cap: %d", d.Cap(20))
	}
	st := d.Stats()
	if st.From != 12 || st.Events != 4 || st.Bytes != 400 || !st.FromTime.Equal(ts.Add(12*time.Second)) || st.Ranges != 3 {
		t.Fatalf("stats %+v", st)
	}
	d.Rewind(12) // read again from the committed offset
	if d.Active() || !d.Remembers(0, 13) || !d.Remembers(19, 30) || d.Remembers(20, 30) || d.Remembers(0, 11) {
		t.Fatal("after rewind: Remembers")
	}
	var sent []int64
	for off := int64(12); off < 22; off++ {
		if !d.Skip(off) {
			sent = append(sent, off)
		}
	}
	if fmt.Sprint(sent) != "[12 14 15 17 20 21]" {
		t.Fatalf("sent again %v", sent)
	}
	d.Forget(20)
	if d.Remembers(0, 100) {
		t.Fatal("Forget(20) kept ranges")
	}
}

func TestDeferralFull(t *testing.T) {
	t.Parallel()
	d := NewDeferral()
	d.maxDone = 2
	d.Defer(0, time.Time{}, 1)
	d.Done(1, 1)
	d.Done(3, 3)
	if !d.Full() || d.Done(5, 5) {
		t.Fatal("a full deferral took a new range")
	}
	if !d.Done(4, 4) {
		t.Fatal("a full deferral refused a range that merges")
	}
}

// Package checkpoint keeps the contiguous offset watermarks that decide what
// siembridge may commit, and the state of replay jobs.
package checkpoint

import (
	"fmt"
	"sort"
	"sync"
)

// Tracker follows the offsets of one partition from consumption to
// acknowledgement and tells the next offset that may be committed: every
// offset below it was released (delivered or dead-lettered).
//
// Offsets must be tracked in increasing order; gaps (compacted records,
// transaction markers) are allowed. Releases may come in any order.
// A Tracker is safe for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	next int64 // offset after the last tracked one
	// pending holds tracked offsets not yet dropped from the front, in
	// increasing order; done[i] says whether pending[i] was released.
	pending []int64
	done    []bool
	head    int // index of the first live element in pending/done
	open    int // tracked and not yet released
}

// NewTracker returns a tracker for a partition whose next offset to consume
// is next (the committed offset, or the start offset).
func NewTracker(next int64) *Tracker {
	return &Tracker{next: next}
}

// Track records that offset was consumed and is on its way to the sink.
// It returns an error when offset is not above every offset tracked before.
func (t *Tracker) Track(offset int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.pending); (n > t.head && offset <= t.pending[n-1]) || offset < t.next {
		return fmt.Errorf("checkpoint: offset %d tracked out of order (next %d)", offset, t.next)
	}
	t.pending = append(t.pending, offset)
	t.done = append(t.done, false)
	t.next = offset + 1
	t.open++
	return nil
}

// Release records that offset was delivered or dead-lettered. Releasing an
// offset that is not pending (never tracked, or released already) is a
// no-op that returns false.
func (t *Tracker) Release(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= offset })
	if i == len(live) || live[i] != offset || t.done[t.head+i] {
		return false
	}
	t.done[t.head+i] = true
	t.open--
	for t.head < len(t.pending) && t.done[t.head] {
		t.head++
	}
	// Compact once the dead prefix dominates, so memory follows Pending().
	if t.head > 1024 && t.head*2 > len(t.pending) {
		n := copy(t.pending, t.pending[t.head:])
		copy(t.done, t.done[t.head:])
		t.pending, t.done, t.head = t.pending[:n], t.done[:n], 0
	}
	return true
}

// ReleaseRange releases every pending offset in [from, to].
func (t *Tracker) ReleaseRange(from, to int64) {
	t.mu.Lock()
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= from })
	var offs []int64
	for ; i < len(live) && live[i] <= to; i++ {
		if !t.done[t.head+i] {
			offs = append(offs, live[i])
		}
	}
	t.mu.Unlock()
	for _, o := range offs {
		t.Release(o)
	}
}

// Committable returns the offset to commit: the lowest pending offset when
// something is pending, else the offset after the last tracked one. Every
// offset below it was released; it is never beyond an unreleased offset.
func (t *Tracker) Committable() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head < len(t.pending) {
		return t.pending[t.head]
	}
	return t.next
}

// Pending returns how many tracked offsets are not yet released.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

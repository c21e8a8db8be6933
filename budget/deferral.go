package budget

import (
	"sort"
	"sync"
	"time"
)

// MaxDoneRanges bounds the offset ranges a Deferral remembers per
// partition (16 bytes each: 1 MiB). When priority events are so scattered
// among deferred ones that the set is full, further events of the
// partition are deferred too, priority or not, until the next drain.
const MaxDoneRanges = 1 << 16

// Deferral is one partition's deferred state. Once the spent budget
// holds back an event, the partition's commit stops at that event's
// offset (From): everything from there waits in Kafka. Events behind it
// that are handled anyway — priority events sent, events filtered out —
// are remembered as done, in offset ranges, so that when the partition
// is read again from From (Rewind, at the drain) they are not sent twice.
//
// The deferred events themselves are not kept: only From, and counts.
// A Deferral outlives claims; it is safe for concurrent use.
type Deferral struct {
	mu       sync.Mutex
	from     int64     // first deferred offset; -1: none
	fromTime time.Time // that event's record timestamp
	events   int64     // deferred since from
	bytes    int64
	done     ranges // handled offsets >= the read position
	maxDone  int
}

// NewDeferral returns the empty state of a partition.
func NewDeferral() *Deferral { return &Deferral{from: -1, maxDone: MaxDoneRanges} }

// Active reports whether events of the partition wait in Kafka.
func (d *Deferral) Active() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.from >= 0
}

// Defer records that the event at offset (record time ts, size bytes)
// was held back.
func (d *Deferral) Defer(offset int64, ts time.Time, bytes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.from < 0 || offset < d.from {
		d.from, d.fromTime = offset, ts
	}
	d.events++
	d.bytes += int64(bytes)
}

// Full reports whether no more done offsets fit: every event must then
// be deferred.
func (d *Deferral) Full() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.done) >= d.maxDone
}

// Done records that the events at offsets [from, to] were handled (sent,
// filtered out) while a deferral was active, so that they are skipped
// when the partition is read again. It reports false when the set is
// full and a range could not be added: those events will be sent again
// after the drain (at least once, never lost).
func (d *Deferral) Done(from, to int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done.add(from, to, d.maxDone)
}

// Skip reports whether the event at offset was handled before a rewind
// and must not be sent again.
func (d *Deferral) Skip(offset int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done.contains(offset)
}

// Remembers reports whether any done offset in [from, to] is remembered
// (Skip may return true for one of them).
func (d *Deferral) Remembers(from, to int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.done), func(i int) bool { return d.done[i].to >= from })
	return i < len(d.done) && d.done[i].from <= to
}

// Cap returns the offset the partition may commit: committable, or From
// when a deferral is active and From is lower.
func (d *Deferral) Cap(committable int64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.from >= 0 && d.from < committable {
		return d.from
	}
	return committable
}

// Rewind is called when the partition is read again from offset start
// (a new claim starts at the committed offset, which is at most From): the
// deferral ends, and done offsets below start are forgotten.
func (d *Deferral) Rewind(start int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.from, d.fromTime, d.events, d.bytes = -1, time.Time{}, 0, 0
	d.done.trimBelow(start)
}

// Forget drops done offsets below offset (the commit point passed them).
func (d *Deferral) Forget(offset int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done.trimBelow(offset)
}

// DeferralStats is a Deferral's state.
type DeferralStats struct {
	From     int64     // first deferred offset, -1 when none
	FromTime time.Time // its record timestamp
	Events   int64     // events deferred since From
	Bytes    int64
	Ranges   int // done ranges remembered
}

// Stats returns the deferral's state.
func (d *Deferral) Stats() DeferralStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DeferralStats{From: d.from, FromTime: d.fromTime, Events: d.events, Bytes: d.bytes, Ranges: len(d.done)}
}

// ranges is a sorted set of disjoint, non-adjacent inclusive offset
// ranges.
type ranges []offsetRange

type offsetRange struct{ from, to int64 }

// add inserts [from, to], merging with neighbours; false when it would
// need a new range beyond limit.
func (r *ranges) add(from, to int64, limit int) bool {
	s := *r
	// i: first range that ends at or after from-1 (may touch or overlap).
	i := sort.Search(len(s), func(i int) bool { return s[i].to >= from-1 })
	j := i
	for j < len(s) && s[j].from <= to+1 {
		from, to = min(from, s[j].from), max(to, s[j].to)
		j++
	}
	if i == j { // no overlap: a new range
		if len(s) >= limit {
			return false
		}
		s = append(s, offsetRange{})
		copy(s[i+1:], s[i:])
		s[i] = offsetRange{from, to}
		*r = s
		return true
	}
	s[i] = offsetRange{from, to}
	*r = append(s[:i+1], s[j:]...)
	return true
}

func (r ranges) contains(off int64) bool {
	i := sort.Search(len(r), func(i int) bool { return r[i].to >= off })
	return i < len(r) && r[i].from <= off
}

func (r *ranges) trimBelow(off int64) {
	s := *r
	i := sort.Search(len(s), func(i int) bool { return s[i].to >= off })
	s = s[i:]
	if len(s) > 0 && s[0].from < off {
		s[0].from = off
	}
	*r = append((*r)[:0], s...)
}

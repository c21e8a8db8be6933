package deliver

import "github.com/siembridge/siembridge/event"

// Batch is a run of consecutive events of one partition.
type Batch struct {
	Events []*event.Event
	Bytes  int
}

// Batcher cuts a partition's events into batches of at most MaxEvents
// events and MaxBytes bytes (a single larger event is a batch of its own).
// The caller flushes on its own timer after MaxWait (the batcher keeps no
// time): Started tells when the first event of a batch arrived. A Batcher
// is used by one goroutine.
type Batcher struct {
	maxEvents, maxBytes int
	cur                 *Batch
}

// NewBatcher returns a batcher with the given bounds (values below 1 mean
// 1).
func NewBatcher(maxEvents, maxBytes int) *Batcher {
	return &Batcher{maxEvents: max(1, maxEvents), maxBytes: max(1, maxBytes), cur: &Batch{}}
}

// Add appends ev and returns a batch that is complete, or nil. A batch is
// complete when it holds MaxEvents events, or when ev would carry it past
// MaxBytes (then the batch without ev is returned and ev starts the next).
// The returned batch belongs to the caller.
func (b *Batcher) Add(ev *event.Event) *Batch {
	var done *Batch
	size := ev.Size()
	if n := len(b.cur.Events); n >= b.maxEvents || (n > 0 && b.cur.Bytes+size > b.maxBytes) {
		done = b.take()
	}
	b.cur.Events = append(b.cur.Events, ev)
	b.cur.Bytes += size
	if done == nil && len(b.cur.Events) >= b.maxEvents {
		done = b.take()
	}
	return done
}

// Flush returns the batch being cut, nil when it is empty.
func (b *Batcher) Flush() *Batch {
	if len(b.cur.Events) == 0 {
		return nil
	}
	return b.take()
}

// Started reports whether a batch is being cut (the caller's MaxWait timer
// runs from the Add that made it true).
func (b *Batcher) Started() bool { return len(b.cur.Events) > 0 }

func (b *Batcher) take() *Batch {
	done := b.cur
	b.cur = &Batch{Events: make([]*event.Event, 0, len(done.Events))}
	return done
}

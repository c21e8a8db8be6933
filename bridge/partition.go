package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/event"
)

// handler implements sarama.ConsumerGroupHandler for a route.
type handler struct {
	r        *route
	stopTick context.CancelFunc
	tickDone chan struct{}
}

// Setup starts the periodic commit of the new session.
func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.r.joined.Store(true)
	h.r.log.Info("joined group", "group", h.r.groupID(), "generation", sess.GenerationID(), "claims", sess.Claims())
	ctx, cancel := context.WithCancel(context.Background())
	h.stopTick, h.tickDone = cancel, make(chan struct{})
	go func() {
		defer close(h.tickDone)
		t := time.NewTicker(h.r.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sess.Commit()
			}
		}
	}()
	return nil
}

// Cleanup runs after every ConsumeClaim of the session returned: it commits
// what was delivered before the partitions go to another member.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.stopTick()
	<-h.tickDone
	sess.Commit()
	h.r.joined.Store(false)
	h.r.log.Info("left generation", "generation", sess.GenerationID())
	return nil
}

// partition is the state of one claimed partition. It outlives claims so
// that stats stay continuous across rebalances; the tracker is renewed with
// each claim.
type partition struct {
	topic     string
	partition int32
	active    atomic.Bool
	tracker   atomic.Pointer[checkpoint.Tracker]
	// next is the next offset to deliver (committable), logEnd the log-end
	// offset last seen.
	next   atomic.Int64
	logEnd atomic.Int64
	// oldest holds the record timestamp (unix ms) of the oldest event not
	// yet delivered, 0 when none is pending.
	oldest atomic.Int64
}

func (p *partition) lag() int64 {
	next, end := p.next.Load(), p.logEnd.Load()
	if next < 0 || end <= next {
		return 0
	}
	return end - next
}

func (r *route) partition(topic string, part int32) *partition {
	r.partsMu.Lock()
	defer r.partsMu.Unlock()
	k := topicPartition{topic, part}
	p := r.parts[k]
	if p == nil {
		p = &partition{topic: topic, partition: part}
		p.next.Store(-1)
		r.parts[k] = p
	}
	return p
}

const (
	// slabEvents is how many events ConsumeClaim allocates at once.
	slabEvents = 64
	// burstMax bounds a burst of records handled without looking at the
	// session or the batch timer.
	burstMax = 256
)

// batch is a run of consecutive events of one partition.
type batch struct {
	events []*event.Event
	bytes  int
}

// ConsumeClaim runs one partition's pipeline: this goroutine reads records
// and cuts batches; a sender goroutine delivers them one after the other,
// so the partition's order is kept while the next batch fills.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	r := h.r
	p := r.partition(claim.Topic(), claim.Partition())
	p.active.Store(true)
	defer p.active.Store(false)
	if off := claim.InitialOffset(); off >= 0 {
		p.next.Store(off)
	}
	var tracker *checkpoint.Tracker // created at the first record
	p.tracker.Store(nil)
	r.pauseClaim(p.topic, p.partition)

	// Requests in flight (dctx) end on revoke, except while stopping,
	// when only the shutdown timeout or Abort cuts them off. Waits (wctx)
	// end on revoke and on shutdown: a stopping route starts nothing new.
	dctx, cancel := context.WithCancel(r.hardCtx)
	defer cancel()
	stop := context.AfterFunc(sess.Context(), func() {
		if !r.draining.Load() {
			cancel()
		}
	})
	defer stop()
	wctx, wcancel := context.WithCancel(dctx)
	defer wcancel()
	stopW := context.AfterFunc(r.softCtx, wcancel)
	defer stopW()

	batches := make(chan *batch, 1)
	// held counts what this claim has consumed and not yet released.
	var heldEvents, heldBytes atomic.Int64
	var senderWG sync.WaitGroup
	senderWG.Add(1)
	go func() {
		defer senderWG.Done()
		for b := range batches {
			if wctx.Err() != nil {
				continue // revoked or stopping: Kafka still has these
			}
			// Everything before this batch is delivered: its first
			// event is the oldest one the sink does not have yet.
			p.oldest.Store(b.events[0].Timestamp.UnixMilli())
			if err := r.deliverBatch(wctx, dctx, b); err != nil {
				continue
			}
			p.oldest.Store(0)
			tracker.ReleaseRange(b.events[0].Offset, b.events[len(b.events)-1].Offset)
			next := tracker.Committable()
			p.next.Store(next)
			sess.MarkOffset(p.topic, p.partition, next, "")
			r.b.hooks.OnCommitted(r.cfg.Name, p.topic, p.partition, next)
			heldEvents.Add(-int64(len(b.events)))
			heldBytes.Add(-int64(b.bytes))
			r.releaseBuffer(int64(len(b.events)), int64(b.bytes))
		}
	}()

	cur := &batch{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()

	// Consumption is accounted (stats, hooks, the route's buffer) once per
	// burst of records rather than per record: the counters are shared by
	// all partitions of the route, and at hundreds of thousands of records
	// a second per-record atomics cost more than the bookkeeping is worth.
	// The pending counts are published when a burst ends (the channel is
	// empty, or burstMax records were taken) and before a batch goes to
	// the sender, which releases what it delivers.
	var pendEvents, pendBytes int
	publish := func() {
		if pendEvents == 0 {
			return
		}
		r.stats.consumed.Add(int64(pendEvents))
		r.stats.consumedBytes.Add(int64(pendBytes))
		r.b.hooks.OnConsumed(r.cfg.Name, p.topic, p.partition, pendEvents, pendBytes)
		heldEvents.Add(int64(pendEvents))
		heldBytes.Add(int64(pendBytes))
		r.addBuffer(int64(pendEvents), int64(pendBytes))
		pendEvents, pendBytes = 0, 0
	}
	flush := func() bool {
		publish()
		if len(cur.events) == 0 {
			return true
		}
		select {
		case batches <- cur:
			cur = &batch{events: make([]*event.Event, 0, len(cur.events))}
			timer.Stop()
			return true
		case <-wctx.Done():
			return false
		}
	}

	// Events are allocated in slabs: one allocation for many records.
	var slab []event.Event
	maxEvents, maxBytes := r.cfg.Batch.MaxEvents, int(r.cfg.Batch.MaxBytes)
	warnedOrder := false
	// take handles one record; false means the claim must end.
	take := func(msg *sarama.ConsumerMessage) bool {
		if tracker == nil {
			tracker = checkpoint.NewTracker(msg.Offset)
			p.tracker.Store(tracker)
			if p.next.Load() < 0 {
				p.next.Store(msg.Offset)
			}
		}
		if err := tracker.Track(msg.Offset); err != nil {
			// Kafka hands records out in offset order; a repeat after a
			// reset is already tracked. Say it once a claim.
			if !warnedOrder {
				r.log.Warn("records out of order, skipped", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
				warnedOrder = true
			}
			return true
		}
		if len(slab) == cap(slab) {
			slab = make([]event.Event, 0, slabEvents)
		}
		slab = slab[:len(slab)+1]
		ev := &slab[len(slab)-1]
		ev.Init(msg.Topic, msg.Partition, msg.Offset, msg.Timestamp, msg.Key, msg.Value, r.skim)
		size := ev.Size()
		pendEvents++
		pendBytes += size
		if len(cur.events) > 0 && cur.bytes+size > maxBytes {
			if !flush() {
				return false
			}
		}
		if len(cur.events) == 0 {
			timer.Reset(r.cfg.Batch.MaxWait)
		}
		cur.events = append(cur.events, ev)
		cur.bytes += size
		if len(cur.events) >= maxEvents {
			return flush()
		}
		return true
	}

	msgs := claim.Messages()
loop:
	for {
		select {
		case msg, ok := <-msgs:
			// A burst: go on while records are waiting, without the cost
			// of a three-way select per record.
			for n := 1; ; n++ {
				if !ok {
					break loop
				}
				if !take(msg) {
					break loop
				}
				if n == burstMax {
					break
				}
				select {
				case msg, ok = <-msgs:
					continue
				default:
				}
				break
			}
			publish()
		case <-timer.C:
			if !flush() {
				break loop
			}
		case <-sess.Context().Done():
			break loop
		}
	}
	publish()
	timer.Stop()
	// The batch being cut is not sent: on revoke the next owner reads it
	// again, on shutdown the next start does.
	close(batches)
	senderWG.Wait()
	// Whatever was not delivered stays uncommitted and leaves memory.
	r.releaseBuffer(heldEvents.Load(), heldBytes.Load())
	if tracker != nil {
		sess.MarkOffset(p.topic, p.partition, tracker.Committable(), "")
	}
	return nil
}

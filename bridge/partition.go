package bridge

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/budget"
	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/kafka"
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
	// Bytes below batch.max_bytes are the rule from a few partitions on
	// and bind only for large events: said at debug level; fewer events
	// than batch.max_events at info.
	n := claimedPartitions(sess)
	if e, b := h.r.batchLimits(n); e < h.r.cfg.Batch.MaxEvents || b < int(h.r.cfg.Batch.MaxBytes) {
		level := slog.LevelDebug
		if e < h.r.cfg.Batch.MaxEvents {
			level = slog.LevelInfo
		}
		h.r.log.Log(context.Background(), level, "batches cut smaller than configured: two must fit in each partition's share of the buffer",
			"max_events", e, "max_bytes", b, "partitions", n)
	}
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

// claimedPartitions counts the partitions sess claimed.
func claimedPartitions(sess sarama.ConsumerGroupSession) int {
	n := 0
	for _, ps := range sess.Claims() {
		n += len(ps)
	}
	return n
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
	// deferral caps the commit while a spent budget defers events
	// (budget.go); drain ends the claim so that they are read again.
	deferral *budget.Deferral
	drain    chan struct{}
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
		p = &partition{topic: topic, partition: part, deferral: budget.NewDeferral(), drain: make(chan struct{}, 1)}
		p.next.Store(-1)
		r.parts[k] = p
	}
	return p
}

const (
	// queuedBatches is how many cut batches of a partition may wait for
	// the sender. The route's buffer bounds what they hold; the queue must
	// not, because a reader blocked on it stops taking records from
	// sarama, and sarama fetches for none of a broker's partitions until
	// every one of them took the records of the last response: one
	// partition whose batches are all in flight to a far-away sink would
	// hold back all the others.
	queuedBatches = 64
	// slabEvents is how many events ConsumeClaim allocates at once.
	slabEvents = 64
	// burstMax bounds a burst of records handled without looking at the
	// session or the batch timer.
	burstMax = 256
)

// ConsumeClaim runs one partition's pipeline: this goroutine reads records
// and cuts batches; a sender goroutine hands them to the route's delivery
// stage, up to the route's in-flight-per-partition of them at once (one,
// in order, for an ordered route), while the next batch fills. Offsets are
// committed up to the first event not yet delivered, whatever order the
// batches finish in.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	r := h.r
	c := &claimRun{r: r, sess: sess, p: r.partition(claim.Topic(), claim.Partition()),
		batcher: deliver.NewBatcher(r.batchLimits(claimedPartitions(sess))),
		batches: make(chan *deliver.Batch, queuedBatches), timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	defer c.timer.Stop()
	c.p.active.Store(true)
	defer c.p.active.Store(false)
	if off := claim.InitialOffset(); off >= 0 {
		c.p.next.Store(off)
	}
	// The claim reads from the committed offset, which a deferral kept at
	// its first deferred event: the deferral starts over.
	c.p.deferral.Rewind(claim.InitialOffset())
	select {
	case <-c.p.drain:
	default:
	}
	c.p.tracker.Store(nil)
	r.pauseClaim(c.p.topic, c.p.partition)

	// Requests in flight (send) end on revoke, except while stopping,
	// when only the shutdown timeout or Abort cuts them off. Waits end on
	// revoke and on shutdown: a stopping route starts nothing new.
	send, cancel := context.WithCancel(r.hardCtx)
	defer cancel()
	defer context.AfterFunc(sess.Context(), func() {
		if !r.draining.Load() {
			cancel()
		}
	})()
	wait, wcancel := context.WithCancel(send)
	defer wcancel()
	defer context.AfterFunc(r.softCtx, wcancel)()

	var senderWG sync.WaitGroup
	senderWG.Add(1)
	go func() {
		defer senderWG.Done()
		c.sendAll(wait, send, r.cfg.InFlightPerPartition())
	}()
	c.read(claim.Messages(), wait)
	c.publish()
	// The batch being cut is not sent: on revoke the next owner reads it
	// again, on shutdown the next start does.
	close(c.batches)
	senderWG.Wait()
	// Whatever was not delivered stays uncommitted and leaves memory.
	r.releaseBuffer(c.heldEvents.Load(), c.heldBytes.Load())
	if c.tracker != nil {
		sess.MarkOffset(c.p.topic, c.p.partition, c.p.deferral.Cap(c.tracker.Committable()), "")
	}
	return nil
}

// claimRun is the state of one ConsumeClaim: the reader's (the batcher,
// the batch timer, the tracker, counts not yet published) and what the
// reader and the sender share (the batch queue, what is held).
type claimRun struct {
	r       *route
	sess    sarama.ConsumerGroupSession
	p       *partition
	tracker *checkpoint.Tracker // created at the first record
	batcher *deliver.Batcher
	batches chan *deliver.Batch
	timer   *time.Timer

	// heldEvents and heldBytes count what this claim consumed and did
	// not release yet.
	heldEvents, heldBytes atomic.Int64
	// Consumption is accounted (stats, hooks, the route's buffer) once per
	// burst of records rather than per record: the counters are shared by
	// all partitions of the route, and at hundreds of thousands of records
	// a second per-record atomics cost more than the bookkeeping is worth.
	// The pending counts are published when a burst ends (the channel is
	// empty, or burstMax records were taken) and before a batch goes to
	// the sender, which releases what it delivers.
	pendEvents, pendBytes int
	// slab: events are allocated in slabs, one allocation for many.
	slab []event.Event
	// arena holds copies of the records' keys and values (see own).
	arena       []byte
	warnedOrder bool

	// flyMu guards flying and serializes the commit of finished batches.
	flyMu sync.Mutex
	// flying holds the batches handed to the stage and not yet finished,
	// in offset order; the first one's first event is the oldest the sink
	// may not have (partition.oldest).
	flying []*flight
}

// flight is a batch on its way to the sink.
type flight struct {
	b    *deliver.Batch
	held []int64 // offsets the budget deferred (budget.go)
	done bool
}

// sendAll hands the queued batches to the delivery stage, up to inFlight
// of them at once, and commits what they delivered. A batch is skipped
// once wait ended (revoked or stopping: Kafka still has it). It returns
// when the queue is closed and every batch it started finished.
func (c *claimRun) sendAll(wait, send context.Context, inFlight int) {
	slots := make(chan struct{}, max(1, inFlight))
	var wg sync.WaitGroup
	defer wg.Wait()
	for b := range c.batches {
		if wait.Err() != nil {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-wait.Done():
			continue
		}
		weight := min(int64(b.Bytes), c.r.flightBytes())
		if c.r.flight.Acquire(wait, weight) != nil {
			<-slots
			continue
		}
		f := c.takeOff(b)
		evs := c.skipDone(b.Events)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer c.r.flight.Release(weight)
			if len(evs) == 0 || c.r.stage.DeliverAdmitted(wait, send, evs, c.admitter(f)) == nil {
				c.land(f)
			}
		}()
	}
}

// takeOff records b as on its way to the sink.
func (c *claimRun) takeOff(b *deliver.Batch) *flight {
	f := &flight{b: b}
	c.flyMu.Lock()
	defer c.flyMu.Unlock()
	if len(c.flying) == 0 {
		// Everything before this batch is delivered: its first event is
		// the oldest one the sink does not have yet.
		c.p.oldest.Store(b.Events[0].Timestamp.UnixMilli())
	}
	c.flying = append(c.flying, f)
	return f
}

// land commits a delivered batch: its offsets are released, and the
// partition's committable offset moves up to the first event of a batch
// still on its way (or not yet read).
func (c *claimRun) land(f *flight) {
	r, p, b := c.r, c.p, f.b
	c.flyMu.Lock()
	f.done = true
	n := 0
	for n < len(c.flying) && c.flying[n].done {
		n++
	}
	// Shifted down, not resliced: the array's old slots would keep
	// finished flights, their events and copy blocks, in memory beyond
	// what the buffer counts.
	c.flying = slices.Delete(c.flying, 0, n)
	if len(c.flying) == 0 {
		p.oldest.Store(0)
	} else {
		p.oldest.Store(c.flying[0].b.Events[0].Timestamp.UnixMilli())
	}
	c.tracker.ReleaseRange(b.Events[0].Offset, b.Events[len(b.Events)-1].Offset)
	c.remember(f)
	// A finished flight may wait in flying behind an earlier one; it lets
	// go of its events now, as the buffer does below.
	f.b = nil
	next := p.deferral.Cap(c.tracker.Committable())
	p.deferral.Forget(next)
	p.next.Store(next)
	c.sess.MarkOffset(p.topic, p.partition, next, "")
	r.b.hooks.OnCommitted(r.cfg.Name, p.topic, p.partition, next)
	c.flyMu.Unlock()
	c.heldEvents.Add(-int64(len(b.Events)))
	c.heldBytes.Add(-int64(b.Bytes))
	r.releaseBuffer(int64(len(b.Events)), int64(b.Bytes))
}

// read takes records until the claim ends, the channel closes or a batch
// cannot be queued because wait ended.
func (c *claimRun) read(msgs <-chan *sarama.ConsumerMessage, wait context.Context) {
	for {
		select {
		case msg, ok := <-msgs:
			// A burst: go on while records are waiting, without the cost
			// of a three-way select per record.
			for n := 1; ; n++ {
				if !ok || !c.take(msg, wait) {
					return
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
			c.publish()
		case <-c.timer.C:
			if !c.queue(c.batcher.Flush(), wait) {
				return
			}
		case <-c.sess.Context().Done():
			return
		case <-c.p.drain:
			// Deferred events may be sent now: the claim ends, which ends
			// the session, and the next one reads them again (budget.go).
			return
		}
	}
}

// take handles one record; false means the claim must end.
func (c *claimRun) take(msg *sarama.ConsumerMessage, wait context.Context) bool {
	if c.tracker == nil {
		c.tracker = checkpoint.NewTracker(msg.Offset)
		c.p.tracker.Store(c.tracker)
		if c.p.next.Load() < 0 {
			c.p.next.Store(msg.Offset)
		}
	}
	if err := c.tracker.Track(msg.Offset); err != nil {
		// Kafka hands records out in offset order; a repeat after a reset
		// is already tracked. Say it once a claim.
		if !c.warnedOrder {
			c.r.log.Warn("records out of order, skipped", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
			c.warnedOrder = true
		}
		return true
	}
	if len(c.slab) == cap(c.slab) {
		c.slab = make([]event.Event, 0, slabEvents)
	}
	c.slab = c.slab[:len(c.slab)+1]
	ev := &c.slab[len(c.slab)-1]
	ev.Init(msg.Topic, msg.Partition, msg.Offset, msg.Timestamp, c.own(msg.Key), c.own(msg.Value), c.r.skim)
	kafka.AttachHeaders(ev, msg.Headers, c.r.b.cfg.Kafka.Headers)
	c.pendEvents++
	c.pendBytes += ev.Size()
	started := c.batcher.Started()
	done := c.batcher.Add(ev)
	if !started || (done != nil && c.batcher.Started()) {
		c.timer.Reset(c.r.cfg.Batch.MaxWait) // a new batch began
	}
	return c.queue(done, wait)
}

// queue publishes the pending counts and hands b (if any) to the sender;
// false when wait ended first.
func (c *claimRun) queue(b *deliver.Batch, wait context.Context) bool {
	c.publish()
	if b == nil {
		return true
	}
	if !c.batcher.Started() {
		c.timer.Stop()
	}
	select {
	case c.batches <- b:
		return true
	case <-wait.Done():
		return false
	}
}

// arenaBytes is the size of the blocks own copies records into.
const arenaBytes = 64 << 10

// own returns a copy of b in the claim's arena, which is cut in blocks of
// arenaBytes; a record larger than a quarter block gets its own
// allocation. sarama decodes a record's key and value as slices of the
// whole fetch response, which holds records of every partition of the
// request: an event kept in memory — a batch retried for a minute while
// later ones land, several batches of a partition in flight — would keep
// the whole response alive, many times its own size, beyond what the
// route's buffer counts. A copy keeps the memory of consumed events
// within buffer.max_bytes plus one block per batch boundary, and lets the
// response go at once.
func (c *claimRun) own(b []byte) []byte {
	if len(b) == 0 {
		return b // nil stays nil: a missing key is not an empty one
	}
	if len(b) > arenaBytes/4 {
		return bytes.Clone(b)
	}
	if cap(c.arena)-len(c.arena) < len(b) {
		c.arena = make([]byte, 0, arenaBytes)
	}
	start := len(c.arena)
	c.arena = append(c.arena, b...)
	return c.arena[start:len(c.arena):len(c.arena)]
}

// publish accounts for the records taken since the last publish.
func (c *claimRun) publish() {
	if c.pendEvents == 0 {
		return
	}
	r, p := c.r, c.p
	r.stats.consumed.Add(int64(c.pendEvents))
	r.stats.consumedBytes.Add(int64(c.pendBytes))
	r.b.hooks.OnConsumed(r.cfg.Name, p.topic, p.partition, c.pendEvents, c.pendBytes)
	c.heldEvents.Add(int64(c.pendEvents))
	c.heldBytes.Add(int64(c.pendBytes))
	r.addBuffer(int64(c.pendEvents), int64(c.pendBytes))
	c.pendEvents, c.pendBytes = 0, 0
}

package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// ReplayOptions describe one replay job: the events of a route's topics
// whose Kafka record timestamp lies in [From, To), delivered again into the
// route's sink.
type ReplayOptions struct {
	// Route names the route whose topics, sink, batching, retry, breaker
	// and dead-letter topic the replay uses. Required.
	Route string
	// From and To bound the window of record timestamps, From inclusive,
	// To exclusive. Required, From before To.
	From, To time.Time
	// Rate in events per second. Negative: the route's catch-up rate (and
	// its catch-up bytes rate); 0: unlimited.
	Rate float64
	// Index replaces the sink's index: an index template for
	// elasticsearch, a plain index name for splunk_hec. Empty: the
	// route's own. Other sink types take no index.
	Index string
	// Checkpoint is the path of the checkpoint file, written at most every
	// ProgressInterval while the replay runs and once at the end, and
	// deleted when the whole window was delivered. Empty: none.
	Checkpoint string
	// Resume continues the job saved in Checkpoint (which must exist and
	// be for the same route, window and index) instead of starting over.
	Resume bool
	// Parallel is how many partitions are read at once (each keeps its
	// order). Default: the route's workers.
	Parallel int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Hooks receive the replay's metrics, with the route's name. Default
	// none.
	Hooks Hooks
	// Sink replaces the sink the route's configuration would build (tests).
	// Replay closes it.
	Sink sinks.Sink
	// OnProgress is called every ProgressInterval and once at the end,
	// from one goroutine. Optional.
	OnProgress func(ReplayProgress)
	// ProgressInterval between checkpoint writes and progress calls.
	// Default 500ms.
	ProgressInterval time.Duration
	// IdleEnd: a partition that gets no record for this long although it
	// has not reached its end offset is taken as finished (the rest of its
	// log holds only transaction markers or compacted-away records). A
	// warning names it. A fetch error restarts the wait: a partition that
	// cannot be read is not idle. Default 10s, above sarama's retry
	// backoff (2s), so a failing partition never looks idle.
	IdleEnd time.Duration
}

// ReplayProgress is a snapshot of a replay.
type ReplayProgress struct {
	Partitions     int `json:"partitions"`
	PartitionsDone int `json:"partitions_done"`
	// Total is the number of offsets between each partition's start and
	// end offset: an upper bound of the events in the window (the records
	// after the first one at or past To are not in it).
	Total int64 `json:"total"`
	// Done is how many of those offsets are behind the delivered
	// watermark, or were found to be outside the window.
	Done int64 `json:"done"`
	// Delivered and DeadLettered count the events of this run;
	// Skipped the records read whose timestamp was before From.
	Delivered    int64         `json:"delivered"`
	DeadLettered int64         `json:"dead_lettered"`
	Skipped      int64         `json:"skipped"`
	Elapsed      time.Duration `json:"elapsed"`
}

// ReplayResult is what Replay did.
type ReplayResult struct {
	ReplayProgress
	// Complete: the whole window was delivered (or dead-lettered).
	Complete bool
	// Checkpoint is the path of the checkpoint file left behind for
	// --resume, empty when there is none (the replay completed, or ran
	// without one).
	Checkpoint string
}

// ReplayOptionError reports an unusable ReplayOptions field; Option is the
// command-line flag's name (route, from, to, rate, index, resume).
type ReplayOptionError struct {
	Option string
	Err    error
}

func (e *ReplayOptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *ReplayOptionError) Unwrap() error { return e.Err }

func optErr(option, format string, args ...any) error {
	return &ReplayOptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// Replay delivers the events of the route's topics whose record timestamp
// is in [From, To) into the route's sink, through a private consumer: it
// joins no consumer group and leaves every committed offset alone, so the
// live bridge may keep running. Each partition starts at the first offset
// whose timestamp is at or after From (Kafka's ListOffsets by timestamp)
// and stops at its first record at or after To, or at the log end seen
// when the job started, whichever comes first; records before From met on
// the way (timestamps need not be monotonic) are skipped.
//
// Delivery is the live bridge's: batches cut by batch.max_events and
// max_bytes, the same deterministic document IDs (a window replayed twice
// creates no duplicate), retries, circuit breaker and dead-letter topic
// with the same headers; only the rate limit is the replay's own.
// Partitions keep their order; several are replayed at once.
//
// Replay blocks until the window is delivered, ctx ends or a partition
// fails. It returns a *ReplayOptionError for unusable options (before
// connecting to anything), and an error wrapping ctx.Err() when
// interrupted. Once the job has started, an interruption or a failure
// leaves the checkpoint with the delivered watermark of every partition,
// for Resume; only a complete replay returns a nil error.
func Replay(ctx context.Context, cfg *config.Config, opts ReplayOptions) (res ReplayResult, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	hooks := opts.Hooks
	if hooks == nil {
		hooks = NopHooks{}
	}
	// The sink is ours to close from here on; once the route holds it,
	// closeSinks does.
	owned := opts.Sink
	defer func() {
		if owned != nil {
			owned.Close()
		}
	}()
	rc, err := replayRoute(cfg, opts)
	if err != nil {
		return res, err
	}
	var state *checkpoint.ReplayState
	if opts.Resume {
		if state, err = loadResume(opts); err != nil {
			return res, err
		}
	}

	sc, err := SaramaConfig(cfg.Kafka)
	if err != nil {
		return res, err
	}
	sc.ClientID += "-replay"
	sc.ChannelBufferSize = max(64, min(rc.Batch.MaxEvents, 1024))
	b := &Bridge{cfg: cfg, sc: sc, log: log.With("job", "replay"), hooks: hooks}
	r := &route{b: b, cfg: rc, sink: opts.Sink}
	if err := r.init(); err != nil {
		if r.sink != nil && opts.Sink == nil {
			r.sink.Close()
		}
		return res, fmt.Errorf("route %s: %w", rc.Name, err)
	}
	owned = nil
	b.routes = []*route{r}
	defer b.closeSinks()

	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		return res, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return res, fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return res, fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()
	b.client, b.producer = client, producer

	state, err = planReplay(client, rc, opts, state, r.log)
	if err != nil {
		return res, err
	}
	j := &replayJob{
		r: r, consumer: consumer, opts: opts, state: state, start: time.Now(),
		idleEnd: opts.IdleEnd, dirty: true,
	}
	if j.idleEnd <= 0 {
		j.idleEnd = 10 * time.Second
	}
	if err := j.save(); err != nil {
		return res, err
	}
	prog := j.progress()
	r.log.Info("replay starting", "from", opts.From, "to", opts.To, "partitions", prog.Partitions,
		"offsets", prog.Total, "done", prog.Done, "rate", rc.Rate.EventsPerSecond, "index", opts.Index, "checkpoint", opts.Checkpoint)

	runErr := j.run(ctx)
	saveErr := j.save()
	res.ReplayProgress = j.progress()
	res.Complete = runErr == nil && j.complete()
	if opts.OnProgress != nil {
		opts.OnProgress(res.ReplayProgress)
	}
	switch {
	case runErr != nil:
		err = runErr
	case saveErr != nil:
		err = saveErr
	case !res.Complete:
		err = errors.New("replay ended before the window was delivered")
	}
	if res.Complete && opts.Checkpoint != "" {
		if rmErr := checkpoint.RemoveReplay(opts.Checkpoint); rmErr != nil {
			r.log.Warn("replay complete; could not delete its checkpoint", "err", rmErr)
			res.Checkpoint = opts.Checkpoint
		}
	} else if opts.Checkpoint != "" && saveErr == nil {
		res.Checkpoint = opts.Checkpoint
	}
	r.log.Info("replay finished", "complete", res.Complete, "delivered", res.Delivered,
		"dead_lettered", res.DeadLettered, "skipped", res.Skipped, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, err
}

// replayRoute checks opts and returns the route configuration the replay
// runs with: its own rate, and the sink's index replaced when asked.
func replayRoute(cfg *config.Config, opts ReplayOptions) (config.Route, error) {
	var rc config.Route
	found := false
	for _, c := range cfg.Routes {
		if c.Name == opts.Route {
			rc, found = c, true
			break
		}
	}
	if !found {
		names := make([]string, len(cfg.Routes))
		for i, c := range cfg.Routes {
			names[i] = c.Name
		}
		return rc, optErr("route", "no route named %q (routes: %s)", opts.Route, strings.Join(names, ", "))
	}
	if opts.From.IsZero() {
		return rc, optErr("from", "required")
	}
	if opts.To.IsZero() {
		return rc, optErr("to", "required")
	}
	if !opts.From.Before(opts.To) {
		return rc, optErr("to", "%s is not after from %s", opts.To.Format(time.RFC3339Nano), opts.From.Format(time.RFC3339Nano))
	}
	if math.IsNaN(opts.Rate) || math.IsInf(opts.Rate, 0) {
		return rc, optErr("rate", "must be a finite number")
	}
	if opts.Resume && opts.Checkpoint == "" {
		return rc, optErr("resume", "needs a checkpoint file")
	}
	sink, err := replaySink(rc.Sink, opts.Index)
	if err != nil {
		return rc, &ReplayOptionError{Option: "index", Err: err}
	}
	rc.Sink = sink

	// The replay paces itself: one mode, no lag-driven switch. Bursts are
	// derived for its rate (never below a batch).
	rt := rc.Rate
	switch {
	case opts.Rate < 0:
		rt.EventsPerSecond, rt.BytesPerSecond = rt.CatchupEventsPerSecond, rt.CatchupBytesPerSecond
	case opts.Rate == 0:
		rt.EventsPerSecond, rt.BytesPerSecond = 0, 0
	default:
		rt.EventsPerSecond, rt.BytesPerSecond = opts.Rate, rt.CatchupBytesPerSecond
	}
	rt.CatchupEventsPerSecond, rt.CatchupBytesPerSecond = rt.EventsPerSecond, rt.BytesPerSecond
	rt.CatchupLag = 0
	rt.Burst = 0
	rc.Rate = rt
	return rc, nil
}

// replaySink returns s with its index replaced by index (a copy: the
// route's own configuration is shared).
func replaySink(s config.Sink, index string) (config.Sink, error) {
	if index == "" {
		return s, nil
	}
	switch {
	case s.Type == "elasticsearch" && s.Elasticsearch != nil:
		if _, err := event.ParseIndexTemplate(index); err != nil {
			return s, err
		}
		es := *s.Elasticsearch
		es.Index = index
		s.Elasticsearch = &es
	case s.Type == "splunk_hec" && s.SplunkHEC != nil:
		if strings.Contains(index, "%{") {
			return s, fmt.Errorf("%q: a splunk_hec index is a plain name, not a template", index)
		}
		h := *s.SplunkHEC
		h.Index = index
		s.SplunkHEC = &h
	default:
		return s, fmt.Errorf("the route's sink is %s; only elasticsearch and splunk_hec sinks take an index", s.Type)
	}
	return s, nil
}

func loadResume(opts ReplayOptions) (*checkpoint.ReplayState, error) {
	st, err := checkpoint.LoadReplay(opts.Checkpoint)
	if err != nil {
		return nil, &ReplayOptionError{Option: "resume", Err: err}
	}
	if err := st.Check(opts.Route, opts.From, opts.To, opts.Index); err != nil {
		return nil, &ReplayOptionError{Option: "resume", Err: fmt.Errorf("%s: %w", opts.Checkpoint, err)}
	}
	return st, nil
}

// planReplay lists the partitions of the route's topics and, for those the
// state does not hold yet, asks Kafka for the start offset (the first
// record at or after From) and the log end.
func planReplay(client sarama.Client, rc config.Route, opts ReplayOptions, st *checkpoint.ReplayState, log *slog.Logger) (*checkpoint.ReplayState, error) {
	if st == nil {
		st = &checkpoint.ReplayState{Route: opts.Route, From: opts.From, To: opts.To, Index: opts.Index}
	}
	have := make(map[topicPartition]bool, len(st.Partitions))
	for _, p := range st.Partitions {
		have[topicPartition{p.Topic, p.Partition}] = true
	}
	resumed := len(st.Partitions) > 0
	for _, topic := range rc.Topics {
		parts, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			if have[topicPartition{topic, p}] {
				continue
			}
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("log end of %s/%d: %w", topic, p, err)
			}
			start, err := client.GetOffset(topic, p, opts.From.UnixMilli())
			if err != nil {
				return nil, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, opts.From.Format(time.RFC3339Nano), err)
			}
			if start < 0 || start > end {
				start = end // no record at or after From
			}
			if resumed {
				log.Warn("partition not in the checkpoint (added since?); replaying it from the window start", "topic", topic, "partition", p)
			}
			st.Partitions = append(st.Partitions, checkpoint.ReplayPartition{
				Topic: topic, Partition: p, Start: start, End: end, Next: start, Done: start >= end,
			})
		}
	}
	sort.Slice(st.Partitions, func(a, b int) bool {
		x, y := st.Partitions[a], st.Partitions[b]
		if x.Topic != y.Topic {
			return x.Topic < y.Topic
		}
		return x.Partition < y.Partition
	})
	return st, nil
}

// replayJob is a running replay.
type replayJob struct {
	r        *route
	consumer sarama.Consumer
	opts     ReplayOptions
	start    time.Time
	idleEnd  time.Duration
	skipped  atomic.Int64

	mu    sync.Mutex
	state *checkpoint.ReplayState
	dirty bool // state changed since the last write
	// saveMu serializes writes of the checkpoint file.
	saveMu sync.Mutex
}

// replayBatch is a batch and the offset after the last record read for it
// (records skipped before it included).
type replayBatch struct {
	batch
	next int64
	done bool // the partition ends with this batch
}

// run replays every partition that is not done, Parallel at a time, and
// saves the checkpoint while it goes. The first partition error stops the
// others.
func (j *replayJob) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	parallel := j.opts.Parallel
	if parallel <= 0 {
		parallel = max(1, j.r.cfg.Workers)
	}
	todo := make(chan int, len(j.state.Partitions))
	for i, p := range j.state.Partitions {
		if !p.Done {
			todo <- i
		}
	}
	close(todo)

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(parallel, len(todo)) {
		wg.Go(func() {
			for i := range todo {
				if ctx.Err() != nil {
					return
				}
				if err := j.partition(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}

	interval := j.opts.ProgressInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	tickDone := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		warned := false
		for {
			select {
			case <-tickDone:
				return
			case <-t.C:
			}
			if err := j.save(); err != nil && !warned {
				j.r.log.Error("cannot write the replay checkpoint; an interruption now loses the progress since the last write", "err", err)
				warned = true
			}
			if j.opts.OnProgress != nil {
				j.opts.OnProgress(j.progress())
			}
		}
	})
	wg.Wait()
	close(tickDone)
	tickWG.Wait()

	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replay interrupted: %w", err)
	}
	return nil
}

// partition replays partition i: this goroutine reads records and cuts
// batches, a sender delivers them one after the other so that the order
// is kept while the next batch fills.
func (j *replayJob) partition(ctx context.Context, i int) error {
	r := j.r
	j.mu.Lock()
	p := j.state.Partitions[i]
	j.mu.Unlock()
	if p.Next >= p.End {
		j.advance(i, p.End, true)
		return nil
	}
	pc, err := j.consumer.ConsumePartition(p.Topic, p.Partition, p.Next)
	if err != nil {
		return fmt.Errorf("%s/%d at offset %d: %w", p.Topic, p.Partition, p.Next, err)
	}
	defer pc.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *replayBatch, 1)
	var sendErr error
	var senderWG sync.WaitGroup
	senderWG.Go(func() {
		for b := range batches {
			if ctx.Err() != nil {
				continue
			}
			if len(b.events) > 0 {
				if err := r.deliver(ctx, &b.batch); err != nil {
					sendErr = err
					cancel()
					continue
				}
			}
			j.advance(i, b.next, b.done)
		}
	})

	from, to := j.opts.From, j.opts.To
	maxEvents, maxBytes := r.cfg.Batch.MaxEvents, int(r.cfg.Batch.MaxBytes)
	cur := &replayBatch{next: p.Next}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		select {
		case batches <- cur:
			cur = &replayBatch{batch: batch{events: make([]*event.Event, 0, len(cur.events))}, next: cur.next}
			timer.Stop()
			return true
		case <-ctx.Done():
			return false
		}
	}
	idle := time.NewTimer(j.idleEnd)
	defer idle.Stop()
	var readErr error
	var lastErr error
loop:
	for {
		select {
		case msg, ok := <-pc.Messages():
			if !ok {
				readErr = fmt.Errorf("%s/%d: consumer stopped at offset %d: %v", p.Topic, p.Partition, cur.next, lastErr)
				break loop
			}
			if msg.Offset >= p.End {
				cur.done = true
				cur.next = p.End
				flush()
				break loop
			}
			if !msg.Timestamp.Before(to) {
				// The first record at or past To ends the partition.
				cur.done = true
				cur.next = msg.Offset
				flush()
				break loop
			}
			if msg.Timestamp.Before(from) {
				j.skipped.Add(1)
			} else {
				ev := new(event.Event)
				ev.Init(msg.Topic, msg.Partition, msg.Offset, msg.Timestamp, msg.Key, msg.Value, r.skim)
				size := ev.Size()
				r.stats.consumed.Add(1)
				r.stats.consumedBytes.Add(int64(size))
				r.b.hooks.OnConsumed(r.cfg.Name, msg.Topic, msg.Partition, 1, size)
				if len(cur.events) > 0 && cur.bytes+size > maxBytes && !flush() {
					break loop
				}
				if len(cur.events) == 0 {
					timer.Reset(r.cfg.Batch.MaxWait)
				}
				cur.events = append(cur.events, ev)
				cur.bytes += size
			}
			cur.next = msg.Offset + 1
			if cur.next >= p.End {
				cur.done = true
				flush()
				break loop
			}
			if len(cur.events) >= maxEvents && !flush() {
				break loop
			}
			// Time spent waiting for the sender does not count as idle.
			idle.Reset(j.idleEnd)
		case err := <-pc.Errors():
			lastErr = err
			r.log.Warn("replay fetch error", "topic", p.Topic, "partition", p.Partition, "err", err)
			// A partition that cannot be read is not idle: silence
			// while fetches fail says nothing about the log.
			idle.Reset(j.idleEnd)
		case <-timer.C:
			if len(cur.events) > 0 && !flush() {
				break loop
			}
			idle.Reset(j.idleEnd)
		case <-idle.C:
			// Nothing more arrives before the end offset: the rest of the
			// log holds no data record (transaction markers, compaction).
			r.log.Warn("no record before the end offset; taking the partition as finished",
				"topic", p.Topic, "partition", p.Partition, "next", cur.next, "end", p.End, "idle", j.idleEnd)
			cur.done = true
			cur.next = p.End
			flush()
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	close(batches)
	senderWG.Wait()
	if readErr != nil {
		return readErr
	}
	if sendErr != nil && !errors.Is(sendErr, context.Canceled) {
		return sendErr
	}
	return nil
}

// advance records that partition i was delivered up to next (exclusive).
func (j *replayJob) advance(i int, next int64, done bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := &j.state.Partitions[i]
	if next > p.Next {
		p.Next = min(next, p.End)
	}
	if done {
		p.Done = true
	}
	j.dirty = true
}

// save writes the checkpoint when something changed since the last write.
func (j *replayJob) save() error {
	if j.opts.Checkpoint == "" {
		return nil
	}
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	j.mu.Lock()
	if !j.dirty {
		j.mu.Unlock()
		return nil
	}
	j.state.Updated = time.Now().UTC()
	snap := *j.state
	snap.Partitions = append([]checkpoint.ReplayPartition(nil), j.state.Partitions...)
	j.dirty = false
	j.mu.Unlock()
	if err := checkpoint.SaveReplay(j.opts.Checkpoint, &snap); err != nil {
		j.mu.Lock()
		j.dirty = true
		j.mu.Unlock()
		return err
	}
	return nil
}

func (j *replayJob) complete() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.Complete()
}

func (j *replayJob) progress() ReplayProgress {
	j.mu.Lock()
	defer j.mu.Unlock()
	pr := ReplayProgress{Partitions: len(j.state.Partitions)}
	for _, p := range j.state.Partitions {
		pr.Total += p.End - p.Start
		if p.Done {
			pr.PartitionsDone++
			pr.Done += p.End - p.Start
		} else {
			pr.Done += p.Next - p.Start
		}
	}
	pr.Delivered = j.r.stats.delivered.Load()
	pr.DeadLettered = j.r.stats.deadLettered.Load()
	pr.Skipped = j.skipped.Load()
	pr.Elapsed = time.Since(j.start)
	return pr
}

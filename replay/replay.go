// Package replay delivers again the events of a past time window of a
// route's topics into its sink (forensics, a SIEM restored from backup),
// through a private consumer: the live consumer group and its offsets are
// not touched. Each partition is read from the offset of From − Lateness
// to a record stamped at or after To + Lateness or the end offset captured
// at the start; exactly the records stamped in [From, To) go to the
// route's delivery stage (package deliver), as the live bridge's do. A
// checkpoint file lets an interrupted job resume; retention that deleted
// part of the window is named, never hidden.
package replay

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/sinks"
	"github.com/siembridge/siembridge/sinks/registry"
)

// DefaultLateness is Options.Lateness when it is zero.
const DefaultLateness = 15 * time.Minute

// Options describe one replay job: the events of a route's topics
// whose Kafka record timestamp lies in [From, To), delivered again into the
// route's sink.
type Options struct {
	// Route names the route whose topics, sink, batching, retry, breaker
	// and dead-letter topic the replay uses. Required.
	Route string
	// From and To bound the window of record timestamps, From inclusive,
	// To exclusive. Required, From before To.
	From, To time.Time
	// Lateness bounds how far record timestamps stray from their order
	// within a partition (several producers, buffering shippers, skewed
	// clocks): each partition is read from the first record stamped at or
	// after From − Lateness until a record stamped at or after To +
	// Lateness (or the end offset captured at the start); of the records
	// read, exactly those stamped in [From, To) are delivered. A record in
	// the window that lies beyond those bounds in its partition is not
	// replayed. Default (0) DefaultLateness, 15m; negative: none
	// (read from the first record at or after From, stop at the first one
	// at or after To).
	Lateness time.Duration
	// AllowPartial replays what Kafka still holds when retention deleted
	// part of the job: the window starts before the oldest record of a
	// partition, or a resumed checkpoint points below a partition's log
	// start. Default false: Replay returns a *RetentionError naming what
	// is gone, before delivering anything.
	AllowPartial bool
	// Rate in events per second. Negative: the route's catch-up rate (and
	// its catch-up bytes rate); 0: unlimited.
	Rate float64
	// RateBytes in bytes per second (of the events' documents, as
	// routes[].rate.bytes_per_second counts them). Default (0): what Rate
	// chose — the route's catch-up bytes rate, or none when Rate is 0;
	// negative: unlimited.
	RateBytes float64
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
	// Filter, when set, selects the events of the window to deliver (a
	// case's host, user or subnet), on top of the route's own
	// routes[].filter, which a replay applies as the live route does; the
	// others are read and counted as filtered (Progress.Filtered), not
	// delivered. Default: the route's filter alone.
	Filter func(*event.Event) bool
	// NewSink builds the route's sink. Default registry.New.
	NewSink func(config.Sink, *slog.Logger) (sinks.Sink, error)
	// Sink replaces the sink the route's configuration would build (tests).
	// Replay closes it.
	Sink sinks.Sink
	// OnProgress is called every ProgressInterval and once at the end,
	// from one goroutine. Optional.
	OnProgress func(Progress)
	// ProgressInterval between checkpoint writes and progress calls.
	// Default 500ms.
	ProgressInterval time.Duration
}

// lateness is the effective Lateness: the default for 0, none for a
// negative value.
func (o Options) lateness() time.Duration {
	switch {
	case o.Lateness == 0:
		return DefaultLateness
	case o.Lateness < 0:
		return 0
	}
	return o.Lateness
}

// Progress is a snapshot of a replay.
type Progress struct {
	Partitions     int `json:"partitions"`
	PartitionsDone int `json:"partitions_done"`
	// Total is the number of offsets between each partition's start and
	// end offset: an upper bound of the records to read (a partition stops
	// early at a record stamped at or after To + lateness).
	Total int64 `json:"total"`
	// Done is how many of those offsets are behind the delivered
	// watermark, or were found to be outside the window.
	Done int64 `json:"done"`
	// Delivered and DeadLettered count the events of this run. Skipped
	// counts the records read and not delivered because their timestamp
	// is outside [From, To) — before From, or at or after To within the
	// lateness bound — among the offsets done, over every run of the job
	// (the checkpoint keeps it).
	Delivered    int64 `json:"delivered"`
	DeadLettered int64 `json:"dead_lettered"`
	Skipped      int64 `json:"skipped"`
	// Filtered counts the events of the window that Options.Filter did
	// not select, in this run.
	Filtered int64 `json:"filtered"`
	// SampledOut counts the events the route's sampling (routes[].sample)
	// left out, in this run.
	SampledOut int64         `json:"sampled_out"`
	Elapsed    time.Duration `json:"elapsed"`
}

// Result is what Replay did.
type Result struct {
	Progress
	// Complete: the whole window was delivered (or dead-lettered), or,
	// with AllowPartial, all of it that Kafka still held (Gaps says what
	// was not).
	Complete bool
	// Lateness is the lateness bound the job ran with.
	Lateness time.Duration
	// Gaps are the parts of the job retention deleted before they were
	// read, replayed around because AllowPartial was set.
	Gaps []RetentionGap
	// Checkpoint is the path of the checkpoint file left behind for
	// --resume, empty when there is none (the replay completed, or ran
	// without one).
	Checkpoint string
}

// OptionError reports an unusable Options field; Option is the
// command-line flag's name (route, from, to, rate, rate-bytes, index,
// resume).
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// Replay delivers the events of the route's topics whose record timestamp
// is in [From, To) into the route's sink, through a private consumer: it
// joins no consumer group and leaves every committed offset alone, so the
// live bridge may keep running. Each partition starts at the first offset
// whose timestamp is at or after From − Lateness (Kafka's ListOffsets by
// timestamp) and stops at a record stamped at or after To + Lateness, or
// at the log end captured when the job started, whichever comes first;
// the records read that are stamped outside [From, To) are skipped and
// counted. A partition is finished only there: never because nothing
// arrived for a while (see tailProbe).
//
// When retention deleted part of the job — the window starts before the
// oldest record of a partition, or a resumed checkpoint points below its
// log start — Replay returns a *RetentionError before delivering anything,
// unless AllowPartial.
//
// Delivery is the live bridge's: batches cut by batch.max_events and
// max_bytes, the same deterministic document IDs (a window replayed twice
// creates no duplicate), retries, circuit breaker and dead-letter topic
// with the same headers; only the rate limit is the replay's own.
// Partitions keep their order; several are replayed at once.
//
// Replay blocks until the window is delivered, ctx ends or a partition
// fails. It returns a *OptionError for unusable options (before
// connecting to anything), and an error wrapping ctx.Err() when
// interrupted. Once the job has started, an interruption or a failure
// leaves the checkpoint with the delivered watermark of every partition,
// for Resume; only a complete replay returns a nil error.
func Run(ctx context.Context, cfg *config.Config, opts Options) (res Result, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("job", "replay")
	// The sink is ours to close from here on.
	sink := opts.Sink
	defer func() {
		if sink != nil {
			sink.Close()
		}
	}()
	rc, err := replayRoute(cfg, opts)
	if err != nil {
		return res, err
	}
	res.Lateness = opts.lateness()
	var state *checkpoint.ReplayState
	if opts.Resume {
		if state, err = loadResume(opts); err != nil {
			return res, err
		}
	}
	sc, err := saramaConfig(cfg, rc)
	if err != nil {
		return res, err
	}
	log = log.With("route", rc.Name)
	if sink == nil {
		if sink, err = newSink(opts, rc, log); err != nil {
			return res, fmt.Errorf("route %s: sink: %w", rc.Name, err)
		}
	}
	sel, err := selector(rc, opts.Filter)
	if err != nil {
		return res, fmt.Errorf("route %s: %w", rc.Name, err)
	}
	parts, err := deliver.ForRoute(rc, sink, deliver.RouteOptions{Log: log, Hooks: opts.Hooks, Filter: sel})
	if err != nil {
		return res, fmt.Errorf("route %s: %w", rc.Name, err)
	}
	k, err := connect(cfg.Kafka.Brokers, sc)
	if err != nil {
		return res, err
	}
	defer k.close()
	parts.DeadLetter.Producer = k.producer

	state, gaps, err := planReplay(k.client, sc, rc, opts, state, log)
	if err != nil {
		return res, err
	}
	res.Gaps = gaps
	j := &replayJob{
		rc: rc, log: log, stage: parts.Stage, skim: deliver.AcceptsUnchecked(sink, sel != nil || deliver.ReadsFields(rc)), headers: cfg.Kafka.Headers, hooks: opts.Hooks,
		client: k.client, sc: sc, consumer: k.consumer, opts: opts, state: state, start: time.Now(),
		window: replayWindow{from: opts.From, to: opts.To, lateness: opts.lateness()}, dirty: true,
	}
	return j.runToEnd(ctx, res)
}

// saramaConfig is the Kafka client configuration of a replay of route rc
// (and of its plan).
func saramaConfig(cfg *config.Config, rc config.Route) (*sarama.Config, error) {
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	sc.ClientID += "-replay"
	sc.ChannelBufferSize = max(64, min(rc.Batch.MaxEvents, 1024))
	// What the live bridge reads (sarama's default, said here because the
	// end-of-partition probe reads the log the same way).
	sc.Consumer.IsolationLevel = sarama.ReadUncommitted
	return sc, nil
}

// selector is the route's filter and extra (Options.Filter) together,
// nil when neither is set.
func selector(rc config.Route, extra func(*event.Event) bool) (func(*event.Event) bool, error) {
	f, err := filter.New(rc.Filter)
	if err != nil {
		return nil, err
	}
	switch {
	case f == nil:
		return extra, nil
	case extra == nil:
		return f.Accepts, nil
	}
	return func(ev *event.Event) bool { return f.Accepts(ev) && extra(ev) }, nil
}

// newSink builds the route's sink with opts.NewSink, registry.New by
// default.
func newSink(opts Options, rc config.Route, log *slog.Logger) (sinks.Sink, error) {
	if opts.NewSink != nil {
		return opts.NewSink(rc.Sink, log)
	}
	return registry.New(rc.Sink, log)
}

// conn is the replay's own Kafka client, consumer and dead-letter
// producer.
type conn struct {
	client   sarama.Client
	producer sarama.SyncProducer
	consumer sarama.Consumer
}

func connect(brokers []string, sc *sarama.Config) (*conn, error) {
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k := &conn{client: client}
	if k.producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
		k.close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	if k.consumer, err = sarama.NewConsumerFromClient(client); err != nil {
		k.close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return k, nil
}

func (k *conn) close() {
	if k.consumer != nil {
		k.consumer.Close()
	}
	if k.producer != nil {
		k.producer.Close()
	}
	k.client.Close()
}

// runToEnd saves the plan, runs the job and reports: the checkpoint is
// deleted once the whole window was delivered and kept otherwise.
func (j *replayJob) runToEnd(ctx context.Context, res Result) (Result, error) {
	opts := j.opts
	if err := j.save(); err != nil {
		return res, err
	}
	prog := j.progress()
	j.log.Info("replay starting", "from", opts.From, "to", opts.To, "lateness", j.window.lateness, "partitions", prog.Partitions,
		"offsets", prog.Total, "done", prog.Done, "rate", j.rc.Rate.EventsPerSecond, "index", opts.Index, "checkpoint", opts.Checkpoint)

	runErr := j.run(ctx)
	saveErr := j.save()
	res.Progress = j.progress()
	res.Complete = runErr == nil && j.complete()
	if opts.OnProgress != nil {
		opts.OnProgress(res.Progress)
	}
	var err error
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
			j.log.Warn("replay complete; could not delete its checkpoint", "err", rmErr)
			res.Checkpoint = opts.Checkpoint
		}
	} else if opts.Checkpoint != "" && saveErr == nil {
		res.Checkpoint = opts.Checkpoint
	}
	j.log.Info("replay finished", "complete", res.Complete, "delivered", res.Delivered,
		"dead_lettered", res.DeadLettered, "skipped", res.Skipped, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, err
}

// Hooks receive a replay's metrics: the delivery stage's and the records
// read. bridge.Hooks (the metrics package's) satisfies it.
type Hooks interface {
	deliver.Hooks
	// OnConsumed: n records of size bytes of the window were read.
	OnConsumed(route, topic string, partition int32, n, bytes int)
}

// replayRoute checks opts and returns the route configuration the replay
// runs with: its own rate, and the sink's index replaced when asked.
func replayRoute(cfg *config.Config, opts Options) (config.Route, error) {
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
	if l := opts.lateness(); l > 0 && (opts.From.Add(-l).Year() < 1970 || opts.To.Add(l).Before(opts.To)) {
		return rc, optErr("lateness", "%s reaches outside the times Kafka can hold", l)
	}
	if math.IsNaN(opts.Rate) || math.IsInf(opts.Rate, 0) {
		return rc, optErr("rate", "must be a finite number")
	}
	if math.IsNaN(opts.RateBytes) || math.IsInf(opts.RateBytes, 0) || opts.RateBytes > math.MaxInt64 || (opts.RateBytes > 0 && opts.RateBytes < 1) {
		return rc, optErr("rate-bytes", "must be a finite number of at least 1 byte/s")
	}
	if opts.Resume && opts.Checkpoint == "" {
		return rc, optErr("resume", "needs a checkpoint file")
	}
	sink, err := replaySink(rc.Sink, opts.Index)
	if err != nil {
		return rc, &OptionError{Option: "index", Err: err}
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
	switch {
	case opts.RateBytes > 0:
		rt.BytesPerSecond = config.ByteSize(opts.RateBytes)
	case opts.RateBytes < 0:
		rt.BytesPerSecond = 0
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

func loadResume(opts Options) (*checkpoint.ReplayState, error) {
	st, err := checkpoint.LoadReplay(opts.Checkpoint)
	if err != nil {
		return nil, &OptionError{Option: "resume", Err: err}
	}
	if err := st.Check(opts.Route, opts.From, opts.To, opts.Index, opts.lateness()); err != nil {
		return nil, &OptionError{Option: "resume", Err: fmt.Errorf("%s: %w", opts.Checkpoint, err)}
	}
	return st, nil
}

// planReplay lists the partitions of the route's topics and, for those the
// state does not hold yet, asks Kafka for the start offset (the first
// record at or after From − lateness) and the log end. It checks what
// retention left (planPartitions): the gaps found are an error unless
// AllowPartial, and are returned otherwise, the resumed partitions moved
// past them.
func planReplay(client sarama.Client, sc *sarama.Config, rc config.Route, opts Options, st *checkpoint.ReplayState, log *slog.Logger) (*checkpoint.ReplayState, []RetentionGap, error) {
	topics, err := kafka.RouteTopics(client, rc)
	if err != nil {
		return nil, nil, fmt.Errorf("route %s: topics_regex: %w", rc.Name, err)
	}
	st, gaps, err := planPartitions(client, sc, topics, opts, st, log)
	if err != nil || len(gaps) == 0 {
		return st, nil, err
	}
	if !opts.AllowPartial {
		return nil, nil, &RetentionError{From: opts.From, To: opts.To, Gaps: gaps}
	}
	for _, g := range gaps {
		log.Warn("retention deleted part of the replay; replaying what is left (--allow-partial)", "gap", g.String())
	}
	skipGaps(st, gaps)
	return st, gaps, nil
}

// planPartitions adds to st (a new state when nil) the partitions of
// topics it does not hold yet, each from the first record at or after
// From − lateness to the log end, sorted by topic and partition. It
// returns the retention gaps found: resumed partitions whose next offset
// is below the log start, new ones whose oldest record is later than
// From. It only asks Kafka; it changes nothing there.
func planPartitions(client sarama.Client, sc *sarama.Config, topics []string, opts Options, st *checkpoint.ReplayState, log *slog.Logger) (*checkpoint.ReplayState, []RetentionGap, error) {
	w := replayWindow{from: opts.From, to: opts.To, lateness: opts.lateness()}
	if st == nil {
		st = &checkpoint.ReplayState{Route: opts.Route, From: opts.From, To: opts.To, Index: opts.Index, Lateness: w.lateness}
	}
	have := make(map[topicPartition]bool, len(st.Partitions))
	for _, p := range st.Partitions {
		have[topicPartition{p.Topic, p.Partition}] = true
	}
	resumed := len(st.Partitions) > 0
	gaps, err := resumeGaps(client, st)
	if err != nil {
		return nil, nil, err
	}
	for _, topic := range topics {
		parts, err := client.Partitions(topic)
		if err != nil {
			return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			if have[topicPartition{topic, p}] {
				continue
			}
			rp, gap, err := planPartition(client, sc, w, topic, p)
			if err != nil {
				return nil, nil, err
			}
			if gap != nil {
				gaps = append(gaps, *gap)
			}
			if resumed {
				log.Warn("partition not in the checkpoint (added since?); replaying it from the window start", "topic", topic, "partition", p)
			}
			st.Partitions = append(st.Partitions, rp)
		}
	}
	sort.Slice(st.Partitions, func(a, b int) bool {
		x, y := st.Partitions[a], st.Partitions[b]
		if x.Topic != y.Topic {
			return x.Topic < y.Topic
		}
		return x.Partition < y.Partition
	})
	return st, gaps, nil
}

// resumeGaps returns the gaps of the resumed partitions of st whose next
// offset is below their log start.
func resumeGaps(client sarama.Client, st *checkpoint.ReplayState) ([]RetentionGap, error) {
	var gaps []RetentionGap
	for _, p := range st.Partitions {
		if p.Done {
			continue
		}
		logStart, err := client.GetOffset(p.Topic, p.Partition, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("log start of %s/%d: %w", p.Topic, p.Partition, err)
		}
		if g, ok := resumeGap(p, logStart); ok {
			gaps = append(gaps, g)
		}
	}
	return gaps, nil
}

// planPartition asks Kafka for the start offset of topic/partition (the
// first record at or after w's start time) and its log end, and returns
// the partition's plan and its retention gap, nil when there is none.
func planPartition(client sarama.Client, sc *sarama.Config, w replayWindow, topic string, p int32) (checkpoint.ReplayPartition, *RetentionGap, error) {
	var rp checkpoint.ReplayPartition
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return rp, nil, fmt.Errorf("log end of %s/%d: %w", topic, p, err)
	}
	logStart, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return rp, nil, fmt.Errorf("log start of %s/%d: %w", topic, p, err)
	}
	start, err := client.GetOffset(topic, p, w.startTime().UnixMilli())
	if err != nil {
		return rp, nil, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, w.startTime().Format(time.RFC3339Nano), err)
	}
	if start < 0 || start > end {
		start = end // no record at or after From − lateness
	}
	rp = checkpoint.ReplayPartition{Topic: topic, Partition: p, Start: start, End: end, Next: start, Done: start >= end}
	// Retention took something from this partition, and what is left may
	// begin inside the window: find the oldest record's time.
	if logStart > 0 && (start == logStart || logStart >= end) {
		oldest, found, err := oldestRecord(client, sc, topic, p, logStart, end)
		if err != nil {
			return rp, nil, fmt.Errorf("oldest record of %s/%d: %w", topic, p, err)
		}
		if g, ok := windowGap(w, topic, p, logStart, oldest, found); ok {
			return rp, &g, nil
		}
	}
	return rp, nil, nil
}

// skipGaps moves the resumed partitions of st that retention cut (the
// gaps with a Next) to their log start: what --allow-partial replays.
func skipGaps(st *checkpoint.ReplayState, gaps []RetentionGap) {
	for _, g := range gaps {
		if g.Next < 0 {
			continue
		}
		for i := range st.Partitions {
			p := &st.Partitions[i]
			if p.Topic == g.Topic && p.Partition == g.Partition {
				p.Next = min(g.LogStart, p.End)
				p.Done = p.Next >= p.End
			}
		}
	}
}

// replayJob is a running replay.
type replayJob struct {
	rc       config.Route
	log      *slog.Logger
	stage    *deliver.Stage
	skim     bool
	headers  config.KafkaHeaders // kafka.headers: added to each event as the bridge does
	hooks    Hooks               // nil: none
	client   sarama.Client
	sc       *sarama.Config
	consumer sarama.Consumer
	opts     Options
	window   replayWindow
	start    time.Time

	mu    sync.Mutex
	state *checkpoint.ReplayState
	dirty bool // state changed since the last write
	// saveMu serializes writes of the checkpoint file.
	saveMu sync.Mutex
}

// replayBatch is a batch (possibly empty) and the offset after the last
// record read for it (records skipped before it included).
type replayBatch struct {
	events  []*event.Event
	next    int64
	skipped int64 // records read for it and not delivered (outside the window)
	done    bool  // the partition ends with this batch
}

// run replays every partition that is not done, Parallel at a time, and
// saves the checkpoint while it goes. The first partition error stops the
// others.
func (j *replayJob) run(ctx context.Context) error {
	parallel := j.opts.Parallel
	if parallel <= 0 {
		parallel = max(1, j.rc.Workers)
	}
	var todo []int
	for i, p := range j.state.Partitions {
		if !p.Done {
			todo = append(todo, i)
		}
	}
	stopTicks := j.tick()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, i := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return j.partition(gctx, i) })
	}
	err := g.Wait()
	stopTicks()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replay interrupted: %w", err)
	}
	return nil
}

// tick saves the checkpoint and reports progress every ProgressInterval
// until the returned function is called (which waits for the last tick).
func (j *replayJob) tick() (stop func()) {
	interval := j.opts.ProgressInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		warned := false
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if err := j.save(); err != nil && !warned {
				j.log.Error("cannot write the replay checkpoint; an interruption now loses the progress since the last write", "err", err)
				warned = true
			}
			if j.opts.OnProgress != nil {
				j.opts.OnProgress(j.progress())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// tailCheckAfter is how long a partition's consumer may be silent, short
// of the end offset, before tailProbe looks at what is left (and again
// after each look that found records still to come). Silence alone never
// ends a partition.
const tailCheckAfter = time.Second

// skippedFlush is how many skipped records a batch may carry before it is
// sent (empty, or as it is) so that the watermark moves past them.
const skippedFlush = 1024

// partition replays partition i: this goroutine reads records and cuts
// batches, a sender delivers them one after the other so that the order
// is kept while the next batch fills.
func (j *replayJob) partition(ctx context.Context, i int) error {
	j.mu.Lock()
	p := j.state.Partitions[i]
	j.mu.Unlock()
	if p.Next >= p.End {
		j.advance(i, p.End, 0, true)
		return nil
	}
	pc, err := j.consumer.ConsumePartition(p.Topic, p.Partition, p.Next)
	if err != nil {
		if errors.Is(err, sarama.ErrOffsetOutOfRange) {
			return j.retentionError(p, p.Next)
		}
		return fmt.Errorf("%s/%d at offset %d: %w", p.Topic, p.Partition, p.Next, err)
	}
	defer pc.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr := &partRun{j: j, p: p, next: p.Next,
		batcher: deliver.NewBatcher(j.rc.Batch.MaxEvents, int(j.rc.Batch.MaxBytes)),
		batches: make(chan *replayBatch, 1), probed: make(chan tailResult, 1),
		timer: time.NewTimer(time.Hour), quiet: time.NewTimer(tailCheckAfter)}
	pr.timer.Stop()
	defer pr.timer.Stop()
	defer pr.quiet.Stop()
	defer pr.probeWG.Wait()
	var sendErr error
	var senderWG sync.WaitGroup
	senderWG.Go(func() {
		for b := range pr.batches {
			if ctx.Err() != nil {
				continue
			}
			if len(b.events) > 0 {
				if err := j.stage.Deliver(ctx, ctx, b.events); err != nil {
					sendErr = err
					cancel()
					continue
				}
			}
			j.advance(i, b.next, b.skipped, b.done)
		}
	})
	readErr := pr.read(ctx, pc)
	close(pr.batches)
	senderWG.Wait()
	if readErr != nil {
		return readErr
	}
	if sendErr != nil && !errors.Is(sendErr, context.Canceled) {
		return sendErr
	}
	return nil
}

// partRun is the reader's state for one partition of a replay.
type partRun struct {
	j       *replayJob
	p       checkpoint.ReplayPartition
	batcher *deliver.Batcher
	batches chan *replayBatch
	// next is the offset after the last record read, skipped counts the
	// records read and skipped since the last batch was queued.
	next, skipped int64
	timer, quiet  *time.Timer
	lastErr       error // the consumer's last error
	// At most one tail probe runs at a time; its answer arrives on
	// probed, and the partition waits for it before returning.
	probed  chan tailResult
	probeWG sync.WaitGroup
	probing bool
}

// errStop ends read without an error of its own: the partition is done,
// or ctx ended.
var errStop = errors.New("stop")

// read consumes the partition until it is done, ctx ends or the consumer
// fails; it returns the consumer's failure, if any.
func (pr *partRun) read(ctx context.Context, pc sarama.PartitionConsumer) error {
	j, p := pr.j, pr.p
	for {
		var err error
		select {
		case msg, ok := <-pc.Messages():
			if !ok {
				if errors.Is(pr.lastErr, sarama.ErrOffsetOutOfRange) {
					return j.retentionError(p, pr.next)
				}
				return fmt.Errorf("%s/%d: consumer stopped at offset %d: %v", p.Topic, p.Partition, pr.next, pr.lastErr)
			}
			err = pr.take(ctx, msg)
			pr.quiet.Reset(tailCheckAfter)
		case err := <-pc.Errors():
			pr.lastErr = err
			j.log.Warn("replay fetch error", "topic", p.Topic, "partition", p.Partition, "err", err)
		case <-pr.timer.C:
			if b := pr.batcher.Flush(); b != nil {
				err = pr.queue(ctx, b.Events, pr.next, false)
			}
		case <-pr.quiet.C:
			pr.probeTail()
		case res := <-pr.probed:
			err = pr.probeAnswer(ctx, res)
		case <-ctx.Done():
			return nil
		}
		if err != nil {
			return nil // errStop, or ctx ended while queueing
		}
	}
}

// take handles one record.
func (pr *partRun) take(ctx context.Context, msg *sarama.ConsumerMessage) error {
	j, p := pr.j, pr.p
	if msg.Offset >= p.End {
		return pr.finish(ctx, p.End)
	}
	deliverIt, done := j.window.Classify(msg.Timestamp)
	if done {
		// A record stamped at or after To + lateness ends the partition.
		return pr.finish(ctx, msg.Offset)
	}
	if !deliverIt {
		pr.skipped++
	} else {
		ev := new(event.Event)
		ev.Init(msg.Topic, msg.Partition, msg.Offset, msg.Timestamp, msg.Key, msg.Value, j.skim)
		kafka.AttachHeaders(ev, msg.Headers, j.headers)
		if j.hooks != nil {
			j.hooks.OnConsumed(j.rc.Name, msg.Topic, msg.Partition, 1, ev.Size())
		}
		newBatch := !pr.batcher.Started()
		if b := pr.batcher.Add(ev); b != nil {
			// The batch ends before ev when ev did not fit (ev begins the
			// next one), with ev when it filled it.
			next := msg.Offset + 1
			if b.Events[len(b.Events)-1] != ev {
				next, newBatch = msg.Offset, true
			}
			if err := pr.queue(ctx, b.Events, next, false); err != nil {
				return err
			}
		}
		if newBatch && pr.batcher.Started() {
			pr.timer.Reset(j.rc.Batch.MaxWait)
		}
	}
	pr.next = msg.Offset + 1
	if pr.next >= p.End {
		return pr.finish(ctx, p.End)
	}
	// A long run of skipped records moves the watermark too.
	if pr.skipped >= skippedFlush {
		var evs []*event.Event
		if b := pr.batcher.Flush(); b != nil {
			evs = b.Events
		}
		return pr.queue(ctx, evs, pr.next, false)
	}
	return nil
}

// queue hands a batch up to next (with the records skipped since the last
// one) to the sender.
func (pr *partRun) queue(ctx context.Context, evs []*event.Event, next int64, done bool) error {
	if !pr.batcher.Started() {
		pr.timer.Stop()
	}
	b := &replayBatch{events: evs, next: next, skipped: pr.skipped, done: done}
	select {
	case pr.batches <- b:
		pr.skipped = 0
		if done {
			return errStop
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish queues what is left as the partition's last batch, done at next.
func (pr *partRun) finish(ctx context.Context, next int64) error {
	var evs []*event.Event
	if b := pr.batcher.Flush(); b != nil {
		evs = b.Events
	}
	pr.next = next
	return pr.queue(ctx, evs, next, true)
}

// probeTail looks at what is left of the log after a silence: silence
// says nothing about the log. The probe's fetch may hang as the
// consumer's does, so it runs beside the reader.
func (pr *partRun) probeTail() {
	if pr.probing {
		return
	}
	pr.probing = true
	j, p, next := pr.j, pr.p, pr.next
	pr.probeWG.Go(func() {
		done, err := tailProbe(j.client, j.sc, p.Topic, p.Partition, next, p.End)
		pr.probed <- tailResult{done: done, err: err}
	})
}

func (pr *partRun) probeAnswer(ctx context.Context, res tailResult) error {
	pr.probing = false
	j, p := pr.j, pr.p
	switch {
	case res.err != nil:
		j.log.Debug("replay end check failed; will look again", "topic", p.Topic, "partition", p.Partition, "err", res.err)
	case res.done:
		// No record left before the end offset: only transaction markers
		// or compacted-away offsets.
		j.log.Info("no record left before the end offset; partition finished",
			"topic", p.Topic, "partition", p.Partition, "next", pr.next, "end", p.End)
		return pr.finish(ctx, p.End)
	}
	pr.quiet.Reset(tailCheckAfter)
	return nil
}

// retentionError is the error of a partition whose next offset is no
// longer in Kafka: retention deleted it while the job ran.
func (j *replayJob) retentionError(p checkpoint.ReplayPartition, next int64) error {
	logStart, err := j.client.GetOffset(p.Topic, p.Partition, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("%s/%d at offset %d: %w (log start unknown: %v)", p.Topic, p.Partition, next, sarama.ErrOffsetOutOfRange, err)
	}
	return &RetentionError{From: j.opts.From, To: j.opts.To, Gaps: []RetentionGap{{
		Topic: p.Topic, Partition: p.Partition, LogStart: logStart, Next: next,
	}}}
}

// advance records that partition i was delivered up to next (exclusive),
// skipping skipped records of the window on the way.
func (j *replayJob) advance(i int, next, skipped int64, done bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := &j.state.Partitions[i]
	if next > p.Next {
		p.Next = min(next, p.End)
		p.Skipped += skipped
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

func (j *replayJob) progress() Progress {
	j.mu.Lock()
	defer j.mu.Unlock()
	pr := Progress{Partitions: len(j.state.Partitions)}
	for _, p := range j.state.Partitions {
		pr.Skipped += p.Skipped
		pr.Total += p.End - p.Start
		if p.Done {
			pr.PartitionsDone++
			pr.Done += p.End - p.Start
		} else {
			pr.Done += p.Next - p.Start
		}
	}
	c := j.stage.Counters()
	pr.Delivered = c.Delivered.Load()
	pr.DeadLettered = c.DeadLettered.Load()
	pr.Filtered = c.Filtered.Load()
	pr.SampledOut = c.SampledOut.Load()
	pr.Elapsed = time.Since(j.start)
	return pr
}

// replayWindow is the time window of a replay and its lateness bound. It
// decides from a record's timestamp alone what the replay does with it.
type replayWindow struct {
	from, to time.Time // [from, to)
	lateness time.Duration
}

// startTime is the record time each partition is read from: from −
// lateness.
func (w replayWindow) startTime() time.Time { return w.from.Add(-w.lateness) }

// Classify says what to do with a record stamped ts: deliver it (ts in
// [from, to)); or not, and done when ts is at or after to + lateness — the
// record ends its partition; neither: the record is read and skipped.
func (w replayWindow) Classify(ts time.Time) (deliver, done bool) {
	if !ts.Before(w.to.Add(w.lateness)) {
		return false, true
	}
	return !ts.Before(w.from) && ts.Before(w.to), false
}

// tailResult is the answer of a tailProbe.
type tailResult struct {
	done bool
	err  error
}

// tailProbeFetches bounds the fetches of one tailProbe; each one moves
// past at least one batch.
const tailProbeFetches = 16

// tailProbe reports whether partition topic/partition holds no data record
// in [next, end), reading the log itself from next with Fetch requests to
// its leader: true when all that is left before end is transaction
// markers or offsets compaction removed, so that the consumer will never
// deliver a record at end − 1. False when a record is there (the consumer
// has yet to deliver it) or when it cannot tell. It blocks for the fetches
// (each bounded by the client's read timeout).
func tailProbe(client sarama.Client, sc *sarama.Config, topic string, partition int32, next, end int64) (bool, error) {
	for range tailProbeFetches {
		if next >= end {
			return true, nil
		}
		block, err := fetchBlock(client, sc, topic, partition, next)
		if err != nil {
			return false, err
		}
		verdict, after := scanTail(block, next, end)
		switch verdict {
		case tailEmpty:
			return true, nil
		case tailHasRecord:
			return false, nil
		}
		if after <= next {
			return false, nil // no progress (a batch larger than the fetch)
		}
		next = after
	}
	return false, nil
}

// tailVerdict is what scanTail found.
type tailVerdict int

const (
	tailUnknown   tailVerdict = iota // look again from the offset returned
	tailHasRecord                    // a data record lies in [next, end)
	tailEmpty                        // none does
)

// scanTail looks through a fetch answer read at next for a data record in
// [next, end). It returns tailUnknown, with the offset after the last
// batch seen, when the answer ends before end with only markers.
func scanTail(block *sarama.FetchResponseBlock, next, end int64) (tailVerdict, int64) {
	seen := false
	for _, rs := range block.RecordsSet {
		switch {
		case rs == nil:
		case rs.RecordBatch != nil:
			b := rs.RecordBatch
			if b.PartialTrailingRecord && len(b.Records) == 0 {
				return tailUnknown, next // truncated: look again
			}
			seen = true
			if b.LastOffset() < next {
				continue
			}
			if b.FirstOffset >= end {
				return tailEmpty, next
			}
			if !b.Control {
				for _, rec := range b.Records {
					if off := b.FirstOffset + rec.OffsetDelta; off >= next && off < end {
						return tailHasRecord, next
					}
				}
			}
			// Markers, or records compaction removed: the batch keeps
			// its last offset.
			next = b.LastOffset() + 1
			if next >= end {
				return tailEmpty, next
			}
		case rs.MsgSet != nil:
			for _, mb := range rs.MsgSet.Messages {
				seen = true
				if mb.Offset >= end {
					return tailEmpty, next
				}
				if mb.Offset >= next {
					return tailHasRecord, next
				}
			}
		}
	}
	if !seen && !block.Partial {
		// Nothing at or after next below the high watermark.
		return tailEmpty, next
	}
	return tailUnknown, next
}

// fetchBlock reads partition topic/partition from offset with one Fetch
// request to its leader, as the replay's consumer reads it (isolation
// level). It blocks until the broker answers or the client's read timeout.
func fetchBlock(client sarama.Client, sc *sarama.Config, topic string, partition int32, offset int64) (*sarama.FetchResponseBlock, error) {
	return fetchBlockMax(client, sc, topic, partition, offset, 1<<20)
}

// fetchBlockMax is fetchBlock with an answer of at most maxBytes (or the
// first batch at offset, when that is larger: brokers send one whole
// batch at least).
func fetchBlockMax(client sarama.Client, sc *sarama.Config, topic string, partition int32, offset int64, maxBytes int32) (*sarama.FetchResponseBlock, error) {
	broker, err := client.Leader(topic, partition)
	if err != nil {
		return nil, err
	}
	req := &sarama.FetchRequest{MaxWaitTime: 100, MinBytes: 1, MaxBytes: maxBytes}
	switch {
	case sc.Version.IsAtLeast(sarama.V0_11_0_0):
		req.Version = 4 // record batches, with control records
		req.Isolation = sc.Consumer.IsolationLevel
	case sc.Version.IsAtLeast(sarama.V0_10_0_0):
		req.Version = 2
	}
	req.AddBlock(topic, partition, offset, maxBytes, -1)
	resp, err := broker.Fetch(req)
	if err != nil {
		return nil, err
	}
	block := resp.GetBlock(topic, partition)
	if block == nil {
		return nil, sarama.ErrIncompleteResponse
	}
	if !errors.Is(block.Err, sarama.ErrNoError) {
		return nil, block.Err
	}
	return block, nil
}

// oldestRecord returns the time of the first data record of the partition
// at or after logStart and before end; found is false when there is none.
func oldestRecord(client sarama.Client, sc *sarama.Config, topic string, partition int32, logStart, end int64) (ts time.Time, found bool, err error) {
	next := logStart
	for range tailProbeFetches {
		if next >= end {
			return ts, false, nil
		}
		block, err := fetchBlock(client, sc, topic, partition, next)
		if err != nil {
			return ts, false, err
		}
		ts, found, after := firstRecordTime(block, next, end)
		if found {
			return ts, true, nil
		}
		if after <= next {
			return ts, false, fmt.Errorf("no progress reading from offset %d", next)
		}
		next = after
	}
	return ts, false, fmt.Errorf("no record found in %d fetches from offset %d", tailProbeFetches, logStart)
}

// firstRecordTime returns the time of the first data record at or after
// next and before end in a fetch answer, or the offset to read on from
// (end when the answer shows there is none).
func firstRecordTime(block *sarama.FetchResponseBlock, next, end int64) (time.Time, bool, int64) {
	seen := false
	for _, rs := range block.RecordsSet {
		switch {
		case rs == nil:
		case rs.RecordBatch != nil:
			b := rs.RecordBatch
			if b.PartialTrailingRecord && len(b.Records) == 0 {
				return time.Time{}, false, next
			}
			seen = true
			if b.LastOffset() < next {
				continue
			}
			if !b.Control {
				for _, rec := range b.Records {
					off := b.FirstOffset + rec.OffsetDelta
					if off < next {
						continue
					}
					if off >= end {
						return time.Time{}, false, end
					}
					if b.LogAppendTime {
						return b.MaxTimestamp, true, off
					}
					return b.FirstTimestamp.Add(rec.TimestampDelta), true, off
				}
			}
			next = b.LastOffset() + 1
		case rs.MsgSet != nil:
			for _, mb := range rs.MsgSet.Messages {
				seen = true
				if mb.Offset < next || mb.Msg == nil {
					continue
				}
				if mb.Offset >= end {
					return time.Time{}, false, end
				}
				return mb.Msg.Timestamp, true, mb.Offset
			}
		}
	}
	if !seen && !block.Partial {
		return time.Time{}, false, end
	}
	return time.Time{}, false, next
}

// RetentionGap is a part of a replay that Kafka no longer holds: retention
// (or a DeleteRecords) moved a partition's log start past it.
type RetentionGap struct {
	Topic     string
	Partition int32
	// LogStart is the first offset the partition still holds.
	LogStart int64
	// Oldest is the time of the oldest record still held, later than the
	// window's start; zero when the partition holds no record at all (then
	// whatever it held of the window is gone).
	Oldest time.Time
	// Next is, for a resumed job, the offset the checkpoint continues at,
	// below LogStart; -1 for a window that starts before Oldest.
	Next int64
	// Lost is the part of the window that is gone: [From, Oldest) capped
	// at To; zero for a resumed job's gap.
	Lost time.Duration
	// From is the window's start (for the message).
	From time.Time
}

// windowGap returns the gap of a partition whose oldest retained record is
// stamped after the window starts (or that holds no record although it
// held some).
func windowGap(w replayWindow, topic string, partition int32, logStart int64, oldest time.Time, found bool) (RetentionGap, bool) {
	g := RetentionGap{Topic: topic, Partition: partition, LogStart: logStart, Next: -1, From: w.from}
	switch {
	case logStart <= 0:
		return g, false // nothing was ever deleted
	case !found:
		g.Lost = w.to.Sub(w.from)
		return g, true
	case !oldest.After(w.from):
		return g, false
	}
	g.Oldest = oldest
	lostTo := oldest
	if lostTo.After(w.to) {
		lostTo = w.to
	}
	g.Lost = lostTo.Sub(w.from)
	return g, true
}

// resumeGap returns the gap of a resumed partition whose next offset is
// below the log start.
func resumeGap(p checkpoint.ReplayPartition, logStart int64) (RetentionGap, bool) {
	if p.Done || p.Next >= logStart {
		return RetentionGap{}, false
	}
	return RetentionGap{Topic: p.Topic, Partition: p.Partition, LogStart: logStart, Next: p.Next}, true
}

// String says what is gone, in one sentence.
func (g RetentionGap) String() string {
	tp := fmt.Sprintf("%s/%d", g.Topic, g.Partition)
	switch {
	case g.Next >= 0:
		return fmt.Sprintf("the checkpoint continues %s at offset %d, but Kafka now starts it at offset %d: offsets %d to %d were deleted by retention before they were replayed",
			tp, g.Next, g.LogStart, g.Next, g.LogStart-1)
	case g.Oldest.IsZero():
		return fmt.Sprintf("%s holds no record any more (offsets below %d were deleted): whatever it held of the window is gone", tp, g.LogStart)
	}
	return fmt.Sprintf("the window's first %s are gone from %s: %s to %s, the time of its oldest record (offset %d)",
		g.Lost, tp, g.From.UTC().Format(time.RFC3339Nano), g.Oldest.UTC().Format(time.RFC3339Nano), g.LogStart)
}

// RetentionError is returned by Replay when retention deleted part of the
// job and AllowPartial is not set. Nothing was delivered (a resumed job's
// checkpoint is left as it was).
type RetentionError struct {
	From, To time.Time
	Gaps     []RetentionGap
}

func (e *RetentionError) Error() string {
	parts := make([]string, len(e.Gaps))
	for i, g := range e.Gaps {
		parts[i] = g.String()
	}
	return "retention: " + strings.Join(parts, "; ") + "; replay what is left with --allow-partial"
}

type topicPartition struct {
	topic     string
	partition int32
}

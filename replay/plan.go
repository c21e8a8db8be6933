package replay

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/kafka"
)

// PlanResult is what a replay (or an export) of a window would read,
// found by asking Kafka for offsets and sampling a few records: nothing
// is delivered, no checkpoint is written.
type PlanResult struct {
	Route    string
	From, To time.Time
	// Lateness is the lateness bound the job would run with.
	Lateness time.Duration
	// Partitions, sorted by topic and partition.
	Partitions []PartitionPlan
	// Gaps are the parts of the window retention already deleted; Run
	// refuses the job for them unless Options.AllowPartial.
	Gaps []RetentionGap
	// Events and Bytes are the sums of the partitions' estimates.
	Events, Bytes int64
	// EventsPerSecond and BytesPerSecond are the rates the job would run
	// at (Options.Rate and RateBytes over the route's); 0: unlimited.
	EventsPerSecond, BytesPerSecond float64
	// Duration is the estimated time to deliver Events and Bytes at those
	// rates: the longer of the two. Zero when both are unlimited (then the
	// sink sets the pace).
	Duration time.Duration
}

// PartitionPlan is the part of the job one partition holds.
type PartitionPlan struct {
	Topic     string
	Partition int32
	// From is the first offset to read: the first record stamped at or
	// after From − lateness, or where a resumed job continues.
	From int64
	// To bounds the read, exclusive: the offset of the first record
	// stamped at or after To + lateness (where the partition stops), or
	// End when there is none.
	To int64
	// End is the log end offset captured for the job.
	End int64
	// Events is To − From: an upper bound of the records read (offsets
	// that hold transaction markers or were compacted away count too);
	// those stamped outside [From, To) are read and skipped.
	Events int64
	// AvgRecordBytes is the mean value size of the records sampled: the
	// first batches at From and the last ones before To, one small Fetch
	// each. Zero when the range holds no record.
	AvgRecordBytes float64
	// Bytes is Events × AvgRecordBytes.
	Bytes int64
	// Gap is the part of this partition retention deleted, nil if none.
	Gap *RetentionGap
}

// planSampleBytes bounds each sampling Fetch of Plan (a broker still
// sends one whole batch when it is larger).
const planSampleBytes = 64 << 10

// Plan says what Run would do with cfg and opts without doing it: per
// partition of the route's topics, the offsets it would read, an estimate
// of the events and bytes, the retention gaps, and the time all of it
// takes at the rate the job would run at. It connects a Kafka client
// only — no sink, no producer, no consumer group — and writes nothing;
// with opts.Resume it reads the checkpoint and plans what is left.
// opts.Sink, NewSink, Filter, Hooks and OnProgress are not used (a filter
// is not applied to the estimates).
//
// It returns a *OptionError for unusable options. When retention deleted
// part of the window and opts.AllowPartial is not set, it returns the
// plan together with a *RetentionError: the error Run would return. It
// blocks for a few requests per partition; ctx is checked between
// partitions.
func Plan(ctx context.Context, cfg *config.Config, opts Options) (*PlanResult, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rc, err := replayRoute(cfg, opts)
	if err != nil {
		return nil, err
	}
	var st *checkpoint.ReplayState
	if opts.Resume {
		if st, err = loadResume(opts); err != nil {
			return nil, err
		}
	}
	sc, err := saramaConfig(cfg, rc)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()

	log := opts.Logger.With("job", "replay plan", "route", rc.Name)
	topics, err := kafka.RouteTopics(client, rc)
	if err != nil {
		return nil, fmt.Errorf("route %s: topics_regex: %w", rc.Name, err)
	}
	st, gaps, err := planPartitions(client, sc, topics, opts, st, log)
	if err != nil {
		return nil, err
	}
	skipGaps(st, gaps)
	w := replayWindow{from: opts.From, to: opts.To, lateness: opts.lateness()}
	p := &PlanResult{Route: rc.Name, From: opts.From, To: opts.To, Lateness: w.lateness, Gaps: gaps,
		EventsPerSecond: rc.Rate.EventsPerSecond, BytesPerSecond: float64(rc.Rate.BytesPerSecond)}
	for _, rp := range st.Partitions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pp, err := planRead(client, sc, w, rp)
		if err != nil {
			return nil, err
		}
		pp.Gap = gapOf(gaps, rp.Topic, rp.Partition)
		p.Partitions = append(p.Partitions, pp)
		p.Events += pp.Events
		p.Bytes += pp.Bytes
	}
	p.Duration = estimateDuration(p.Events, p.Bytes, p.EventsPerSecond, p.BytesPerSecond)
	if len(gaps) > 0 && !opts.AllowPartial {
		return p, &RetentionError{From: opts.From, To: opts.To, Gaps: gaps}
	}
	return p, nil
}

// planRead estimates the read of one planned partition: where it stops
// and how many events and bytes lie before that.
func planRead(client sarama.Client, sc *sarama.Config, w replayWindow, rp checkpoint.ReplayPartition) (PartitionPlan, error) {
	pp := PartitionPlan{Topic: rp.Topic, Partition: rp.Partition, From: rp.Next, To: rp.End, End: rp.End}
	if rp.Done {
		pp.From = rp.End
		return pp, nil
	}
	stopAt := w.to.Add(w.lateness)
	stop, err := client.GetOffset(rp.Topic, rp.Partition, stopAt.UnixMilli())
	if err != nil {
		return pp, fmt.Errorf("offset of %s/%d at %s: %w", rp.Topic, rp.Partition, stopAt.Format(time.RFC3339Nano), err)
	}
	if stop >= 0 {
		pp.To = min(max(stop, pp.From), rp.End)
	}
	pp.Events = pp.To - pp.From
	if pp.Events == 0 {
		return pp, nil
	}
	if pp.AvgRecordBytes, err = sampleRecordBytes(client, sc, rp.Topic, rp.Partition, pp.From, pp.To); err != nil {
		return pp, fmt.Errorf("sampling %s/%d: %w", rp.Topic, rp.Partition, err)
	}
	pp.Bytes = int64(math.Round(float64(pp.Events) * pp.AvgRecordBytes))
	return pp, nil
}

// sampleRecordBytes returns the mean value size of the records in [from,
// to) of the first batches at from and, when those do not reach to, of
// the batches holding to − 1: one small Fetch each. Zero when none was
// found.
func sampleRecordBytes(client sarama.Client, sc *sarama.Config, topic string, partition int32, from, to int64) (float64, error) {
	var n, size int64
	next := from
	for _, at := range []int64{from, to - 1} {
		if at < next {
			continue // the first sample reached it
		}
		block, err := fetchBlockMax(client, sc, topic, partition, at, planSampleBytes)
		if err != nil {
			return 0, err
		}
		c, b, after := recordBytes(block, at, to)
		n, size, next = n+c, size+b, after
	}
	if n == 0 {
		return 0, nil
	}
	return float64(size) / float64(n), nil
}

// recordBytes counts the data records in [from, to) of a fetch answer and
// sums their value sizes; after is the offset after the last one seen.
func recordBytes(block *sarama.FetchResponseBlock, from, to int64) (n, size, after int64) {
	after = from
	count := func(off int64, value []byte) {
		if off >= from && off < to {
			n++
			size += int64(len(value))
			after = max(after, off+1)
		}
	}
	for _, rs := range block.RecordsSet {
		switch {
		case rs == nil:
		case rs.RecordBatch != nil:
			if rs.RecordBatch.Control {
				continue
			}
			for _, rec := range rs.RecordBatch.Records {
				count(rs.RecordBatch.FirstOffset+rec.OffsetDelta, rec.Value)
			}
		case rs.MsgSet != nil:
			for _, mb := range rs.MsgSet.Messages {
				if mb.Msg != nil {
					count(mb.Offset, mb.Msg.Value)
				}
			}
		}
	}
	return n, size, after
}

// gapOf returns the gap of topic/partition among gaps, nil if none.
func gapOf(gaps []RetentionGap, topic string, partition int32) *RetentionGap {
	for i := range gaps {
		if gaps[i].Topic == topic && gaps[i].Partition == partition {
			return &gaps[i]
		}
	}
	return nil
}

// estimateDuration is the time events and bytes take at eventsPerSecond
// and bytesPerSecond (0: unlimited): the longer of the two, 0 when both
// are unlimited.
func estimateDuration(events, bytes int64, eventsPerSecond, bytesPerSecond float64) time.Duration {
	var secs float64
	if eventsPerSecond > 0 {
		secs = float64(events) / eventsPerSecond
	}
	if bytesPerSecond > 0 {
		secs = max(secs, float64(bytes)/bytesPerSecond)
	}
	if secs*float64(time.Second) >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(secs * float64(time.Second))
}

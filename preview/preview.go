// Package preview tries a route's volume settings on the events of a time
// window (siembridge preview): it reads a slice of the route's topics,
// runs the route's filter, sampling and shaping on it exactly as the
// bridge and replay do (filter.New and deliver.NewVolume, the same
// code), counts what each step leaves, and keeps a few events as they
// would be sent. Nothing is sent and nothing is committed: it uses a
// Kafka client and a consumer without a group.
package preview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/replay"
)

// Defaults of Options.
const (
	// DefaultLimit is how many records a preview reads at most.
	DefaultLimit = 10000
	// DefaultShow is how many events it keeps as examples.
	DefaultShow = 3
	// tailIdle: a partition whose consumer has seen the log reach the end
	// of the slice, and has had nothing more to give for this long, is
	// read to its end — its last offsets hold no records (transaction
	// markers, or records compacted away), so no record ends at To − 1.
	tailIdle = time.Second
)

// Options of a preview.
type Options struct {
	// Route names the route. Required.
	Route string
	// From and To bound the record times read, [From, To). Required.
	From, To time.Time
	// Limit is the most records read, shared evenly by the partitions.
	// Default DefaultLimit.
	Limit int
	// Show is how many events to keep as examples. Default DefaultShow;
	// negative: none.
	Show int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Count is a number of events and their bytes.
type Count struct {
	Events int64 `json:"events"`
	Bytes  int64 `json:"bytes"`
}

func (c *Count) add(ev *event.Event) {
	c.Events++
	c.Bytes += int64(ev.Size())
}

// Report is what a preview found. Bytes are event sizes (the document a
// sink is given, Event.Size).
type Report struct {
	Route      string    `json:"route"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Partitions int       `json:"partitions"`
	// Read are the records of the window read; Skipped those read around
	// it (stamped outside [From, To)), not counted in Read.
	Read    Count `json:"read"`
	Skipped int64 `json:"skipped"`
	// AfterFilter, AfterSample and Sent are what is left after each step:
	// routes[].filter, routes[].sample, then shaping (Sent: the events and
	// bytes a sink would be given).
	AfterFilter Count `json:"after_filter"`
	AfterSample Count `json:"after_sample"`
	Sent        Count `json:"sent"`
	// Shaped events had their fields changed; NotJSON ones passed as they
	// were; RenameErrors had a rename_fields error.
	Shaped       int64 `json:"shaped"`
	NotJSON      int64 `json:"not_json"`
	RenameErrors int64 `json:"rename_errors"`
	// Complete: every record of the window was read (Limit not reached).
	Complete bool `json:"complete"`
	// Examples are the first events to be sent, as their sink would get
	// them (Event.Doc).
	Examples []Example `json:"examples"`
}

// Example is one event as it would be sent.
type Example struct {
	ID  string `json:"id"`
	Doc string `json:"doc"`
}

// route applies a route's filter and volume settings to one event.
type route struct {
	filter *filter.Filter
	volume *deliver.Volume
	show   int
}

// take runs ev through the steps and counts it in r.
func (rt *route) take(r *Report, ev *event.Event) {
	r.Read.add(ev)
	if !rt.filter.Accepts(ev) {
		return
	}
	r.AfterFilter.add(ev)
	out, st := rt.volume.Apply(ev)
	if st.SampledOut {
		return
	}
	r.AfterSample.add(ev) // as it was before shaping
	r.Sent.add(out)
	switch {
	case st.Shaped:
		r.Shaped++
	case st.NotJSON:
		r.NotJSON++
	}
	if st.RenameErr != nil {
		r.RenameErrors++
	}
	if len(r.Examples) < rt.show {
		r.Examples = append(r.Examples, Example{ID: out.ID(), Doc: string(out.Doc)})
	}
}

// Run previews route opts.Route of cfg (defaults applied, validated). It
// blocks until the slice is read or ctx ends; it returns a
// *replay.OptionError for unusable options.
func Run(ctx context.Context, cfg *config.Config, opts Options) (Report, error) {
	opts = withDefaults(opts)
	rep := Report{Route: opts.Route, From: opts.From, To: opts.To}
	plan, err := replay.Plan(ctx, cfg, replay.Options{Route: opts.Route, From: opts.From, To: opts.To, AllowPartial: true, Logger: opts.Logger})
	if err != nil {
		return rep, err
	}
	rt, err := newRoute(cfg, opts)
	if err != nil {
		return rep, err
	}
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		return rep, err
	}
	sc.ClientID += "-preview"
	consumer, err := sarama.NewConsumer(cfg.Kafka.Brokers, sc)
	if err != nil {
		return rep, fmt.Errorf("kafka: %w", err)
	}
	defer consumer.Close()

	rep.Partitions = len(plan.Partitions)
	rep.Complete = true
	for i, pp := range plan.Partitions {
		if pp.To <= pp.From {
			continue
		}
		// The limit in equal shares, the first partitions one more.
		share := int64(opts.Limit / len(plan.Partitions))
		if i < opts.Limit%len(plan.Partitions) {
			share++
		}
		if share == 0 {
			rep.Complete = false
			continue
		}
		complete, err := readPartition(ctx, consumer, pp, share, opts, rt, &rep)
		if err != nil {
			return rep, fmt.Errorf("%s/%d: %w", pp.Topic, pp.Partition, err)
		}
		rep.Complete = rep.Complete && complete
	}
	return rep, nil
}

func withDefaults(o Options) Options {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.Show == 0 {
		o.Show = DefaultShow
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// newRoute compiles the route's filter and volume settings.
func newRoute(cfg *config.Config, opts Options) (*route, error) {
	for _, rc := range cfg.Routes {
		if rc.Name != opts.Route {
			continue
		}
		f, err := filter.New(rc.Filter)
		if err != nil {
			return nil, fmt.Errorf("route %s: filter: %w", rc.Name, err)
		}
		v, err := deliver.NewVolume(rc)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		return &route{filter: f, volume: v, show: max(0, opts.Show)}, nil
	}
	return nil, &replay.OptionError{Option: "route", Err: fmt.Errorf("no route named %q", opts.Route)}
}

// readPartition reads pp's offsets [From, To), at most limit records of
// the window, and runs each through rt; complete is false when it stopped
// at the limit.
func readPartition(ctx context.Context, consumer sarama.Consumer, pp replay.PartitionPlan, limit int64, opts Options, rt *route, rep *Report) (complete bool, err error) {
	pc, err := consumer.ConsumePartition(pp.Topic, pp.Partition, pp.From)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := pc.Close(); cerr != nil {
			opts.Logger.Debug("preview: closing the partition consumer", "topic", pp.Topic, "partition", pp.Partition, "err", cerr)
		}
	}()
	var n int64
	idle := time.NewTimer(tailIdle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-idle.C:
			if pc.HighWaterMarkOffset() >= pp.To {
				return true, nil
			}
			idle.Reset(tailIdle)
		case cerr, ok := <-pc.Errors():
			if !ok {
				return false, errors.New("the partition consumer closed")
			}
			return false, cerr
		case msg, ok := <-pc.Messages():
			if !ok {
				return false, errors.New("the partition consumer closed")
			}
			if msg.Timestamp.Before(opts.From) || !msg.Timestamp.Before(opts.To) {
				rep.Skipped++
			} else {
				rt.take(rep, event.New(msg.Topic, msg.Partition, msg.Offset, msg.Timestamp, msg.Key, msg.Value))
				n++
			}
			if msg.Offset+1 >= pp.To {
				return true, nil
			}
			if n >= limit {
				return false, nil
			}
			idle.Reset(tailIdle)
		}
	}
}

// Package demo runs siembridge end to end on one machine with nothing
// installed: an embedded Kafka-protocol broker, a producer of synthetic
// security events, the real bridge (the same code path as "siembridge
// run", built from a YAML configuration) and an in-process Elasticsearch
// that behaves like a SIEM with limited capacity and a maintenance outage.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/metrics"
	"github.com/siembridge/siembridge/sinks/registry"
)

// Options shape a demo run. Zero fields take the defaults in brackets.
type Options struct {
	Duration   time.Duration // whole run, at most [60s]
	Rate       int           // events/s produced [1500]
	Partitions int32         // of the topic [3]
	// Capacity of the SIEM in events/s; above it items get 429 [2500].
	Capacity float64
	// Limit is the route's live rate limit, events/s [2000]; Catchup its
	// catch-up rate [4000].
	Limit, Catchup float64
	// Outage is how long the SIEM refuses connections in the middle of the
	// run [Duration/6]; negative disables it.
	Outage time.Duration
	// BadEvery: every n-th event is a syslog line (wrapped, delivered) and
	// every 2n-th one has a field the SIEM's mapping rejects (dead-letter
	// topic) [500]; negative disables.
	BadEvery int
	Seed     int64
	// Log receives the bridge's structured log; nil discards it.
	Log *slog.Logger
	// Listen, when set, serves the status page, /api/status and /metrics
	// on this host:port during the run (no host: 127.0.0.1) [off].
	Listen string
	// Budget, when set, is the route's bytes_per_day (routes[].budget),
	// on a budget clock whose day ends at 55 % of the run (budget.go)
	// [off].
	Budget config.ByteSize
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 1500
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.Capacity <= 0 {
		o.Capacity = 2500
	}
	if o.Limit <= 0 {
		o.Limit = 2000
	}
	if o.Catchup <= 0 {
		o.Catchup = 4000
	}
	if o.Outage == 0 {
		o.Outage = o.Duration / 6
	}
	if o.BadEvery == 0 {
		o.BadEvery = 500
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Summary is what a run proved.
type Summary struct {
	Produced     int64
	Delivered    int64 // distinct events in the SIEM
	DeadLettered int64 // distinct events in the dead-letter topic
	Lost         int64 // produced, in neither
	// Duplicates are events stored more than once under different IDs
	// (must be 0); Absorbed counts re-sent events the SIEM recognised by
	// their deterministic ID (409 on create).
	Duplicates int64
	Absorbed   int64
	// Waiting counts events a budget deferred that were not sent by the
	// end of the run: still in Kafka, at or after the committed offset.
	Waiting int64
	MaxLag  int64
	Elapsed time.Duration
}

const (
	topic     = "security-events"
	dlqTopic  = "security-events-dlq"
	rejectKey = "siembridge_demo_bad_mapping"
)

// Run runs the demo, writing one live line per second and the summary to
// out. It returns an error when setting up failed or an event was lost.
// It blocks for up to opts.Duration, then while the outcome is verified.
func Run(ctx context.Context, opts Options, out io.Writer) (Summary, error) {
	opts.defaults()
	// The outage timers write too: one writer at a time.
	d, err := newDemo(opts, &syncWriter{w: out})
	if err != nil {
		return Summary{}, err
	}
	defer d.close()

	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	stopBridge := d.runBridge()
	prodErr := make(chan error, 1)
	go func() { prodErr <- produce(runCtx, d.cluster.Brokers(), opts, opts.Duration*3/4, &d.produced) }()
	if opts.Outage > 0 {
		defer d.scheduleOutage()()
	}
	if opts.Budget > 0 {
		defer d.scheduleBudgetDay(d.budgetDay)()
	}

	fmt.Fprintf(d.out, "siembridge demo: %d events/s into %q (%d partitions) → SIEM with capacity %.0f events/s; route limit %.0f/s, catch-up %.0f/s\n",
		opts.Rate, topic, opts.Partitions, opts.Capacity, opts.Limit, opts.Catchup)
	if err := d.watch(runCtx, prodErr); err != nil {
		_ = stopBridge()
		return Summary{}, fmt.Errorf("producer: %w", err)
	}
	st := d.bridge.Stats()
	if err := stopBridge(); err != nil {
		return Summary{}, err
	}
	return d.finish(ctx, st)
}

// demo is one run: what it runs on, where its lines go and how many events
// have been produced so far.
type demo struct {
	opts     Options
	out      io.Writer // safe for concurrent use
	start    time.Time
	cluster  *kafkatest.Cluster
	siem     *esfake.Server
	bridge   *bridge.Bridge
	status   *metrics.Server // nil without Options.Listen
	produced atomic.Int64
	// budgetDay is when the first budget day ends (Options.Budget).
	budgetDay time.Time
}

// newDemo starts the embedded broker and the SIEM and builds the bridge
// from the demo configuration, with the status page when opts.Listen is
// set; the bridge is not running yet. On error what was started is closed.
// It does not block.
func newDemo(opts Options, out io.Writer) (_ *demo, err error) {
	d := &demo{opts: opts, out: out, start: time.Now()}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.cluster, err = kafkatest.Start(opts.Partitions, []string{topic, dlqTopic}); err != nil {
		return nil, fmt.Errorf("starting the embedded broker: %w", err)
	}
	d.siem = newSIEM(opts)
	if err := d.siem.Start(); err != nil {
		d.siem = nil // nothing to close
		return nil, fmt.Errorf("starting the SIEM: %w", err)
	}
	if err := d.buildBridge(); err != nil {
		return nil, err
	}
	return d, nil
}

// newSIEM returns the in-process Elasticsearch of the demo: opts.Capacity
// events/s, and a mapping that rejects the field rejectKey.
func newSIEM(opts Options) *esfake.Server {
	return esfake.New(esfake.Options{
		Capacity: opts.Capacity,
		RejectIf: func(doc []byte) (int, string, string) {
			if _, ok := event.Field(doc, rejectKey); ok {
				return 400, "document_parsing_exception", "[1:2] failed to parse field [" + rejectKey + "] of type [long]"
			}
			return 0, "", ""
		},
		DiscardSources: false,
	})
}

// buildBridge builds the bridge from the demo configuration, pointed at
// the broker and the SIEM, and with Options.Listen starts the status page
// and prints its address. It does not block.
func (d *demo) buildBridge() error {
	cfg, err := config.Parse([]byte(fmt.Sprintf(configTemplate,
		quote(d.cluster.Brokers()[0]), topic, quote(d.siem.URL()), dlqTopic,
		d.opts.Limit, d.opts.Catchup, budgetBlock(d.opts.Budget))))
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	bopts := []bridge.Option{bridge.WithLogger(d.opts.Log), bridge.WithSinkFactory(registry.New)}
	if d.opts.Budget > 0 {
		var clk offsetClock
		clk, d.budgetDay = budgetClock(d.start, d.opts.Duration)
		bopts = append(bopts, bridge.WithBudgetClock(clk))
	}
	reg := metrics.NewRegistry()
	if d.opts.Listen != "" {
		hooks, err := metrics.New(reg)
		if err != nil {
			return err
		}
		bopts = append(bopts, bridge.WithHooks(hooks))
	}
	if d.bridge, err = bridge.New(cfg, bopts...); err != nil {
		return err
	}
	if d.opts.Listen != "" {
		if d.status, err = metrics.NewServer(metrics.ServerConfig{Listen: d.opts.Listen, Routes: cfg.Routes}, d.bridge, reg, metrics.WithLogger(d.opts.Log)); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "status page: http://%s/\n", d.status.Addr())
	}
	return nil
}

// close stops the status page (waiting up to 5 s for it), the SIEM and
// the broker, those that were started.
func (d *demo) close() {
	if d.status != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.status.Close(sctx)
	}
	if d.siem != nil {
		d.siem.Close()
	}
	if d.cluster != nil {
		d.cluster.Close()
	}
}

// runBridge runs the bridge in a goroutine. The returned function stops
// it, blocks until it has returned and gives its error.
func (d *demo) runBridge() (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() { defer wg.Done(); err = d.bridge.Run(ctx) }()
	return func() error {
		cancel()
		wg.Wait()
		return err
	}
}

// scheduleOutage is the SIEM's maintenance window: Options.Outage of
// refused connections starting at 3/10 of the run, announced on out. It
// does not block; the returned function cancels the outage and blocks
// until the timer's writes have ended (the caller may read out after Run).
func (d *demo) scheduleOutage() (stop func()) {
	var timers sync.WaitGroup
	stopped := make(chan struct{})
	timers.Add(1)
	outageTimer := time.AfterFunc(d.opts.Duration*3/10, func() {
		defer timers.Done()
		fmt.Fprintf(d.out, "  -- SIEM down for maintenance (%s): connections refused --\n", d.opts.Outage)
		_ = d.siem.SetMode(esfake.Refuse)
		select {
		case <-time.After(d.opts.Outage):
			fmt.Fprintln(d.out, "  -- SIEM back --")
			_ = d.siem.SetMode(esfake.Healthy)
		case <-stopped:
		}
	})
	return func() {
		close(stopped)
		if outageTimer.Stop() {
			timers.Done()
		}
		timers.Wait()
	}
}

// watch prints a live line every second. It blocks until runCtx ends or,
// once the producer has finished and the SIEM is healthy, everything
// produced has been delivered or dead-lettered and the lag is 0. It
// returns the producer's error, if it failed before runCtx ended.
func (d *demo) watch(runCtx context.Context, prodErr <-chan error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prevDelivered int64
	producerDone := false
	for {
		select {
		case <-runCtx.Done():
			return nil
		case err := <-prodErr:
			if err != nil && runCtx.Err() == nil {
				return err
			}
			producerDone = true
		case <-tick.C:
			st := d.bridge.Stats()
			if len(st.Routes) == 0 {
				continue
			}
			rs := st.Routes[0]
			done := rs.Delivered + rs.DeadLettered
			fmt.Fprintln(d.out, liveLine(time.Since(d.start), d.produced.Load(), rs, done-prevDelivered))
			prevDelivered = done
			if producerDone && d.siem.Mode() == esfake.Healthy && done >= d.produced.Load() && rs.Lag == 0 {
				return nil
			}
		}
	}
}

// finish verifies what reached the SIEM and the dead-letter topic against
// what was produced, completes the summary with st (the bridge's last
// stats) and prints it. It blocks while it reads the dead-letter topic (at
// most 30 s) and returns an error if an event was lost or duplicated.
func (d *demo) finish(ctx context.Context, st bridge.Stats) (Summary, error) {
	sum, unseen, err := verify(ctx, d.cluster.Brokers(), d.siem, d.produced.Load())
	if err != nil {
		return sum, err
	}
	if d.opts.Budget > 0 && len(unseen) > 0 {
		if sum.Waiting, sum.Lost, err = countWaiting(ctx, d.cluster.Brokers(), d.bridgeGroup(), unseen); err != nil {
			return sum, err
		}
	}
	if len(st.Routes) > 0 {
		sum.MaxLag = st.Routes[0].MaxLag
	}
	sum.Elapsed = time.Since(d.start)
	fmt.Fprintf(d.out, "\nsummary: produced %d, delivered %d, dead-lettered %d (rejected by the SIEM's mapping), lost %d, duplicates %d (%d re-sends absorbed by deterministic IDs), max lag %d, %s\n",
		sum.Produced, sum.Delivered, sum.DeadLettered, sum.Lost, sum.Duplicates, sum.Absorbed, sum.MaxLag, sum.Elapsed.Round(time.Second))
	if d.opts.Budget > 0 {
		fmt.Fprintln(d.out, budgetSummary(st, sum.Waiting))
	}
	if sum.Lost > 0 || sum.Duplicates > 0 {
		return sum, fmt.Errorf("%d events lost, %d duplicated", sum.Lost, sum.Duplicates)
	}
	return sum, nil
}

const configTemplate = `
kafka:
  brokers: [%s]
routes:
  - name: elastic
    topics: [%q]
    start: oldest
    sink:
      type: elasticsearch
      urls: [%s]
      index: "security-%%{+yyyy.MM.dd}"
      timeout: 5s
    batch: {max_events: 500, max_bytes: 2MiB, max_wait: 200ms}
    dead_letter: {topic: %q}
    rate:
      events_per_second: %g
      catchup_events_per_second: %g
      catchup_lag: 3000
    buffer: {max_events: 5000, max_bytes: 8MiB}
    retry: {initial_interval: 100ms, max_interval: 2s}
    breaker: {failures: 3, max_probe_interval: 2s}
%sshutdown_timeout: 10s
`

func quote(s string) string { return strconv.Quote(s) }

func liveLine(elapsed time.Duration, produced int64, rs bridge.RouteStats, rate int64) string {
	state := rs.SinkState
	if rs.Paused {
		state += ", paused (" + rs.PauseReason + ")"
	}
	limit := "unlimited"
	if rs.EffectiveRate > 0 {
		limit = fmt.Sprintf("%.0f/s", rs.EffectiveRate)
	}
	if rs.Adaptive {
		limit += " adaptive"
	}
	return fmt.Sprintf("[%3ds] produced %7d | delivered %7d (%5d/s) | lag %6d | sink %-24s | mode %-8s | limit %s%s",
		int(elapsed.Seconds()), produced, rs.Delivered+rs.DeadLettered, rate, rs.Lag, state, rs.Mode, limit, budgetText(rs.Budget))
}

// produce writes the event stream at opts.Rate for d, in 100 ms slices.
func produce(ctx context.Context, brokers []string, opts Options, d time.Duration, n *atomic.Int64) error {
	p, err := kafkatest.NewProducer(brokers)
	if err != nil {
		return err
	}
	defer p.Close()
	g := gen.New(opts.Seed)
	perSlice := max(1, opts.Rate/10)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	end := time.Now().Add(d)
	var seq int64
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		recs := make([]kafkatest.Record, perSlice)
		now := time.Now()
		for i := range recs {
			seq++
			recs[i] = kafkatest.Record{Topic: topic, Partition: int32(seq % int64(opts.Partitions)), Value: value(g, seq, now, opts.BadEvery), Timestamp: now}
		}
		if err := p.Send(recs...); err != nil {
			return err
		}
		n.Add(int64(len(recs)))
	}
	return nil
}

// value is the seq-th event: mostly ECS JSON, sometimes a raw syslog line
// or a document the SIEM's mapping rejects.
func value(g *gen.Generator, seq int64, t time.Time, badEvery int) []byte {
	doc := g.Next(seq, t)
	switch {
	case badEvery > 0 && seq%int64(2*badEvery) == 0:
		// Same document with a field of the wrong type for the mapping.
		return append(append(doc[:len(doc)-1:len(doc)-1], `,"`+rejectKey+`":"not-a-number"`...), '}')
	case badEvery > 0 && seq%int64(badEvery) == 0:
		return fmt.Appendf(nil, "<34>1 %s fw01.corp.example.com sshd 4121 - - Failed password for root from 203.0.113.9 port 52114 ssh2 seq=%d",
			t.UTC().Format(time.RFC3339), seq)
	}
	return doc
}

var seqInText = regexp.MustCompile(`seq=(\d+)`)

// seqOf recovers the sequence number from a stored document or a raw value.
func seqOf(b []byte) (int64, bool) {
	if s, ok := gen.Seq(b); ok {
		return s, true
	}
	if m := seqInText.FindSubmatch(b); m != nil {
		s, err := strconv.ParseInt(string(m[1]), 10, 64)
		return s, err == nil
	}
	return 0, false
}

// verify counts, by sequence number, what reached the SIEM and the
// dead-letter topic; it returns the sequence numbers of neither.
func verify(ctx context.Context, brokers []string, siem *esfake.Server, produced int64) (Summary, map[int64]bool, error) {
	sum := Summary{Produced: produced, Absorbed: siem.Duplicates()}
	seen := make(map[int64]int, produced)
	for _, doc := range siem.All() {
		if s, ok := seqOf(doc); ok {
			seen[s]++
		}
	}
	for _, c := range seen {
		sum.Delivered++
		if c > 1 {
			sum.Duplicates += int64(c - 1)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dlq, err := kafkatest.ReadAll(rctx, brokers, dlqTopic)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return sum, nil, fmt.Errorf("reading the dead-letter topic: %w", err)
	}
	for _, m := range dlq {
		if s, ok := seqOf(m.Value); ok && seen[s] == 0 {
			seen[s] = 1
			sum.DeadLettered++
		}
	}
	unseen := map[int64]bool{}
	for s := int64(1); s <= produced; s++ {
		if seen[s] == 0 {
			sum.Lost++
			unseen[s] = true
		}
	}
	return sum, unseen, nil
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

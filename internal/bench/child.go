package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/gctune"
	"github.com/siembridge/siembridge/internal/fake/bulkrecv"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/sinks/registry"
)

// Child runs one of the harness's child processes; args[0] names it:
//
//	broker   --partitions P --topic T   a kfake broker; prints {"addr":..}
//	receiver [--model ...]              a bulkrecv Receiver or Model; prints {"url":..,"control":..}
//	run      --mode consume|null|es ... one measured configuration; prints a Result
//	bridge   --brokers .. --url ..      the bridge into Elasticsearch until stdin ends;
//	                                    prints a bridgeStatus when ready, per line read, and at the end
//
// broker and receiver serve until stdin reaches its end (the parent closed
// it or died) or ctx ends; each line the broker reads on stdin makes it
// print its Usage. The receiver answers its statistics and takes
// commands on its control URL (see childReceiver). Child blocks until
// then.
func Child(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench child: missing kind (broker, receiver, run or bridge)")
	}
	switch args[0] {
	case "broker":
		return childBroker(ctx, args[1:], stdin, stdout, stderr)
	case "receiver":
		return childReceiver(ctx, args[1:], stdin, stdout, stderr)
	case "run":
		return childRun(ctx, args[1:], stdout, stderr)
	case "bridge":
		return childBridge(ctx, args[1:], stdin, stdout, stderr)
	}
	return fmt.Errorf("bench child: unknown kind %q", args[0])
}

// waitStdin returns when stdin ends or ctx does. For each line read it
// writes the process's Usage to stdout.
func waitStdin(ctx context.Context, stdin io.Reader, stdout io.Writer) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if writeLine(stdout, getUsage()) != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func childBroker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parts := fs.Int("partitions", 6, "partitions of the topic")
	topic := fs.String("topic", Topic, "topic to create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := kafkatest.Start(int32(*parts), []string{*topic})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := writeLine(stdout, map[string]string{"addr": c.Brokers()[0]}); err != nil {
		return err
	}
	waitStdin(ctx, stdin, stdout)
	return nil
}

// receiverStats is what the receiver's control URL answers at /stats.
// The Receiver fills Requests, Items and Bytes only.
type receiverStats struct {
	bulkrecv.ModelStats
	Usage
}

// childReceiver serves a bulkrecv Receiver, or with --model a Model with
// the given latency, capacity and burst, on one loopback port, and its
// control on another, which stays up through an outage:
//
//	GET  /stats             receiverStats
//	POST /reset             the Model forgets its _ids and zeroes its totals
//	POST /refuse?on=true    the Model stops listening (connections refused)
//	POST /refuse?on=false   and listens again at the same address
func childReceiver(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.Bool("model", false, "serve a bulkrecv.Model (a cluster's cost per document) instead of the fast Receiver")
	var mo bulkrecv.ModelOptions
	fs.DurationVar(&mo.Latency, "latency", 0, "model: added to every answer")
	fs.Float64Var(&mo.Capacity, "capacity", 0, "model: documents per second above which items are answered 429 (0: unlimited)")
	fs.IntVar(&mo.Burst, "burst", 0, "model: documents taken at once at capacity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	control := http.NewServeMux()
	var url string
	if *model {
		srv, err := bulkrecv.ListenModel(mo)
		if err != nil {
			return err
		}
		defer srv.Close()
		url = srv.URL()
		control.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
			writeJSONResponse(w, receiverStats{srv.Stats(), getUsage()})
		})
		control.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
			srv.Reset()
			writeJSONResponse(w, struct{}{})
		})
		control.HandleFunc("POST /refuse", func(w http.ResponseWriter, r *http.Request) {
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if err == nil {
				err = srv.Refuse(on)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeJSONResponse(w, struct{}{})
		})
	} else {
		srv, err := bulkrecv.Listen("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		url = srv.URL()
		control.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
			st := srv.Stats()
			writeJSONResponse(w, receiverStats{bulkrecv.ModelStats{Requests: st.Requests, Items: st.Items, Bytes: st.Bytes}, getUsage()})
		})
	}
	control.HandleFunc("POST /cpuprofile", serveCPUProfile)
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	csrv := &http.Server{Handler: control, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = csrv.Serve(cln) }()
	defer csrv.Close()
	if err := writeLine(stdout, map[string]string{"url": url, "control": "http://" + cln.Addr().String()}); err != nil {
		return err
	}
	waitStdin(ctx, stdin, io.Discard)
	return nil
}

// cpuProfile is the file of the receiver's CPU profile while one runs.
var cpuProfile struct {
	sync.Mutex
	f *os.File
}

// serveCPUProfile starts a CPU profile of the receiver into the file the
// query's path names, or stops the one running (and closes its file) when
// path is empty.
func serveCPUProfile(w http.ResponseWriter, r *http.Request) {
	cpuProfile.Lock()
	defer cpuProfile.Unlock()
	path := r.URL.Query().Get("path")
	if path == "" {
		if cpuProfile.f != nil {
			pprof.StopCPUProfile()
			cpuProfile.f.Close()
			cpuProfile.f = nil
		}
		writeJSONResponse(w, struct{}{})
		return
	}
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cpuProfile.f = f
	writeJSONResponse(w, struct{}{})
}

func writeJSONResponse(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Modes of "run".
const (
	ModeConsume = "consume" // (a) a bare sarama consumer group that discards
	ModeNull    = "null"    // (b) the bridge into the null sink
	ModeES      = "es"      // (c) the bridge into Elasticsearch (bulkrecv)
)

func childRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", ModeNull, "consume, null or es")
	brokers := fs.String("brokers", "", "bootstrap broker address")
	topic := fs.String("topic", Topic, "topic to read")
	events := fs.Int64("events", 0, "events to wait for")
	url := fs.String("url", "", "Elasticsearch URL (mode es)")
	group := fs.String("group", "", "consumer group (default: unique)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	tail := fs.Int64("tail", 0, "events at the end left out of the measured window")
	var extra configExtra
	extra.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *events <= 0 {
		return errors.New("bench run: --brokers and --events are required")
	}
	if *group == "" {
		*group = "bench-" + *mode + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// Next to it, what the run allocated (pprof -sample_index
		// alloc_space), written when the run is over.
		defer writeAllocs(*cpuprofile + ".allocs")
	}
	var (
		res Result
		err error
	)
	cnt := newCounter(*events, *tail)
	if *cpuprofile != "" {
		// What is in memory when half the events are done: the steady
		// state (pprof -sample_index inuse_space), sampled finely enough
		// to count per-partition structures.
		runtime.MemProfileRate = 16 << 10
		go cnt.heapAt(ctx, *events/2, *cpuprofile+".heap")
	}
	switch *mode {
	case ModeConsume:
		res, err = runConsume(ctx, *brokers, *topic, *group, cnt)
	case ModeNull, ModeES:
		res, err = runBridge(ctx, *mode, *brokers, *topic, *group, *url, extra, cnt, stderr)
	default:
		return fmt.Errorf("bench run: unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}
	return writeLine(stdout, res)
}

// writeAllocs writes the allocation profile to path; a failure costs only
// the profile.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}

// counter records the measured window: from the first event consumed to
// the moment mark events were done. The last batch of each partition is
// left out of the window (mark = want - tail): a partial batch waits for
// batch.max_wait before it is sent, which says nothing about throughput.
// The run still waits until all want events are done.
type counter struct {
	want, mark   int64
	first        atomic.Int64 // unix ns
	events       atomic.Int64
	bytes        atomic.Int64
	done         chan struct{}
	once, marked sync.Once
	// At the mark:
	markTime, markEvents, markBytes int64
	markUsage                       Usage
	deadLettered                    atomic.Int64
	requests                        atomic.Int64
	latency                         atomic.Int64 // ns, summed over requests
}

func newCounter(want, tail int64) *counter {
	return &counter{want: want, mark: max(1, want-max(0, min(tail, want/2))), done: make(chan struct{})}
}

func (c *counter) start() {
	if c.first.Load() == 0 {
		c.first.CompareAndSwap(0, time.Now().UnixNano())
	}
}

func (c *counter) add(events, bytes int) {
	b := c.bytes.Add(int64(bytes))
	n := c.events.Add(int64(events))
	if n >= c.mark {
		c.marked.Do(func() {
			c.markTime, c.markEvents, c.markBytes = time.Now().UnixNano(), n, b
			c.markUsage = getUsage()
		})
	}
	if n >= c.want {
		c.once.Do(func() { close(c.done) })
	}
}

// heapAt writes a heap profile to path once n events are done, unless ctx
// ends first.
func (c *counter) heapAt(ctx context.Context, n int64, path string) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for c.events.Load() < n {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

// result is called after done.
func (c *counter) result(mode string, before Usage) Result {
	return Result{
		Mode:       mode,
		Events:     c.markEvents,
		Bytes:      c.markBytes,
		Seconds:    time.Duration(c.markTime - c.first.Load()).Seconds(),
		CPUSeconds: c.markUsage.CPU - before.CPU,
		MaxRSS:     c.markUsage.MaxRSS,
	}
}

// runConsume is (a): a bare sarama consumer group, with sarama's own
// defaults (not the bridge's tuning, so that the ceiling does not move
// with it), whose handler only counts.
func runConsume(ctx context.Context, brokers, topic, group string, c *counter) (Result, error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	before := getUsage()
	cg, err := sarama.NewConsumerGroup([]string{brokers}, group, sc)
	if err != nil {
		return Result{}, err
	}
	h := &countHandler{c: c}
	cctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{topic}, h); err != nil && cctx.Err() == nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for range cg.Errors() {
		}
	}()
	select {
	case <-c.done:
	case err := <-errc:
		stop()
		cg.Close()
		return Result{}, fmt.Errorf("consume: %v", err)
	case <-ctx.Done():
		stop()
		cg.Close()
		return Result{}, fmt.Errorf("consume: %d of %d events: %w", c.events.Load(), c.want, ctx.Err())
	}
	stop()
	<-errc
	if err := cg.Close(); err != nil {
		return Result{}, err
	}
	return c.result(ModeConsume, before), nil
}

type countHandler struct{ c *counter }

func (h *countHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *countHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.c.start()
			h.c.add(1, len(msg.Value))
		case <-sess.Context().Done():
			return nil
		}
	}
}

// hooks feeds the counter from the bridge.
type hooks struct {
	bridge.NopHooks
	c *counter
}

func (h *hooks) OnConsumed(string, string, int32, int, int) { h.c.start() }
func (h *hooks) OnRequest(_ string, _, _ int, latency time.Duration, _ error) {
	h.c.requests.Add(1)
	h.c.latency.Add(int64(latency))
}
func (h *hooks) OnDelivered(_ string, events, bytes int) { h.c.add(events, bytes) }
func (h *hooks) OnDeadLettered(_ string, events, bytes int) {
	h.c.deadLettered.Add(int64(events))
	h.c.add(events, bytes)
}

// configExtra is configuration the harness adds to a child's: YAML lines
// (flow style, one setting a line) under kafka: and under the route.
type configExtra struct{ kafka, route string }

func (e *configExtra) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.kafka, "kafka", "", "YAML lines added under kafka:, e.g. 'heartbeat_interval: 500ms'")
	fs.StringVar(&e.route, "route", "", "YAML lines added under the route, e.g. 'rate: {events_per_second: 2500}'")
}

// args are the flags that pass e on to a child.
func (e configExtra) args() []string {
	var out []string
	if e.kafka != "" {
		out = append(out, "--kafka", e.kafka)
	}
	if e.route != "" {
		out = append(out, "--route", e.route)
	}
	return out
}

// indent prefixes every line of s with n spaces.
func indent(s string, n int) string {
	if s == "" {
		return ""
	}
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad) + "\n"
}

// benchConfig is the configuration of (b), (c) and the scenarios:
// defaults everywhere except the brokers, the topic, a fresh group, the
// sink's URL and what extra adds.
func benchConfig(mode, brokers, topic, group, url string, extra configExtra) (*config.Config, error) {
	sink := `{type: "null"}`
	if mode == ModeES {
		sink = fmt.Sprintf(`{type: elasticsearch, urls: [%q]}`, url)
	}
	return config.Parse(fmt.Appendf(nil, `
kafka:
  brokers: [%q]
%sroutes:
  - name: bench
    topics: [%q]
    group: %q
    sink: %s
%slog: {level: warn}
`, brokers, indent(extra.kafka, 2), topic, group, sink, indent(extra.route, 4)))
}

// runBridge is (b) and (c): the real bridge until want events are
// delivered.
func runBridge(ctx context.Context, mode, brokers, topic, group, url string, extra configExtra, c *counter, stderr io.Writer) (Result, error) {
	before := getUsage()
	b, cfg, err := newBridge(mode, brokers, topic, group, url, extra, &hooks{c: c}, stderr)
	if err != nil {
		return Result{}, err
	}
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- b.Run(bctx) }()
	select {
	case <-c.done:
	case err := <-errc:
		return Result{}, fmt.Errorf("bridge stopped early: %v", err)
	case <-ctx.Done():
		stop()
		<-errc
		return Result{}, fmt.Errorf("bridge: %d of %d events delivered: %w", c.events.Load(), c.want, ctx.Err())
	}
	stop()
	if err := <-errc; err != nil {
		return Result{}, err
	}
	res := c.result(mode, before)
	res.BufferMaxBytes = int64(cfg.Routes[0].Buffer.MaxBytes)
	if n := c.requests.Load(); n > 0 && mode == ModeES {
		res.Note = fmt.Sprintf("%d bulk requests, %.1f ms each on average", n, float64(c.latency.Load())/float64(n)/1e6)
	}
	if n := c.deadLettered.Load(); n > 0 {
		res.Note += fmt.Sprintf("; %d events dead-lettered", n)
	}
	return res, nil
}

// newBridge makes the bridge of benchConfig, with the garbage collector
// set up as `siembridge run` does.
func newBridge(mode, brokers, topic, group, url string, extra configExtra, h bridge.Hooks, stderr io.Writer) (*bridge.Bridge, *config.Config, error) {
	cfg, err := benchConfig(mode, brokers, topic, group, url, extra)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gctune.Apply(cfg, log)
	b, err := bridge.New(cfg, bridge.WithLogger(log), bridge.WithHooks(h), bridge.WithSinkFactory(registry.New))
	if err != nil {
		return nil, nil, err
	}
	return b, cfg, nil
}

// bridgeStatus is what a bridge child prints: when ready, for every line
// it reads on stdin, and once more after it stopped.
type bridgeStatus struct {
	// Joined: the route's consumer group session is up; Partitions is how
	// many partitions it holds.
	Joined     bool    `json:"joined"`
	Partitions int     `json:"partitions"`
	Delivered  int64   `json:"delivered"`
	Lag        int64   `json:"lag"`
	Mode       string  `json:"mode"`
	SinkState  string  `json:"sink_state"`
	Rate       float64 `json:"effective_rate"`
	// BufferMaxBytes is the route's buffer.max_bytes.
	BufferMaxBytes int64 `json:"buffer_max_bytes"`
	Usage
	// Err is set when the bridge stopped by itself.
	Err string `json:"error,omitempty"`
}

// childBridge runs the bridge into Elasticsearch until stdin ends.
func childBridge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "bootstrap broker address")
	topic := fs.String("topic", Topic, "topic to read")
	url := fs.String("url", "", "Elasticsearch URL")
	group := fs.String("group", "", "consumer group (default: unique)")
	var extra configExtra
	extra.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *url == "" {
		return errors.New("bench bridge: --brokers and --url are required")
	}
	if *group == "" {
		*group = "bench-bridge-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	b, cfg, err := newBridge(ModeES, *brokers, *topic, *group, *url, extra, bridge.NopHooks{}, stderr)
	if err != nil {
		return err
	}
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	var runErr atomic.Pointer[string]
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Run(bctx); err != nil && bctx.Err() == nil {
			msg := err.Error()
			runErr.Store(&msg)
		} else if bctx.Err() == nil {
			msg := "the bridge stopped by itself"
			runErr.Store(&msg)
		}
	}()
	status := func() bridgeStatus {
		st := bridgeStatus{BufferMaxBytes: int64(cfg.Routes[0].Buffer.MaxBytes), Usage: getUsage()}
		if rs := b.Stats().Routes; len(rs) > 0 {
			r := rs[0]
			st.Joined, st.Partitions, st.Delivered, st.Lag = r.Joined, len(r.Partitions), r.Delivered+r.DeadLettered, r.Lag
			st.Mode, st.SinkState, st.Rate = r.Mode, r.SinkState, r.EffectiveRate
		}
		if msg := runErr.Load(); msg != nil {
			st.Err = *msg
		}
		return st
	}
	if err := writeLine(stdout, status()); err != nil {
		return err
	}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- struct{}{}
		}
	}()
loop:
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				break loop
			}
			if err := writeLine(stdout, status()); err != nil {
				return err
			}
		case <-ctx.Done():
			break loop
		}
	}
	stop()
	<-done
	return writeLine(stdout, status())
}

// readLine reads the first line a child prints and decodes it into v.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("child exited without answering: %w", err)
	}
	return json.Unmarshal(line, v)
}

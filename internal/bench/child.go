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
	"runtime/pprof"
	"strconv"
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
//	receiver                            a bulkrecv receiver; prints {"url":..}
//	run      --mode consume|null|es ... one measured configuration; prints a Result
//
// broker and receiver serve until stdin reaches its end (the parent closed
// it or died) or ctx ends; each line the broker reads on stdin makes it
// print its Usage. Child blocks until then.
func Child(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("bench child: missing kind (broker, receiver or run)")
	}
	switch args[0] {
	case "broker":
		return childBroker(ctx, args[1:], stdin, stdout, stderr)
	case "receiver":
		return childReceiver(ctx, stdin, stdout)
	case "run":
		return childRun(ctx, args[1:], stdout, stderr)
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

// receiverStats is what the receiver's /_bench/stats answers.
type receiverStats struct {
	bulkrecv.Stats
	Usage
}

func childReceiver(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	rc := new(bulkrecv.Receiver)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(receiverStats{rc.Stats(), getUsage()})
	})
	mux.Handle("/", rc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if err := writeLine(stdout, map[string]string{"url": "http://" + ln.Addr().String()}); err != nil {
		return err
	}
	waitStdin(ctx, stdin, io.Discard)
	return nil
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
	}
	var (
		res Result
		err error
	)
	switch *mode {
	case ModeConsume:
		res, err = runConsume(ctx, *brokers, *topic, *group, newCounter(*events, *tail))
	case ModeNull, ModeES:
		res, err = runBridge(ctx, *mode, *brokers, *topic, *group, *url, newCounter(*events, *tail), stderr)
	default:
		return fmt.Errorf("bench run: unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}
	return writeLine(stdout, res)
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

// benchConfig is the configuration of (b) and (c): defaults everywhere
// except the brokers, the topic, a fresh group and the sink's URL.
func benchConfig(mode, brokers, topic, group, url string) (*config.Config, error) {
	sink := `{type: "null"}`
	if mode == ModeES {
		sink = fmt.Sprintf(`{type: elasticsearch, urls: [%q]}`, url)
	}
	return config.Parse(fmt.Appendf(nil, `
kafka:
  brokers: [%q]
routes:
  - name: bench
    topics: [%q]
    group: %q
    sink: %s
log: {level: warn}
`, brokers, topic, group, sink))
}

// runBridge is (b) and (c): the real bridge until want events are
// delivered.
func runBridge(ctx context.Context, mode, brokers, topic, group, url string, c *counter, stderr io.Writer) (Result, error) {
	cfg, err := benchConfig(mode, brokers, topic, group, url)
	if err != nil {
		return Result{}, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gctune.Apply(cfg, log) // as `siembridge run` does
	before := getUsage()
	b, err := bridge.New(cfg, bridge.WithLogger(log), bridge.WithHooks(&hooks{c: c}), bridge.WithSinkFactory(registry.New))
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
	if n := c.requests.Load(); n > 0 && mode == ModeES {
		res.Note = fmt.Sprintf("%d bulk requests, %.1f ms each on average", n, float64(c.latency.Load())/float64(n)/1e6)
	}
	if n := c.deadLettered.Load(); n > 0 {
		res.Note += fmt.Sprintf("; %d events dead-lettered", n)
	}
	return res, nil
}

// readLine reads the first line a child prints and decodes it into v.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("child exited without answering: %w", err)
	}
	return json.Unmarshal(line, v)
}

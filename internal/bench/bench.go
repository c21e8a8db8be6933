// Package bench measures siembridge's throughput against two ceilings on
// the same machine, in one run, for the same data:
//
//	(a) a bare sarama consumer group that reads and discards the topic;
//	(r) a `_bulk` receiver (internal/bulkrecv) fed prebuilt bulk bodies;
//	(b) the bridge into the null sink;
//	(c) the bridge into that receiver through the Elasticsearch sink.
//
// The broker, the receiver and each measured configuration run in their
// own processes (Child), so CPU time and peak RSS are per configuration,
// and (c) pays for crossing processes as a real deployment does. Since
// consuming and receiving share the machine's cores, the bound for (c) is
// H = 1/(1/a + 1/r): the rate if both could do nothing but their part.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// Topic is the topic the harness loads.
const Topic = "bench-events"

// Options shape a run. Zero fields take the defaults in brackets.
type Options struct {
	Events     int // events loaded and read by each configuration [1000000]
	Partitions int // of the topic [6]
	// Size is the approximate event size in bytes [700]. internal/gen's
	// events are 600–800 bytes, about 700 on average; a larger Size pads
	// each event by the difference.
	Size int
	// BulkEvents per prebuilt body of (r) [1000, the bridge's default batch].
	BulkEvents int
	// Conns is the load client's connections for (r) [4, the bridge's
	// default workers].
	Conns int
	// Rounds repeats the four measurements; each configuration reports
	// the round with its median rate [1].
	Rounds int
	// CPUProfileDir, when set, receives a CPU profile of each measured
	// child: consume.pprof, null.pprof, es.pprof.
	CPUProfileDir string

	// Exe and Args start a child: Exe Args... <kind> [flags] must run
	// Child with <kind> [flags]. Env is added to the child's environment.
	Exe  string
	Args []string
	Env  []string

	// Command is the command line shown in the report.
	Command string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Stderr receives the children's stderr; nil discards.
	Stderr io.Writer
}

func (o *Options) defaults() error {
	if o.Events == 0 {
		o.Events = 1_000_000
	}
	if o.Partitions == 0 {
		o.Partitions = 6
	}
	if o.Size == 0 {
		o.Size = 700
	}
	if o.BulkEvents == 0 {
		o.BulkEvents = 1000
	}
	if o.Conns == 0 {
		o.Conns = 4
	}
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	switch {
	case o.Events < 1:
		return errors.New("events: must be > 0")
	case o.Partitions < 1 || o.Partitions > 1024:
		return errors.New("partitions: must be between 1 and 1024")
	case o.Size < 100 || o.Size > 1<<20:
		return errors.New("size: must be between 100 and 1048576")
	case o.BulkEvents < 1 || o.Conns < 1 || o.Rounds < 1:
		return errors.New("bulk events, conns and rounds: must be > 0")
	case o.Exe == "":
		return errors.New("no executable to start children with")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return nil
}

// Usage is a process's CPU time (user + system, seconds) and peak RSS
// (bytes).
type Usage struct {
	CPU    float64 `json:"cpu_seconds"`
	MaxRSS int64   `json:"max_rss_bytes"`
}

// Result is one measured configuration.
type Result struct {
	Mode    string  `json:"mode"` // consume, receiver, null, es
	Events  int64   `json:"events"`
	Bytes   int64   `json:"bytes"`   // event (document) bytes
	Seconds float64 `json:"seconds"` // first event consumed to last done
	// CPUSeconds and MaxRSS are the process under test's: the consumer or
	// bridge child, or for (r) the receiver.
	CPUSeconds float64 `json:"cpu_seconds"`
	MaxRSS     int64   `json:"max_rss_bytes"`
	// BrokerCPU and ReceiverCPU are the CPU seconds per million events
	// the broker and the receiver spent during the run of a child; they
	// include the child's start and its group join.
	BrokerCPU   float64 `json:"broker_cpu_per_million,omitempty"`
	ReceiverCPU float64 `json:"receiver_cpu_per_million,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Rate is events per second.
func (r Result) Rate() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Events) / r.Seconds
}

// MBps is event bytes per second, in MB (10^6).
func (r Result) MBps() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Seconds / 1e6
}

// CPUPerMillion is CPU seconds per million events.
func (r Result) CPUPerMillion() float64 {
	if r.Events == 0 {
		return 0
	}
	return r.CPUSeconds / float64(r.Events) * 1e6
}

// Report is the outcome of a run.
type Report struct {
	Options  Options
	Machine  Machine
	AvgSize  float64 // mean event size loaded
	LoadTime time.Duration
	// Consume, Receiver, Null and ES are (a), (r), (b) and (c).
	Consume, Receiver, Null, ES Result
	Started                     time.Time
}

// H is the harmonic bound 1/(1/a + 1/r) in events/s.
func (r *Report) H() float64 {
	a, rr := r.Consume.Rate(), r.Receiver.Rate()
	if a <= 0 || rr <= 0 {
		return 0
	}
	return 1 / (1/a + 1/rr)
}

// NullRatio is (b)/(a).
func (r *Report) NullRatio() float64 { return ratio(r.Null.Rate(), r.Consume.Rate()) }

// ESRatio is (c)/H.
func (r *Report) ESRatio() float64 { return ratio(r.ES.Rate(), r.H()) }

func ratio(x, y float64) float64 {
	if y <= 0 {
		return 0
	}
	return x / y
}

// Targets.
const (
	TargetNullRatio = 0.6
	TargetESRatio   = 0.85
	TargetMaxRSS    = 256 << 20
)

// Run loads the topic and measures (a), (r), (b) and (c). It blocks until
// done or ctx ends, and stops every child it started.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Machine: ReadMachine(), Started: time.Now()}
	progress := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}

	var broker struct{ Addr string }
	brokerProc, err := o.startServer(ctx, &broker, "broker", "--partitions", strconv.Itoa(o.Partitions), "--topic", Topic)
	if err != nil {
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	defer brokerProc.stop()
	var recv struct{ URL string }
	recvProc, err := o.startServer(ctx, &recv, "receiver")
	if err != nil {
		return nil, fmt.Errorf("starting the receiver: %w", err)
	}
	defer recvProc.stop()
	progress("broker at %s, receiver at %s", broker.Addr, recv.URL)

	progress("loading %d events into %d partitions", o.Events, o.Partitions)
	data := newDataset(o)
	start := time.Now()
	bytes, err := load(ctx, broker.Addr, data, o)
	if err != nil {
		return nil, fmt.Errorf("loading: %w", err)
	}
	rep.LoadTime = time.Since(start)
	rep.AvgSize = float64(bytes) / float64(o.Events)
	progress("loaded %d events (%.0f bytes on average) in %s", o.Events, rep.AvgSize, rep.LoadTime.Round(time.Millisecond))

	bodies := data.bulkBodies(o)
	var rounds [4][]Result
	for round := range o.Rounds {
		prefix := ""
		if o.Rounds > 1 {
			prefix = fmt.Sprintf("round %d: ", round+1)
		}
		for i, mode := range []string{ModeConsume, "receiver", ModeNull, ModeES} {
			var res Result
			var err error
			if mode == "receiver" {
				res, err = loadReceiver(ctx, recv.URL, bodies, o)
			} else {
				var before, after receiverStats
				var bBefore, bAfter Usage
				if before, err = getReceiverStats(ctx, recv.URL); err != nil {
					return nil, err
				}
				if bBefore, err = brokerProc.usage(); err != nil {
					return nil, err
				}
				res, err = o.runChild(ctx, mode, broker.Addr, recv.URL, round)
				if err == nil {
					if after, err = getReceiverStats(ctx, recv.URL); err != nil {
						return nil, err
					}
					if bAfter, err = brokerProc.usage(); err != nil {
						return nil, err
					}
					res.BrokerCPU = (bAfter.CPU - bBefore.CPU) / float64(res.Events) * 1e6
					res.ReceiverCPU = (after.CPU - before.CPU) / float64(res.Events) * 1e6
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", mode, err)
			}
			progress("%s%-8s %9.0f events/s %7.1f MB/s %6.2f CPU s/M events (broker %.2f, receiver %.2f), peak RSS %4d MiB",
				prefix, mode, res.Rate(), res.MBps(), res.CPUPerMillion(), res.BrokerCPU, res.ReceiverCPU, res.MaxRSS>>20)
			rounds[i] = append(rounds[i], res)
		}
	}
	rep.Consume, rep.Receiver, rep.Null, rep.ES = median(rounds[0]), median(rounds[1]), median(rounds[2]), median(rounds[3])
	return rep, nil
}

// median returns the result with the median rate (the lower one of the
// middle two for an even count).
func median(rs []Result) Result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(x, y Result) int {
		switch {
		case x.Rate() < y.Rate():
			return -1
		case x.Rate() > y.Rate():
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// command builds the command of a child.
func (o *Options) command(ctx context.Context, kind string, args ...string) *exec.Cmd {
	all := append(slices.Clone(o.Args), kind)
	cmd := exec.CommandContext(ctx, o.Exe, append(all, args...)...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = o.Stderr
	cmd.WaitDelay = 5 * time.Second
	dieWithParent(cmd)
	return cmd
}

// server is a broker or receiver child.
type server struct {
	stop func()
	// usage asks a broker for its Usage.
	usage func() (Usage, error)
}

// startServer starts a broker or receiver child, decodes the first line it
// prints into v and returns a function that stops it.
func (o *Options) startServer(ctx context.Context, v any, kind string, args ...string) (srv server, err error) {
	cmd := o.command(ctx, kind, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return server{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return server{}, err
	}
	if err := cmd.Start(); err != nil {
		return server{}, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close() // the child's signal to stop
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	rd := bufio.NewReader(stdout)
	if err := readLine(rd, v); err != nil {
		stop()
		return server{}, err
	}
	var mu sync.Mutex
	usage := func() (Usage, error) {
		mu.Lock()
		defer mu.Unlock()
		var u Usage
		if _, err := io.WriteString(stdin, "usage\n"); err != nil {
			return u, err
		}
		return u, readLine(rd, &u)
	}
	return server{stop: stop, usage: usage}, nil
}

// runChild runs one measured configuration in a child and returns its
// result.
func (o *Options) runChild(ctx context.Context, mode, broker, url string, round int) (Result, error) {
	args := []string{"--mode", mode, "--brokers", broker, "--topic", Topic, "--events", strconv.Itoa(o.Events),
		"--tail", strconv.Itoa(o.Partitions * 1000)}
	if mode == ModeES {
		args = append(args, "--url", url)
	}
	if o.CPUProfileDir != "" {
		name := mode + ".pprof"
		if round > 0 {
			name = fmt.Sprintf("%s-%d.pprof", mode, round+1)
		}
		args = append(args, "--cpuprofile", filepath.Join(o.CPUProfileDir, name))
	}
	cmd := o.command(ctx, "run", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("child: %w", err)
	}
	var res Result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res); err != nil {
		return Result{}, fmt.Errorf("child's result %q: %w", out.Bytes(), err)
	}
	return res, nil
}

// dataset makes the benchmark's events: those of internal/gen, padded to
// Options.Size, all at one time so that they share an index.
type dataset struct {
	seed int64
	at   time.Time
	pad  int
}

func newDataset(o Options) *dataset {
	return &dataset{seed: 8, at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), pad: max(0, o.Size-700)}
}

// appendEvent appends event seq.
func (d *dataset) appendEvent(dst []byte, g *gen.Generator, seq int64) []byte {
	dst = g.AppendNext(dst, seq, d.at)
	if d.pad > 0 {
		dst = append(dst[:len(dst)-1], `,"bench":{"pad":"`...)
		for range d.pad {
			dst = append(dst, 'x')
		}
		dst = append(dst, `"}}`...)
	}
	return dst
}

// load produces o.Events events into the topic, partition seq%P, and
// returns their total size.
func load(ctx context.Context, broker string, d *dataset, o Options) (int64, error) {
	sc := kafkatest.Config()
	sc.Producer.Return.Successes = false
	sc.Producer.RequiredAcks = sarama.WaitForLocal
	sc.Producer.Flush.Messages = 0
	sc.Producer.Flush.Bytes = 512 << 10
	// kfake, like Kafka, refuses record batches over 1 MiB.
	sc.Producer.MaxMessageBytes = 900 << 10
	sc.Producer.Flush.Frequency = 10 * time.Millisecond
	sc.ChannelBufferSize = 4096
	p, err := sarama.NewAsyncProducer([]string{broker}, sc)
	if err != nil {
		return 0, err
	}
	var firstErr atomic.Pointer[error]
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for pe := range p.Errors() {
			err := error(pe)
			firstErr.CompareAndSwap(nil, &err)
		}
	}()
	g := gen.New(d.seed)
	var total int64
	// Values are carved from large chunks: one allocation per 4 MiB.
	var chunk []byte
	for seq := range int64(o.Events) {
		if ctx.Err() != nil || firstErr.Load() != nil {
			break
		}
		if cap(chunk)-len(chunk) < 2048+d.pad {
			chunk = make([]byte, 0, 4<<20)
		}
		start := len(chunk)
		chunk = d.appendEvent(chunk, g, seq)
		v := chunk[start:len(chunk):len(chunk)]
		total += int64(len(v))
		p.Input() <- &sarama.ProducerMessage{Topic: Topic, Partition: int32(seq % int64(o.Partitions)), Value: sarama.ByteEncoder(v), Timestamp: d.at}
	}
	p.AsyncClose()
	<-errsDone
	if e := firstErr.Load(); e != nil {
		return 0, *e
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ends, err := kafkatest.EndOffsets([]string{broker}, Topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, end := range ends {
		n += end
	}
	if n != int64(o.Events) {
		return 0, fmt.Errorf("topic holds %d records, want %d (was it loaded before?)", n, o.Events)
	}
	return total, nil
}

// bulkBody is one prebuilt request of (r).
type bulkBody struct {
	body   []byte
	events int
	bytes  int64 // document bytes
}

// bulkBodies builds up to 16 distinct bodies of o.BulkEvents events each,
// with action lines as the Elasticsearch sink writes them.
func (d *dataset) bulkBodies(o Options) []bulkBody {
	n := min(16, (o.Events+o.BulkEvents-1)/o.BulkEvents)
	per := min(o.BulkEvents, o.Events)
	g := gen.New(d.seed)
	index := "siembridge-" + d.at.Format("2006.01.02")
	out := make([]bulkBody, n)
	seq := int64(0)
	for i := range out {
		var b []byte
		for range per {
			b = append(b, `{"create":{"_index":"`...)
			b = append(b, index...)
			b = append(b, `","_id":"`...)
			b = append(b, Topic...)
			b = append(b, '+')
			b = strconv.AppendInt(b, seq%int64(o.Partitions), 10)
			b = append(b, '+')
			b = strconv.AppendInt(b, seq/int64(o.Partitions), 10)
			b = append(b, "\"}}\n"...)
			start := len(b)
			b = d.appendEvent(b, g, seq)
			out[i].bytes += int64(len(b) - start)
			b = append(b, '\n')
			seq++
		}
		out[i].body, out[i].events = b, per
	}
	return out
}

// loadReceiver is (r): Conns connections post the prebuilt bodies until
// o.Events events were answered.
func loadReceiver(ctx context.Context, url string, bodies []bulkBody, o Options) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: o.Conns, MaxConnsPerHost: o.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	// The same response the Elasticsearch sink asks for.
	bulkURL := url + "/_bulk?filter_path=" + neturl.QueryEscape(esFilterPath)
	post := func(b *bulkBody, resp *[]byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, bulkURL, bytes.NewReader(b.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		buf := bytes.NewBuffer((*resp)[:0])
		_, err = buf.ReadFrom(res.Body)
		*resp = buf.Bytes()
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK || !bytes.Contains((*resp)[:min(64, len(*resp))], []byte(`"errors":false`)) {
			return fmt.Errorf("receiver answered %d: %.200s", res.StatusCode, *resp)
		}
		return nil
	}
	// Warm up: open the connections.
	var wg sync.WaitGroup
	errs := make([]error, o.Conns)
	for i := range o.Conns {
		wg.Go(func() {
			var resp []byte
			errs[i] = post(&bodies[i%len(bodies)], &resp)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	before, err := getReceiverStats(ctx, url)
	if err != nil {
		return Result{}, err
	}
	requests := (o.Events + bodies[0].events - 1) / bodies[0].events
	var next, events, docBytes atomic.Int64
	start := time.Now()
	for i := range o.Conns {
		wg.Go(func() {
			var resp []byte
			for {
				k := next.Add(1) - 1
				if k >= int64(requests) {
					return
				}
				b := &bodies[k%int64(len(bodies))]
				if err := post(b, &resp); err != nil {
					errs[i] = err
					return
				}
				events.Add(int64(b.events))
				docBytes.Add(b.bytes)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	after, err := getReceiverStats(ctx, url)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Mode: "receiver", Events: events.Load(), Bytes: docBytes.Load(), Seconds: elapsed.Seconds(),
		CPUSeconds: after.CPU - before.CPU, MaxRSS: after.MaxRSS,
		Note: fmt.Sprintf("%d requests of %d events over %d connections", requests, bodies[0].events, o.Conns),
	}, nil
}

func getReceiverStats(ctx context.Context, url string) (receiverStats, error) {
	var st receiverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_bench/stats", nil)
	if err != nil {
		return st, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("receiver stats: %w", err)
	}
	return st, nil
}

// esFilterPath is the filter_path the Elasticsearch sink sends with every
// _bulk request (elasticsearch.FilterPath; a test keeps the two equal), so
// that the load generator asks the receiver for the same response. The
// benchmark, like the rest of the pipeline, imports no concrete sink.
const esFilterPath = "errors,items.*.status,items.*.error.type,items.*.error.reason,error"

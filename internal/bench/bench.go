// Package bench measures siembridge's throughput against ceilings
// measured on the same machine, in the same run. The base rows:
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
//
// The scenarios (issue 14) put the bridge in front of a receiver that
// costs what a cluster costs per document (bulkrecv.Model): immediate, 100
// ms away, capacity-limited with item-level 429s, down for a while under
// live load, fed by a hot partition, with 16 and 64 partitions, and with
// one to three bridge processes in a group. Each is a Row with its ratio
// to a bound measured in the same run and PASS or FAIL (see scenario.go).
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
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
	// child of the base rows: consume.pprof, null.pprof, es.pprof.
	CPUProfileDir string
	// Scenarios to run, from AllScenarios [all of them]. Events,
	// Partitions, Size, BulkEvents, Conns and Rounds shape the base rows;
	// the scenarios have sizes of their own, scaled down by Quick.
	Scenarios []string
	// Quick runs every scenario at a tiny size, for tests of the harness:
	// its numbers mean nothing.
	Quick bool
	// Route is YAML added to the route of every scenario's bridge, e.g.
	// "buffer: {max_bytes: 16MiB}", to see what a setting changes.
	Route string

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
	if len(o.Scenarios) == 0 {
		o.Scenarios = slices.Clone(AllScenarios)
	}
	for _, sc := range o.Scenarios {
		if !slices.Contains(AllScenarios, sc) {
			return fmt.Errorf("scenario %q: must be one of %s", sc, strings.Join(AllScenarios, ", "))
		}
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
	// BufferMaxBytes is the bridge's buffer.max_bytes, for its RSS bound.
	BufferMaxBytes int64  `json:"buffer_max_bytes,omitempty"`
	Note           string `json:"note,omitempty"`
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
	Options Options
	Machine Machine
	// Base reports whether the base rows ran; AvgSize, LoadTime and
	// Consume, Receiver, Null and ES ((a), (r), (b) and (c)) are theirs.
	Base                        bool
	AvgSize                     float64 // mean event size loaded
	LoadTime                    time.Duration
	Consume, Receiver, Null, ES Result
	// Rows are the scenarios', in the order they ran.
	Rows    []Row
	Started time.Time
	Elapsed time.Duration
	// LoadStart and LoadEnd are the machine's 1-minute load average when
	// the run started and ended (-1 unknown).
	LoadStart, LoadEnd float64
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

// Run measures the selected scenarios, the base rows first. It blocks
// until done or ctx ends, and stops every child it started. A scenario
// that cannot be measured is a failed row; Run returns an error only when
// nothing can run (no broker, a bad option) or ctx ended.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Machine: ReadMachine(), Started: time.Now(), LoadStart: LoadAverage()}
	s, err := newSuite(ctx, o)
	if err != nil {
		return nil, err
	}
	defer s.close()
	for _, name := range runOrder {
		if !slices.Contains(o.Scenarios, name) {
			continue
		}
		if name == ScenarioBase {
			if err := s.runBase(ctx, rep); err != nil {
				return nil, fmt.Errorf("base: %w", err)
			}
			rep.Base = true
			continue
		}
		s.run(ctx, name)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.release(name)
	}
	rep.Rows = s.rows
	rep.Elapsed = time.Since(rep.Started)
	rep.LoadEnd = LoadAverage()
	return rep, nil
}

// runBase loads o.Events into Topic and measures (a), (r), (b) and (c).
func (s *suite) runBase(ctx context.Context, rep *Report) error {
	o := s.o
	recv, err := s.startReceiver(ctx, receiverSpec{})
	if err != nil {
		return fmt.Errorf("starting the receiver: %w", err)
	}
	defer recv.srv.stop()
	s.progress("base: loading %d events into %d partitions", o.Events, o.Partitions)
	start := time.Now()
	bytes, err := s.createAndLoad(ctx, Topic, o.Partitions, int64(o.Events), func(seq int64) int32 { return int32(seq % int64(o.Partitions)) })
	if err != nil {
		return fmt.Errorf("loading: %w", err)
	}
	defer s.deleteTopic(Topic)
	rep.LoadTime = time.Since(start)
	rep.AvgSize = float64(bytes) / float64(o.Events)
	s.progress("base: loaded %d events (%.0f bytes on average) in %s", o.Events, rep.AvgSize, rep.LoadTime.Round(time.Millisecond))

	bodies := s.data.bulkBodies(o, false)
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
				res, err = loadReceiver(ctx, recv, bodies, o)
			} else {
				profile := ""
				if o.CPUProfileDir != "" {
					profile = mode + ".pprof"
					if round > 0 {
						profile = fmt.Sprintf("%s-%d.pprof", mode, round+1)
					}
					profile = filepath.Join(o.CPUProfileDir, profile)
				}
				res, err = s.measure(ctx, runSpec{mode: mode, topic: Topic, events: o.Events, partitions: o.Partitions, recv: recv, profile: profile})
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mode, err)
			}
			s.progress("%s%-8s %9.0f events/s %7.1f MB/s %6.2f CPU s/M events (broker %.2f, receiver %.2f), peak RSS %4d MiB",
				prefix, mode, res.Rate(), res.MBps(), res.CPUPerMillion(), res.BrokerCPU, res.ReceiverCPU, res.MaxRSS>>20)
			rounds[i] = append(rounds[i], res)
		}
	}
	rep.Consume, rep.Receiver, rep.Null, rep.ES = median(rounds[0]), median(rounds[1]), median(rounds[2]), median(rounds[3])
	return nil
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

// tailPerPartition is the tail a run leaves out of its window, per
// partition of its topic: a batch.max_events of the defaults, the most a
// partial last batch can hold (see counter).
const tailPerPartition = config.DefaultBatchMaxEvents

// runSpec is one measured configuration of "run".
type runSpec struct {
	mode       string // ModeConsume, ModeNull or ModeES
	topic      string
	events     int // in the topic
	partitions int // of the topic, for the tail left out of the window
	recv       *receiver
	extra      configExtra
	profile    string        // CPU profile file, "" for none
	timeout    time.Duration // 0: the child's default
}

// measure runs spec in a child and returns its result, with the broker's
// and the receiver's CPU per million events during the run.
func (s *suite) measure(ctx context.Context, spec runSpec) (Result, error) {
	var before, after receiverStats
	var bBefore, bAfter Usage
	var err error
	if spec.recv != nil {
		if before, err = spec.recv.stats(ctx); err != nil {
			return Result{}, err
		}
	}
	if bBefore, err = s.broker.usage(); err != nil {
		return Result{}, err
	}
	// The receiver works only in the Elasticsearch runs; the others pass
	// it for its totals.
	profileReceiver := spec.recv != nil && spec.profile != "" && spec.mode == ModeES
	if profileReceiver {
		if err := spec.recv.command(ctx, "/cpuprofile?path="+neturl.QueryEscape(spec.profile+".receiver")); err != nil {
			return Result{}, err
		}
	}
	res, err := s.o.runChild(ctx, spec, s.brokerAddr)
	if profileReceiver {
		err = errors.Join(err, spec.recv.command(ctx, "/cpuprofile?path="))
	}
	if err != nil {
		return Result{}, err
	}
	if spec.recv != nil {
		if after, err = spec.recv.stats(ctx); err != nil {
			return Result{}, err
		}
		// The receiver and the broker work for every event of the run,
		// the tail left out of its window included.
		res.ReceiverCPU = (after.CPU - before.CPU) / float64(spec.events) * 1e6
	}
	if bAfter, err = s.broker.usage(); err != nil {
		return Result{}, err
	}
	res.BrokerCPU = (bAfter.CPU - bBefore.CPU) / float64(spec.events) * 1e6
	return res, nil
}

// runChild runs one measured configuration in a child and returns its
// result.
func (o *Options) runChild(ctx context.Context, spec runSpec, broker string) (Result, error) {
	args := []string{"--mode", spec.mode, "--brokers", broker, "--topic", spec.topic, "--events", strconv.Itoa(spec.events),
		"--tail", strconv.Itoa(spec.partitions * tailPerPartition)}
	if spec.mode == ModeES {
		args = append(args, "--url", spec.recv.url)
	}
	if spec.profile != "" {
		args = append(args, "--cpuprofile", spec.profile)
	}
	if spec.timeout > 0 {
		args = append(args, "--timeout", spec.timeout.String())
	}
	args = append(args, spec.extra.args()...)
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

// load produces n events into topic, event seq (counted from seq0) into
// partition part(seq), and returns their total size.
func load(ctx context.Context, broker, topic string, d *dataset, seq0, n int64, part func(int64) int32) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	sc := kafkatest.Config()
	sc.Producer.Return.Successes = true
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
	// Every message is answered before the producer closes: a retry
	// still under way at AsyncClose would fail with ErrShuttingDown.
	var firstErr atomic.Pointer[error]
	var answered sync.WaitGroup
	answered.Add(2)
	done := make(chan struct{})
	var acked atomic.Int64
	go func() {
		defer answered.Done()
		for pe := range p.Errors() {
			err := error(pe)
			firstErr.CompareAndSwap(nil, &err)
			if acked.Add(1) == n {
				close(done)
			}
		}
	}()
	go func() {
		defer answered.Done()
		for range p.Successes() {
			if acked.Add(1) == n {
				close(done)
			}
		}
	}()
	g := gen.New(d.seed)
	var total, sent int64
	// Values are carved from large chunks: one allocation per 4 MiB.
	var chunk []byte
	for seq := seq0; seq < seq0+n; seq++ {
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
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: part(seq), Value: sarama.ByteEncoder(v), Timestamp: d.at}
		sent++
	}
	if sent == n {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	p.AsyncClose()
	answered.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, *e
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return total, nil
}

// topicEvents is the number of records in topic.
func topicEvents(broker, topic string) (int64, error) {
	ends, err := kafkatest.EndOffsets([]string{broker}, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, end := range ends {
		n += end
	}
	return n, nil
}

// bulkBody is one prebuilt request of (r).
type bulkBody struct {
	body   []byte
	events int
	bytes  int64 // document bytes
	// idAt are the offsets of the _ids' idDigits digits in a body made
	// with unique _ids, which loadReceiver numbers anew for each request.
	idAt []int
}

// idDigits is the width of the number in a unique body's _ids.
const idDigits = 12

// bulkBodies builds up to 16 distinct bodies of o.BulkEvents events each,
// with action lines as the Elasticsearch sink writes them. With unique,
// the _ids are "intake+" and idDigits digits, renumbered per request so
// that a receiver that keeps _ids indexes every document.
func (d *dataset) bulkBodies(o Options, unique bool) []bulkBody {
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
			if unique {
				b = append(b, "intake+"...)
				out[i].idAt = append(out[i].idAt, len(b))
				b = append(b, strings.Repeat("0", idDigits)...)
			} else {
				b = append(b, Topic...)
				b = append(b, '+')
				b = strconv.AppendInt(b, seq%int64(o.Partitions), 10)
				b = append(b, '+')
				b = strconv.AppendInt(b, seq/int64(o.Partitions), 10)
			}
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

// number writes the _ids of request k into body, a copy of b.body.
func (b *bulkBody) number(body []byte, k int64) {
	for i, at := range b.idAt {
		v := k*int64(len(b.idAt)) + int64(i)
		for j := at + idDigits - 1; j >= at; j-- {
			body[j] = byte('0' + v%10)
			v /= 10
		}
	}
}

// loadReceiver is (r): Conns connections post the prebuilt bodies until
// o.Events events were answered. Bodies with unique _ids are numbered
// anew for each request.
func loadReceiver(ctx context.Context, rcv *receiver, bodies []bulkBody, o Options) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: o.Conns, MaxConnsPerHost: o.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	// The same response the Elasticsearch sink asks for.
	bulkURL := rcv.url + "/_bulk?filter_path=" + neturl.QueryEscape(esFilterPath)
	var next atomic.Int64
	post := func(b *bulkBody, resp, own *[]byte) error {
		body := b.body
		if len(b.idAt) > 0 {
			*own = append((*own)[:0], b.body...)
			b.number(*own, next.Add(1)-1)
			body = *own
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, bulkURL, bytes.NewReader(body))
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
			var resp, own []byte
			errs[i] = post(&bodies[i%len(bodies)], &resp, &own)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	before, err := rcv.stats(ctx)
	if err != nil {
		return Result{}, err
	}
	requests := (o.Events + bodies[0].events - 1) / bodies[0].events
	var taken, events, docBytes atomic.Int64
	start := time.Now()
	for i := range o.Conns {
		wg.Go(func() {
			var resp, own []byte
			for {
				k := taken.Add(1) - 1
				if k >= int64(requests) {
					return
				}
				b := &bodies[k%int64(len(bodies))]
				if err := post(b, &resp, &own); err != nil {
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
	after, err := rcv.stats(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Mode: "receiver", Events: events.Load(), Bytes: docBytes.Load(), Seconds: elapsed.Seconds(),
		CPUSeconds: after.CPU - before.CPU, MaxRSS: after.MaxRSS,
		Note: fmt.Sprintf("%d requests of %d events over %d connections", requests, bodies[0].events, o.Conns),
	}, nil
}

// esFilterPath is the filter_path the Elasticsearch sink sends with every
// _bulk request (elasticsearch.FilterPath; a test keeps the two equal), so
// that the load generator asks the receiver for the same response. The
// benchmark, like the rest of the pipeline, imports no concrete sink.
const esFilterPath = "errors,items.*.status,items.*.error.type,items.*.error.reason,error"

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// suite is what the scenarios of one run share: the broker, the topics
// loaded into it, the receivers started, and the measurements already
// taken (a row's bound measured by an earlier scenario is not measured
// again).
type suite struct {
	o          Options
	sz         sizes
	data       *dataset
	broker     server
	brokerAddr string
	admin      sarama.ClusterAdmin

	topics    map[string]int64     // loaded: events in each
	receivers map[string]*receiver // by receiverSpec key
	results   map[string]Result    // measured, by key
	rows      []Row
	rowKeys   map[string]bool
}

func newSuite(ctx context.Context, o Options) (*suite, error) {
	s := &suite{
		o: o, sz: sizesFor(o.Quick), data: newDataset(o),
		topics: map[string]int64{}, receivers: map[string]*receiver{}, results: map[string]Result{}, rowKeys: map[string]bool{},
	}
	s.sz.extra.route = joinLines(s.sz.extra.route, o.Route)
	var broker struct{ Addr string }
	// The broker starts with one small topic; the scenarios create theirs.
	srv, err := o.startServer(ctx, &broker, "broker", "--partitions", "1", "--topic", "bench-warmup")
	if err != nil {
		return nil, fmt.Errorf("starting the broker: %w", err)
	}
	s.broker, s.brokerAddr = srv, broker.Addr
	if s.admin, err = sarama.NewClusterAdmin([]string{s.brokerAddr}, kafkatest.Config()); err != nil {
		srv.stop()
		return nil, fmt.Errorf("broker admin: %w", err)
	}
	s.progress("broker at %s", s.brokerAddr)
	return s, nil
}

func (s *suite) close() {
	for _, r := range s.receivers {
		r.srv.stop()
	}
	_ = s.admin.Close()
	s.broker.stop()
}

func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.o.Progress, "bench: "+format+"\n", args...)
}

// addRow records a row once per key (a row two scenarios share, such as
// 16 partitions, is shown once) and prints it.
func (s *suite) addRow(key string, r Row) {
	if s.rowKeys[key] {
		return
	}
	r.Err = strings.ReplaceAll(r.Err, "\n", "; ")
	r.Load = LoadAverage()
	s.rowKeys[key] = true
	s.rows = append(s.rows, r)
	msg := fmt.Sprintf("%s: %s: %s", r.Scenario, r.Label, formatValue(r.Value, r.Unit))
	if r.Bound > 0 {
		msg += fmt.Sprintf(" vs %s %s = %.2f", r.BoundName, formatValue(r.Bound, r.Unit), r.Ratio())
	}
	if x := r.extraChecks(); x != "" {
		msg += "; " + x
	}
	if r.Err != "" {
		msg += "; error: " + r.Err
	}
	s.progress("%s, RSS %s, load average %.1f: %s", msg, r.rssText(), r.Load, r.Verdict())
}

// memo returns the result stored under key, measuring it with f the
// first time.
func (s *suite) memo(key string, f func() (Result, error)) (Result, error) {
	if r, ok := s.results[key]; ok {
		return r, nil
	}
	r, err := f()
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", key, err)
	}
	s.results[key] = r
	return r, nil
}

// createTopic creates an empty topic of partitions.
func (s *suite) createTopic(name string, partitions int) error {
	err := s.admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	s.topics[name] = 0
	// A producer that meets the topic before the broker's metadata has it
	// retries, and a retry still under way when the load closes the
	// producer fails: wait until every partition answers.
	return waitFor(context.Background(), 30*time.Second, 20*time.Millisecond, "topic "+name+" appearing", func() (bool, error) {
		ends, err := kafkatest.EndOffsets([]string{s.brokerAddr}, name)
		return err == nil && len(ends) == partitions, nil
	})
}

// createAndLoad creates a topic and loads n events into it, event seq
// into partition part(seq); it returns their total size.
func (s *suite) createAndLoad(ctx context.Context, name string, partitions int, n int64, part func(int64) int32) (int64, error) {
	if err := s.createTopic(name, partitions); err != nil {
		return 0, err
	}
	size, err := load(ctx, s.brokerAddr, name, s.data, 0, n, part)
	if err != nil {
		return 0, err
	}
	got, err := topicEvents(s.brokerAddr, name)
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("topic %s holds %d records, want %d", name, got, n)
	}
	s.topics[name] = n
	return size, nil
}

// loaded returns a topic of partitions holding n events, loading it the
// first time: "even-P" spreads them evenly, "hot-P" puts half into
// partition 0 and spreads the rest over the others.
func (s *suite) loaded(ctx context.Context, layout string, partitions int, n int64) (string, error) {
	name := fmt.Sprintf("%s-%d", layout, partitions)
	if _, ok := s.topics[name]; ok {
		return name, nil
	}
	part := func(seq int64) int32 { return int32(seq % int64(partitions)) }
	if layout == "hot" {
		part = func(seq int64) int32 {
			if seq%2 == 0 || partitions == 1 {
				return 0
			}
			return int32(1 + (seq/2)%int64(partitions-1))
		}
	}
	s.progress("loading %d events into %s (%d partitions)", n, name, partitions)
	if _, err := s.createAndLoad(ctx, name, partitions, n, part); err != nil {
		return "", err
	}
	return name, nil
}

// deleteTopic removes a topic from the broker, freeing its memory.
func (s *suite) deleteTopic(name string) {
	if _, ok := s.topics[name]; !ok {
		return
	}
	delete(s.topics, name)
	for k := range s.results {
		if strings.Contains(k, "/"+name+"/") {
			delete(s.results, k)
		}
	}
	if err := s.admin.DeleteTopic(name); err != nil {
		s.progress("deleting topic %s: %v", name, err)
	}
}

// release deletes the topics of scenario done that no scenario still to
// run uses.
func (s *suite) release(done string) {
	i := slices.Index(runOrder, done)
	for _, t := range scenarioTopics[done] {
		needed := false
		for _, later := range runOrder[i+1:] {
			if slices.Contains(s.o.Scenarios, later) && slices.Contains(scenarioTopics[later], t) {
				needed = true
			}
		}
		if !needed {
			s.deleteTopic(t)
		}
	}
}

// receiver is a receiver child: url takes `_bulk`, control its commands.
type receiver struct {
	srv          server
	url, control string
	model        bool
}

// receiverSpec configures a receiver child. The zero value is the fast
// Receiver; with model, a bulkrecv.Model.
type receiverSpec struct {
	model    bool
	latency  time.Duration
	capacity float64
	burst    int
}

func (r receiverSpec) key() string {
	return fmt.Sprintf("model=%v,latency=%s,capacity=%g,burst=%d", r.model, r.latency, r.capacity, r.burst)
}

func (r receiverSpec) args() []string {
	if !r.model {
		return nil
	}
	return []string{"--model", "--latency", r.latency.String(),
		"--capacity", strconv.FormatFloat(r.capacity, 'f', -1, 64), "--burst", strconv.Itoa(r.burst)}
}

// startReceiver starts a receiver child that the caller stops.
func (s *suite) startReceiver(ctx context.Context, spec receiverSpec) (*receiver, error) {
	var addr struct{ URL, Control string }
	srv, err := s.o.startServer(ctx, &addr, "receiver", spec.args()...)
	if err != nil {
		return nil, err
	}
	return &receiver{srv: srv, url: addr.URL, control: addr.Control, model: spec.model}, nil
}

// receiverFor returns the suite's receiver of spec, starting it the first
// time, with its _ids forgotten and its totals zeroed.
func (s *suite) receiverFor(ctx context.Context, spec receiverSpec) (*receiver, error) {
	r := s.receivers[spec.key()]
	if r == nil {
		var err error
		if r, err = s.startReceiver(ctx, spec); err != nil {
			return nil, fmt.Errorf("starting a receiver (%s): %w", spec.key(), err)
		}
		s.receivers[spec.key()] = r
	}
	return r, r.reset(ctx)
}

func (r *receiver) stats(ctx context.Context) (receiverStats, error) {
	var st receiverStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.control+"/stats", nil)
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

func (r *receiver) command(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.control+path, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("receiver %s: %d %s", path, res.StatusCode, b)
	}
	return nil
}

// reset makes a Model forget its _ids and zero its totals; the fast
// Receiver keeps nothing to reset.
func (r *receiver) reset(ctx context.Context) error {
	if !r.model {
		return nil
	}
	return r.command(ctx, "/reset")
}

// refuse switches a Model's listener off or on.
func (r *receiver) refuse(ctx context.Context, on bool) error {
	return r.command(ctx, "/refuse?on="+strconv.FormatBool(on))
}

// bridgeProc is a "bridge" child: the bridge into Elasticsearch, running
// until stopped.
type bridgeProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	rd    *bufio.Reader
	mu    sync.Mutex
	done  bool
	last  bridgeStatus
}

// startBridge starts a bridge child reading topic in group into url and
// returns once it is ready (not yet joined).
func (s *suite) startBridge(ctx context.Context, topic, group, url string, extra configExtra) (*bridgeProc, error) {
	args := append([]string{"--brokers", s.brokerAddr, "--topic", topic, "--group", group, "--url", url}, extra.args()...)
	cmd := s.o.command(ctx, "bridge", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &bridgeProc{cmd: cmd, stdin: stdin, rd: bufio.NewReader(stdout)}
	if err := readLine(p.rd, &p.last); err != nil {
		_, _ = p.stop()
		return nil, err
	}
	return p, nil
}

// status asks the child for its status.
func (p *bridgeProc) status() (bridgeStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.last, errors.New("bridge child stopped")
	}
	if _, err := io.WriteString(p.stdin, "status\n"); err != nil {
		return p.last, err
	}
	var st bridgeStatus
	if err := readLine(p.rd, &st); err != nil {
		return p.last, err
	}
	p.last = st
	if st.Err != "" {
		return st, fmt.Errorf("bridge: %s", st.Err)
	}
	return st, nil
}

// stop ends the child and returns its last status, with its peak RSS. It
// is safe to call more than once.
func (p *bridgeProc) stop() (bridgeStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.last, nil
	}
	p.done = true
	p.stdin.Close()
	var st bridgeStatus
	rerr := readLine(p.rd, &st)
	if rerr == nil {
		p.last = st
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		werr = <-waited
	}
	return p.last, errors.Join(rerr, werr)
}

// stopAll stops the children and returns each one's peak RSS and the
// buffer.max_bytes they ran with.
func stopAll(procs []*bridgeProc) (rss []int64, bufferMax int64, err error) {
	var errs []error
	for _, p := range procs {
		st, err := p.stop()
		errs = append(errs, err)
		rss = append(rss, st.MaxRSS)
		bufferMax = max(bufferMax, st.BufferMaxBytes)
	}
	return rss, bufferMax, errors.Join(errs...)
}

// waitFor polls f every interval until it reports done, fails, or
// timeout passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

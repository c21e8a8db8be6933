package integration

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// sendSeconds counts, per second since start, the events of the requests
// the bridge sent in it (when each request went out).
type sendSeconds struct {
	bridge.NopHooks
	start time.Time
	mu    sync.Mutex
	count []int
}

func (h *sendSeconds) OnRequest(_ string, events, _ int, latency time.Duration, _ error) {
	sec := max(0, int(time.Since(h.start.Add(latency))/time.Second))
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.count) <= sec {
		h.count = append(h.count, 0)
	}
	h.count[sec] += events
}

func (h *sendSeconds) seconds() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.count)
}

// TestRateLimitAccuracy: limit 2000 events/s with 30000 events waiting. No
// k whole seconds of sending exceed k × limit + burst (and a little for
// the time between the bucket and the request), and in 8 consecutive
// whole seconds at least 95 % of the limit was sent. The seconds are
// counted when the bridge sent each request: the sink counts when it gets
// to one, and on 2 busy cores under -race it once got to two seconds'
// requests in one (1237, 2263, 4396, 1497 events: 7896 over seconds 6–8,
// within the bucket's 2000 × 3 + 500 only when seconds 3–5, which it had
// been slow in, are counted too).
func TestRateLimitAccuracy(t *testing.T) {
	const (
		topic = "events"
		n     = 30000
		limit = 2000
		burst = 500 // the default: max(batch.max_events, limit/10)
	)
	cluster := startCluster(t, 3, topic, "events-dlq")
	es := startES(t, esfake.Options{})
	produceSeq(t, cluster.Brokers(), topic, 3, 1, n, nil)
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", fmt.Sprintf(`    rate: {events_per_second: %d}`, limit)))
	sent := &sendSeconds{start: time.Now()}
	b, stop := runBridge(t, cfg, bridge.WithHooks(sent))
	waitFor(t, 60*time.Second, "all events delivered", func() bool { return b.Stats().Routes[0].Delivered >= n })
	stop()

	// The bucket lets at most limit × k + burst events through in any k
	// seconds. A request is counted when it went out, which is a little
	// after it took its tokens (a worker slot, the request's encoding; on
	// 2 busy cores under -race up to tens of milliseconds): a request that
	// took its tokens at the end of a second was once counted in the next
	// (1500, 2667). jitter allows a quarter of a second.
	const jitter = limit / 4
	perSec := sent.seconds()
	if i, k, sum := overBucket(perSec, limit, burst+jitter); k > 0 {
		t.Errorf("seconds %d to %d: %d events sent, over limit × %d s + burst + jitter = %d (per second: %v)", i, i+k-1, sum, k, k*limit+burst+jitter, perSec)
	}
	// Not slower than configured: in the best 8 consecutive whole seconds
	// the bucket let at least 95 % of the limit through. The best, not the
	// mean of the run: on 2 cores busy with other packages under -race the
	// bridge was once starved below the limit for its last seconds (sent
	// 2001, 1166, 2166, 923, 1000, 834 events), which says nothing about
	// the limiter. A limiter too fast fails the check above.
	const window = 8
	first, last := -1, -1
	for i, c := range perSec {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if last-first-1 < window { // whole seconds only: the first and last are partial
		t.Fatalf("only %d whole seconds of sending: %v", max(0, last-first-1), perSec)
	}
	best := 0
	for i := first + 1; i+window <= last; i++ {
		best = max(best, sumInts(perSec[i:i+window]))
	}
	if mean := float64(best) / window; mean < 0.95*limit {
		t.Errorf("at most %.0f events/s over %d whole seconds, want at least 95 %% of %d (per second: %v)", mean, window, limit, perSec)
	}
	t.Logf("best %d whole seconds: %.0f events/s; per second %v sent, %v at the sink", window, float64(best)/window, perSec, es.PerSecond())
}

func sumInts(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// overBucket returns the first run of k seconds of perSec (from i) whose
// events sum to more than k × rate + burst, or k = 0 when there is none.
func overBucket(perSec []int, rate, burst int) (i, k, sum int) {
	for i = range perSec {
		sum = 0
		for k = 1; i+k <= len(perSec); k++ {
			sum += perSec[i+k-1]
			if sum > k*rate+burst {
				return i, k, sum
			}
		}
	}
	return 0, 0, 0
}

// TestOverBucket: the check above passes the series CI saw (one request
// counted a second late) only with the jitter, and catches a limiter that
// lets 3 partitions send the limit each, or a burst four times too big.
func TestOverBucket(t *testing.T) {
	ci := []int{1833, 1923, 2000, 2000, 2000, 2000, 2000, 2244, 2000, 2000, 1666, 1834, 2000, 1500, 2667, 333}
	for _, tc := range []struct {
		name    string
		perSec  []int
		burst   int
		wantI   int
		wantK   int
		wantSum int
	}{
		{"CI's series, burst and jitter", ci, 500 + 500, 0, 0, 0},
		{"CI's series, burst only", ci, 500, 14, 1, 2667},
		{"per-partition limit", []int{2000, 6000, 6000}, 1000, 0, 2, 8000},
		{"slow drift over the limit", []int{2300, 2300, 2300, 2300}, 1000, 0, 4, 9200},
		{"burst of 2000 at the start", []int{4000, 2000}, 1000, 0, 1, 4000},
	} {
		i, k, sum := overBucket(tc.perSec, 2000, tc.burst)
		if i != tc.wantI || k != tc.wantK || sum != tc.wantSum {
			t.Errorf("%s: overBucket = seconds %d+%d, %d events; want %d+%d, %d", tc.name, i, k, sum, tc.wantI, tc.wantK, tc.wantSum)
		}
	}
}

// TestOutageAndCatchUp: while a producer writes r events/s, the sink
// refuses connections and then answers 503 for T seconds. Afterwards every
// event is in the sink exactly once, and the lag is back at its
// pre-outage level within 1.15 × r·T/(c − r) + 5 s at catch-up rate c.
func TestOutageAndCatchUp(t *testing.T) {
	const (
		topic   = "events"
		r       = 1000 // events/s produced
		live    = 1500
		c       = 3000 // catch-up events/s
		outage  = 10 * time.Second
		produce = 30 * time.Second
	)
	cluster := startCluster(t, 3, topic, "events-dlq")
	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq",
		fmt.Sprintf(`    rate: {events_per_second: %d, catchup_events_per_second: %d, catchup_lag: 2000}`, live, c)))
	b, stop := runBridge(t, cfg)

	var produced atomic.Int64
	prodDone := make(chan error, 1)
	go func() { prodDone <- steadyProducer(cluster.Brokers(), topic, 3, r, produce, &produced) }()

	// Sample the lag every 100 ms.
	type sample struct {
		at  time.Time
		lag int64
	}
	var mu sync.Mutex
	var samples []sample
	stopSampling := make(chan struct{})
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case now := <-tk.C:
				l := b.Stats().Routes[0].Lag
				mu.Lock()
				samples = append(samples, sample{now, l})
				mu.Unlock()
			}
		}
	}()
	defer close(stopSampling)

	time.Sleep(8 * time.Second)
	outageStart := time.Now()
	if err := es.SetMode(esfake.Refuse); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage / 2)
	if err := es.SetMode(esfake.Fail503); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage / 2)
	if err := es.SetMode(esfake.Healthy); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now()
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	n := produced.Load()
	waitFor(t, 60*time.Second, "all events delivered", func() bool { return b.Stats().Routes[0].Delivered >= n })
	stop()

	mu.Lock()
	defer mu.Unlock()
	var pre, peak int64
	for _, s := range samples {
		if s.at.Before(outageStart) && s.at.After(outageStart.Add(-3*time.Second)) && s.lag > pre {
			pre = s.lag
		}
		if s.lag > peak {
			peak = s.lag
		}
	}
	// The pre-outage level: the steady lag plus what one monitor tick
	// (1 s of production) can add to it.
	level := max(pre, r)
	var back time.Time
	for _, s := range samples {
		if s.at.After(outageEnd) && s.lag <= level {
			back = s.at
			break
		}
	}
	T := outageEnd.Sub(outageStart).Seconds()
	bound := time.Duration((1.15*r*T/(c-r) + 5) * float64(time.Second))
	if back.IsZero() {
		t.Fatalf("lag never returned to %d after the outage (peak %d)", level, peak)
	}
	drain := back.Sub(outageEnd)
	t.Logf("pre-outage lag %d, peak %d, drained in %s (bound %s)", pre, peak, drain.Round(100*time.Millisecond), bound.Round(100*time.Millisecond))
	if peak < int64(r*T/2) {
		t.Errorf("peak lag %d: the outage did not hold events back", peak)
	}
	if drain > bound {
		t.Errorf("drain took %s, bound 1.15 × r·T/(c − r) + 5 s = %s", drain, bound)
	}
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		if got[s] != 1 {
			t.Fatalf("seq %d is in the sink %d times, want once", s, got[s])
		}
	}
	assertCommittedAtEnd(t, cluster.Brokers(), "siembridge-elastic", topic)
}

// steadyProducer writes rate events/s with sequence numbers for d.
func steadyProducer(brokers []string, topic string, partitions int32, rate int, d time.Duration, n *atomic.Int64) error {
	p, err := kafkatest.NewProducer(brokers)
	if err != nil {
		return err
	}
	defer p.Close()
	g := gen.New(11)
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	end := time.Now().Add(d)
	var seq int64
	for time.Now().Before(end) {
		<-tk.C
		now := time.Now()
		recs := make([]kafkatest.Record, rate/10)
		for i := range recs {
			seq++
			recs[i] = kafkatest.Record{Topic: topic, Partition: int32(seq % int64(partitions)), Value: g.Next(seq, now), Timestamp: now}
		}
		if err := p.Send(recs...); err != nil {
			return err
		}
		n.Add(int64(len(recs)))
	}
	return nil
}

// TestBoundedMemory runs the built binary with the sink slow and then down
// while far more events than the buffer holds wait in Kafka: the process's
// peak RSS stays below buffer.max_bytes plus a fixed slack, and the lag
// stays in Kafka. Everything the bridge holds counts toward the bound, so
// the slack must not grow with the partitions. With 64 partitions a sink
// answering after 100 ms makes the route pause and resume many times a
// second; each resume lets sarama fetch for every partition at once, and
// what it fetched (and what the bridge's events still point into) is
// outside the buffer unless the fetches are sized from it.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("produces 200 MB")
	}
	for _, tc := range []struct {
		partitions int32
		maxBuffer  int64
		events     int
		slack      int64
		// The sink answers after sinkDelay for slowFor, then refuses
		// connections for downFor.
		sinkDelay, slowFor, downFor time.Duration
		// batch is the route's batch setting ("" the default: 1000
		// events, 5 MiB).
		batch string
	}{
		{partitions: 4, maxBuffer: 16 << 20, events: 200 << 20 / 4096, slack: 64 << 20,
			sinkDelay: 3 * time.Second, slowFor: 6 * time.Second, downFor: 6 * time.Second,
			batch: "{max_events: 500, max_bytes: 2MiB, max_wait: 100ms}"},
		// The case: default batches, a batch being cut, one queued
		// and one in flight per partition must all fit the buffer.
		{partitions: 64, maxBuffer: 32 << 20, events: 60000, slack: 96 << 20,
			sinkDelay: 100 * time.Millisecond, slowFor: 10 * time.Second, downFor: 4 * time.Second},
	} {
		t.Run(fmt.Sprintf("%d_partitions", tc.partitions), func(t *testing.T) {
			testBoundedMemory(t, tc.partitions, tc.maxBuffer, tc.events, tc.slack, tc.sinkDelay, tc.slowFor, tc.downFor, tc.batch)
		})
	}
}

// testBoundedMemory produces n events of 4 KiB spread over partitions,
// runs the bridge with buffer.max_bytes maxBuffer against a sink that
// answers after sinkDelay for slowFor and then refuses connections for
// downFor, and checks the peak RSS against maxBuffer + slack.
func testBoundedMemory(t *testing.T, partitions int32, maxBuffer int64, n int, slack int64, sinkDelay, slowFor, downFor time.Duration, batch string) {
	const (
		topic     = "events"
		valueSize = 4096
	)
	cluster := startCluster(t, partitions, topic, "events-dlq")
	es := startES(t, esfake.Options{})
	if err := es.SetMode(esfake.Slow(sinkDelay)); err != nil {
		t.Fatal(err)
	}
	p, err := kafkatest.NewProducer(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", valueSize-100)
	var recs []kafkatest.Record
	for i := range n {
		recs = append(recs, kafkatest.Record{Topic: topic, Partition: int32(i) % partitions, Value: fmt.Appendf(nil, `{"labels":{"seq":%d},"pad":"%s"}`, i+1, pad)})
		if len(recs) == 1000 || i == n-1 {
			if err := p.Send(recs...); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	p.Close()

	cfg := routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq",
		fmt.Sprintf("    buffer: {max_events: 20000, max_bytes: %d}", maxBuffer))
	newBatch := ""
	if batch != "" {
		newBatch = "    batch: " + batch + "\n"
	}
	cfg = strings.Replace(cfg, "    batch: {max_events: 500, max_bytes: 2MiB, max_wait: 100ms}\n", newBatch, 1)
	// Nothing is delivered at the end: waiting 10 s for it buys nothing.
	cfg = strings.Replace(cfg, "shutdown_timeout: 10s", "shutdown_timeout: 2s", 1)
	proc := startProc(t, "run", "--config", writeConfig(t, cfg))
	// While the sink is slow the buffer fills, the partitions pause and
	// resume; then the sink goes down altogether.
	time.Sleep(slowFor)
	if err := es.SetMode(esfake.Refuse); err != nil {
		t.Fatal(err)
	}
	time.Sleep(downFor)
	hwm := vmHWM(t, proc.cmd.Process.Pid)
	if code := proc.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, proc.out)
	}
	limit := maxBuffer + slack
	t.Logf("peak RSS %d MiB with %d partitions, buffer.max_bytes %d MiB, %d of %d MiB delivered",
		hwm>>20, partitions, maxBuffer>>20, int64(es.Count())*valueSize>>20, int64(n)*valueSize>>20)
	if hwm > limit {
		t.Errorf("peak RSS %d MiB exceeds buffer.max_bytes + %d MiB = %d MiB", hwm>>20, slack>>20, limit>>20)
	}
	if !strings.Contains(proc.out.String(), "paused") {
		t.Errorf("the bridge never paused its partitions; output:\n%s", proc.out)
	}
	if es.Count() >= n {
		t.Errorf("all %d events delivered: the sink was not the bottleneck", n)
	}
}

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestAdaptiveRate: the sink answers 429 for items above its capacity.
// The adaptive rate settles near that capacity instead of hammering it,
// and nothing is lost.
func TestAdaptiveRate(t *testing.T) {
	const (
		topic    = "events"
		capacity = 1500
		n        = 40000
	)
	cluster := startCluster(t, 3, topic, "events-dlq")
	es := startES(t, esfake.Options{Capacity: capacity})
	produceSeq(t, cluster.Brokers(), topic, 3, 1, n, nil)
	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq", `    rate: {events_per_second: 6000}`))
	b, stop := runBridge(t, cfg)
	var rates []float64
	waitFor(t, 90*time.Second, "all events delivered", func() bool {
		rs := b.Stats().Routes[0]
		rates = append(rates, rs.EffectiveRate)
		return rs.Delivered >= n
	})
	stop()
	got := seqs(t, es)
	for s := int64(1); s <= n; s++ {
		if got[s] != 1 {
			t.Fatalf("seq %d is in the sink %d times, want once", s, got[s])
		}
	}
	// Over the second half of the run the limiter sits near the capacity.
	half := rates[len(rates)/2:]
	var sum float64
	for _, r := range half {
		sum += r
	}
	settled := sum / float64(len(half))
	rejected := es.Rejected()[429]
	t.Logf("settled at %.0f events/s (capacity %d); %d items answered 429 for %d accepted", settled, capacity, rejected, es.Accepted())
	if settled < 0.6*capacity || settled > 1.6*capacity {
		t.Errorf("adaptive rate settled at %.0f events/s, want near the capacity %d", settled, capacity)
	}
	if float64(rejected) > 0.5*float64(n) {
		t.Errorf("%d items answered 429 for %d events: the bridge kept hammering the sink", rejected, n)
	}
}

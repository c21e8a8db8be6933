package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/sinks/elasticsearch"
)

// The test binary doubles as the children: Run starts it again with this
// variable set and the child's arguments.
const childEnv = "SIEMBRIDGE_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := Child(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testOptions(t testing.TB, events int) Options {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Events: events, Partitions: 3, Exe: exe, Env: []string{childEnv + "=1"},
		Command: "go test ./internal/bench", Stderr: testWriter{t},
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// TestHarness runs the harness: the base rows on a small topic, checking
// that the numbers are sane and the report and chart are produced, and
// every scenario once at the --quick size, each in a run of its own at
// the same time. Ratios and verdicts are not checked: at these sizes they
// mean nothing.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers, receivers and bridges in child processes")
	}
	// immediate and rtt share a measurement, and run together as in a full
	// run. The runs go at once (much of their time is waiting: round
	// trips, windows, group joins), not as parallel subtests, which
	// -test.parallel would limit to GOMAXPROCS at a time.
	groups := [][]string{
		{ScenarioBase},
		{ScenarioImmediate, ScenarioRTT}, {ScenarioPartitions},
		{ScenarioHot}, {ScenarioCapacity}, {ScenarioOutage}, {ScenarioScaleout},
	}
	reps := make([]*Report, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, group := range groups {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
			defer cancel()
			events := 1000
			if group[0] == ScenarioBase {
				events = 5000
			}
			o := testOptions(t, events)
			o.Scenarios, o.Quick = group, true
			o.Progress = testWriter{t}
			reps[i], errs[i] = Run(ctx, o)
		})
	}
	wg.Wait()
	for i, group := range groups {
		t.Run(strings.Join(group, ","), func(t *testing.T) {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if group[0] == ScenarioBase {
				checkBase(t, reps[i])
			} else {
				checkScenarios(t, group, reps[i])
			}
		})
	}
}

// checkBase checks the base rows of a run of 5000 events.
func checkBase(t *testing.T, rep *Report) {
	if !rep.Base || len(rep.Rows) != 0 {
		t.Fatalf("base %v, %d scenario rows", rep.Base, len(rep.Rows))
	}
	for _, res := range []Result{rep.Consume, rep.Receiver, rep.Null, rep.ES} {
		// Rates are timed up to the last 1000 events of each partition
		// (the final partial batch waits batch.max_wait).
		if res.Events < 5000-3*1000 || res.Rate() <= 0 || res.MBps() <= 0 {
			t.Errorf("%s: %d events at %.0f/s", res.Mode, res.Events, res.Rate())
		}
		if mb := float64(res.Bytes) / float64(res.Events); mb < 500 || mb > 1000 {
			t.Errorf("%s: %.0f bytes per event", res.Mode, mb)
		}
		if res.CPUSeconds <= 0 || res.MaxRSS < 1<<20 || res.MaxRSS > 4<<30 {
			t.Errorf("%s: cpu %.3fs, peak RSS %d", res.Mode, res.CPUSeconds, res.MaxRSS)
		}
	}
	if rep.AvgSize < 600 || rep.AvgSize > 800 {
		t.Errorf("average size %.0f", rep.AvgSize)
	}
	if h := rep.H(); h <= 0 || h >= rep.Consume.Rate() || h >= rep.Receiver.Rate() {
		t.Errorf("H = %.0f with a = %.0f, r = %.0f", h, rep.Consume.Rate(), rep.Receiver.Rate())
	}

	var md, svg, sum bytes.Buffer
	if err := rep.WriteMarkdown(&md, "benchmarks.svg"); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	rep.WriteSummary(&sum)
	for _, want := range []string{MarkdownBegin, MarkdownEnd, "go test ./internal/bench", "| (c) siembridge", "(c)/H", "![rates", rep.Machine.GoVersion, "Base rows: **"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "## Scenarios") {
		t.Errorf("markdown has a scenario section without scenarios:\n%s", md.String())
	}
	if !strings.Contains(sum.String(), "verdict: ") {
		t.Errorf("summary: %s", sum.String())
	}
	// The chart is well-formed XML with a bar per configuration and H.
	if rects := svgRects(t, &svg); rects != 6 { // background and five bars
		t.Errorf("svg has %d rects", rects)
	}
}

// svgRects checks the chart is well-formed XML and counts its rects.
func svgRects(t *testing.T, svg *bytes.Buffer) int {
	t.Helper()
	dec := xml.NewDecoder(svg)
	rects := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("svg: %v", err)
			}
			return rects
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
}

// wantRows are the rows each scenario adds at the quick size; the 16
// partitions row of partitions is immediate's when both run.
var wantRows = map[string]int{
	ScenarioImmediate: 2, ScenarioRTT: 1, ScenarioCapacity: 2, ScenarioOutage: 1,
	ScenarioHot: 1, ScenarioPartitions: 2, ScenarioScaleout: 2,
}

// checkScenarios checks that the rows of scenarios run at the quick size
// are measured and reported.
func checkScenarios(t *testing.T, scenarios []string, rep *Report) {
	want := 0
	for _, sc := range scenarios {
		want += wantRows[sc]
	}
	if slices.Contains(scenarios, ScenarioImmediate) && slices.Contains(scenarios, ScenarioPartitions) {
		want--
	}
	if rep.Base || len(rep.Rows) != want {
		t.Fatalf("base %v, %d rows, want %d: %+v", rep.Base, len(rep.Rows), want, rep.Rows)
	}
	for i, row := range rep.Rows {
		if row.Err != "" {
			t.Errorf("%s: %s", row.Label, row.Err)
			continue
		}
		// A capacity-limited window may deliver nothing at this size.
		if !slices.Contains(scenarios, row.Scenario) || row.Value < 0 || row.Value == 0 && row.Scenario != ScenarioCapacity ||
			len(row.RSS) == 0 || row.RSSBound < RSSAllowance {
			t.Errorf("row %+v", row)
		}
		for _, v := range row.RSS {
			if v < 1<<20 || v > 4<<30 {
				t.Errorf("%s: RSS %d", row.Label, v)
			}
		}
		if v := row.Verdict(); v != "PASS" && v != "FAIL" && v != "info" {
			t.Errorf("%s: verdict %q", row.Label, v)
		}
		// Every row has its bound but the first of scale-out, which is
		// the others'.
		if row.Bound <= 0 && (row.Scenario != ScenarioScaleout || i > 0 && rep.Rows[i-1].Scenario == ScenarioScaleout) {
			t.Errorf("%s: no bound", row.Label)
		}
	}
	var md, svg, sum bytes.Buffer
	if err := rep.WriteMarkdown(&md, "benchmarks.svg"); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	rep.WriteSummary(&sum)
	for _, want := range []string{"## Scenarios", "--quick"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, sc := range scenarios {
		if !strings.Contains(md.String(), "### "+sc+":") {
			t.Errorf("markdown lacks the section of %s:\n%s", sc, md.String())
		}
	}
	bars := 0
	for _, row := range rep.Rows {
		if !strings.Contains(md.String(), "| "+row.Label+" |") || !strings.Contains(sum.String(), row.Label) {
			t.Errorf("row %s is not in the report", row.Label)
		}
		if row.Bound > 0 {
			bars++
		}
	}
	if strings.Contains(md.String(), "## Base rows") {
		t.Error("markdown has the base rows, which did not run")
	}
	if rects := svgRects(t, &svg); rects != 1+bars {
		t.Errorf("svg has %d rects for %d bars", rects, bars)
	}
}

// BenchmarkHarness runs the harness with 50000 events per iteration and
// reports the four rates.
func BenchmarkHarness(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a broker, a receiver and three measured processes")
	}
	for b.Loop() {
		o := testOptions(b, 50000)
		o.Scenarios = []string{ScenarioBase}
		rep, err := Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.Consume.Rate(), "a-events/s")
		b.ReportMetric(rep.Receiver.Rate(), "r-events/s")
		b.ReportMetric(rep.Null.Rate(), "b-events/s")
		b.ReportMetric(rep.ES.Rate(), "c-events/s")
		b.ReportMetric(rep.NullRatio(), "b/a")
		b.ReportMetric(rep.ESRatio(), "c/H")
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {3, 5}, {120000, 200000}, {440000, 500000}, {2.3e6, 2.5e6}} {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%g) = %g, want %g", c.in, got, c.want)
		}
	}
}

func TestFilterPathIsTheSinks(t *testing.T) {
	if esFilterPath != elasticsearch.FilterPath {
		t.Fatalf("the load generator asks for filter_path %q, the sink for %q", esFilterPath, elasticsearch.FilterPath)
	}
}

// TestBestES: a bridge row takes the faster of its two runs, as its
// bounds take the better of theirs, and says both; with Quick, one run.
func TestBestES(t *testing.T) {
	spec := immediateReceiver
	for _, tc := range []struct {
		name        string
		quick       bool
		first, then float64 // seconds for 1000 events
		want        float64 // events/s
		note        bool
	}{
		{"second faster", false, 2, 1, 1000, true},
		{"first faster", false, 1, 4, 1000, true},
		{"quick: the first only", true, 2, 1, 500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &suite{o: Options{Quick: tc.quick}, results: map[string]Result{
				"es/t/" + spec.key():  {Events: 1000, Seconds: tc.first},
				"es2/t/" + spec.key(): {Events: 1000, Seconds: tc.then},
			}}
			got, err := s.bestES(context.Background(), "t", 4, spec)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate() != tc.want {
				t.Errorf("rate %g, want %g", got.Rate(), tc.want)
			}
			if has := strings.Contains(got.Note, "the better taken"); has != tc.note {
				t.Errorf("note %q: names both runs = %v, want %v", got.Note, has, tc.note)
			}
		})
	}
}

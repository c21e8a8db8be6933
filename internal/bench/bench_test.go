package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"github.com/siembridge/siembridge/sinks/elasticsearch"
	"os"
	"strings"
	"testing"
	"time"
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

// TestHarness runs the whole harness on a small topic and checks that the
// numbers are sane and the report and chart are produced.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, a receiver and three measured processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	o := testOptions(t, 20000)
	o.Progress = testWriter{t}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []Result{rep.Consume, rep.Receiver, rep.Null, rep.ES} {
		// Rates are timed up to the last 1000 events of each partition
		// (the final partial batch waits batch.max_wait).
		if res.Events < 20000-3*1000 || res.Rate() <= 0 || res.MBps() <= 0 {
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
	for _, want := range []string{"go test ./internal/bench", "| (c) siembridge", "(c)/H", "![throughput", rep.Machine.GoVersion, "Verdict: **"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if !strings.Contains(sum.String(), "verdict: ") {
		t.Errorf("summary: %s", sum.String())
	}
	// The chart is well-formed XML with a bar per configuration and H.
	dec := xml.NewDecoder(&svg)
	rects := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("svg: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects != 6 { // background and five bars
		t.Errorf("svg has %d rects", rects)
	}
}

// BenchmarkHarness runs the harness with 50000 events per iteration and
// reports the four rates.
func BenchmarkHarness(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a broker, a receiver and three measured processes")
	}
	for b.Loop() {
		rep, err := Run(context.Background(), testOptions(b, 50000))
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

package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		check  Check
		pass   bool
		target string
	}{
		{Check{Value: 0.85, Limit: 0.85}, true, "≥ 0.85"},
		{Check{Value: 0.849, Limit: 0.85}, false, "≥ 0.85"},
		{Check{Value: 1.5, Limit: 1.5, AtMost: true}, true, "≤ 1.50"},
		{Check{Value: 1.51, Limit: 1.5, AtMost: true}, false, "≤ 1.50"},
		{Check{Value: math.Inf(1), Limit: 0.1, AtMost: true}, false, "≤ 0.10"},
		{Check{Value: 0, Limit: 0.1, AtMost: true}, true, "≤ 0.10"},
	} {
		if got := c.check.Pass(); got != c.pass {
			t.Errorf("%+v: Pass %v", c.check, got)
		}
		if got := c.check.Target(); got != c.target {
			t.Errorf("%+v: Target %q", c.check, got)
		}
	}
}

func TestRowVerdict(t *testing.T) {
	const mib = 1 << 20
	ok := Check{Name: "rate / H", Value: 0.9, Limit: 0.85}
	low := Check{Name: "rate / H", Value: 0.5, Limit: 0.85}
	throttled := Check{Name: "429s / delivered", Value: 0.51, Limit: 0.10, AtMost: true}
	for _, c := range []struct {
		name    string
		row     Row
		verdict string
	}{
		{"met", Row{Checks: []Check{ok}, RSS: []int64{70 * mib}, RSSBound: 160 * mib}, "PASS"},
		{"ratio missed", Row{Checks: []Check{low}, RSS: []int64{70 * mib}, RSSBound: 160 * mib}, "FAIL"},
		{"second target missed", Row{Checks: []Check{ok, throttled}}, "FAIL"},
		{"one process over its RSS bound", Row{Checks: []Check{ok}, RSS: []int64{70 * mib, 161 * mib}, RSSBound: 160 * mib}, "FAIL"},
		{"at the RSS bound", Row{Checks: []Check{ok}, RSS: []int64{160 * mib}, RSSBound: 160 * mib}, "PASS"},
		{"not measured", Row{Checks: []Check{ok}, Err: "child exited"}, "FAIL"},
		{"reported only", Row{RSS: []int64{70 * mib}, RSSBound: 160 * mib}, "info"},
		{"reported only, over its RSS bound", Row{RSS: []int64{170 * mib}, RSSBound: 160 * mib}, "FAIL"},
		{"reported only, not measured", Row{Err: "x"}, "FAIL"},
	} {
		if got := c.row.Verdict(); got != c.verdict {
			t.Errorf("%s: %s, want %s", c.name, got, c.verdict)
		}
		if c.row.Pass() != (c.verdict != "FAIL") {
			t.Errorf("%s: Pass %v", c.name, c.row.Pass())
		}
	}
	r := Row{Value: 4990, Bound: 5000, RSS: []int64{70 * mib, 90 * mib}, RSSBound: 160 * mib, Checks: []Check{ok, throttled}}
	if r.Ratio() != 0.998 || r.rssText() != "70, 90 MiB ≤ 160" {
		t.Errorf("ratio %v, RSS %q", r.Ratio(), r.rssText())
	}
	if x := r.extraChecks(); x != "429s / delivered 0.51 (≤ 0.10) FAIL" {
		t.Errorf("extra checks %q", x)
	}
	if (Row{Value: 1}).Ratio() != 0 {
		t.Error("a ratio without a bound")
	}
}

// The run passes when the base rows (if they ran) and every row pass.
func TestReportPass(t *testing.T) {
	pass := Row{Checks: []Check{{Value: 1, Limit: 0.5}}}
	fail := Row{Checks: []Check{{Value: 0, Limit: 0.5}}}
	info := Row{}
	base := Report{Base: true,
		Consume: Result{Events: 100, Seconds: 1}, Receiver: Result{Events: 400, Seconds: 1},
		Null: Result{Events: 70, Seconds: 1}, ES: Result{Events: 75, Seconds: 1, MaxRSS: 60 << 20}}
	if !base.BasePass() {
		t.Fatalf("base rows: (b)/(a) %.2f, (c)/H %.2f", base.NullRatio(), base.ESRatio())
	}
	for _, c := range []struct {
		name string
		rep  Report
		want bool
	}{
		{"rows pass", Report{Rows: []Row{pass, info}}, true},
		{"a row fails", Report{Rows: []Row{pass, fail}}, false},
		{"base and rows pass", Report{Base: true, Consume: base.Consume, Receiver: base.Receiver, Null: base.Null, ES: base.ES, Rows: []Row{pass}}, true},
		{"base fails", Report{Base: true, Consume: base.Consume, Receiver: base.Receiver, Null: Result{Events: 10, Seconds: 1}, ES: base.ES, Rows: []Row{pass}}, false},
		{"base did not run", Report{Rows: []Row{pass}}, true},
	} {
		if got := c.rep.Pass(); got != c.want {
			t.Errorf("%s: Pass %v", c.name, got)
		}
		var sum bytes.Buffer
		c.rep.WriteSummary(&sum)
		if want := "verdict: " + verdict(c.want); !strings.Contains(sum.String(), want) {
			t.Errorf("%s: summary lacks %q:\n%s", c.name, want, sum.String())
		}
	}
}

func TestPercentileHarmonic(t *testing.T) {
	if got := percentile([]int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}, 0.95); got != 10 {
		t.Errorf("p95 = %d", got)
	}
	if got := percentile([]int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}, 0.5); got != 5 {
		t.Errorf("p50 = %d", got)
	}
	if percentile(nil, 0.95) != 0 {
		t.Error("p95 of nothing")
	}
	if h := harmonic(100, 100); h != 50 {
		t.Errorf("H(100, 100) = %v", h)
	}
	if harmonic(0, 100) != 0 {
		t.Error("H with a zero rate")
	}
}

func TestGroupDigits(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1 000", 123456.4: "123 456", 1234567: "1 234 567", -4200: "-4 200"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%v) = %q, want %q", in, got, want)
		}
	}
	if got := formatValue(6.66, "s"); got != "6.7 s" {
		t.Errorf("formatValue = %q", got)
	}
}

// Bodies of unique _ids get new numbers per request: no _id twice.
func TestUniqueBodies(t *testing.T) {
	o := Options{Events: 3, BulkEvents: 3, Partitions: 1, Size: 700}
	bodies := newDataset(o).bulkBodies(o, true)
	if len(bodies) != 1 || len(bodies[0].idAt) != 3 {
		t.Fatalf("%d bodies, %d _ids", len(bodies), len(bodies[0].idAt))
	}
	seen := map[string]bool{}
	for k := range int64(4) {
		body := append([]byte(nil), bodies[0].body...)
		bodies[0].number(body, k)
		for _, at := range bodies[0].idAt {
			id := string(body[at-len("intake+") : at+idDigits])
			if seen[id] {
				t.Fatalf("request %d: _id %s again", k, id)
			}
			seen[id] = true
		}
	}
	if !seen["intake+000000000011"] || !seen["intake+000000000000"] {
		t.Errorf("ids %v", seen)
	}
}

func TestOptionsScenarios(t *testing.T) {
	o := Options{Exe: "x"}
	if err := o.defaults(); err != nil || len(o.Scenarios) != len(AllScenarios) {
		t.Fatalf("defaults: %v, %v", err, o.Scenarios)
	}
	o = Options{Exe: "x", Scenarios: []string{ScenarioRTT, "nope"}}
	if err := o.defaults(); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("an unknown scenario: %v", err)
	}
	// Every scenario runs, and the quick sizes are smaller.
	for _, sc := range AllScenarios {
		found := false
		for _, r := range runOrder {
			found = found || r == sc
		}
		if !found {
			t.Errorf("%s never runs", sc)
		}
	}
	full, quick := sizesFor(false), sizesFor(true)
	if quick.events >= full.events || quick.window >= full.window || quick.outage >= full.outage || quick.scaleEvents >= full.scaleEvents {
		t.Errorf("quick %+v is not smaller than full %+v", quick, full)
	}
	if full.extra != (configExtra{}) {
		t.Errorf("a full run changes the bridge's defaults: %+v", full.extra)
	}
}

// The scenarios' extra settings land in a valid configuration.
func TestBenchConfigExtra(t *testing.T) {
	cfg, err := benchConfig(ModeES, "127.0.0.1:9092", "t", "g", "http://127.0.0.1:9200", configExtra{
		kafka: "heartbeat_interval: 100ms",
		route: "batch: {max_wait: 100ms}\nrate: {events_per_second: 2500, catchup_events_per_second: 8000, catchup_lag: 2000}",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if cfg.Kafka.HeartbeatInterval.Milliseconds() != 100 || r.Batch.MaxWait.Milliseconds() != 100 ||
		r.Rate.EventsPerSecond != 2500 || r.Rate.CatchupEventsPerSecond != 8000 || r.Rate.CatchupLag != 2000 {
		t.Errorf("config %+v", cfg)
	}
	if _, err := benchConfig(ModeNull, "127.0.0.1:9092", "t", "g", "", configExtra{}); err != nil {
		t.Error(err)
	}
}

// TestTopicEvents: a count-based topic holds at least tailWindows times
// the tail its window leaves out, so that the tail weighs the same at
// every partition count.
func TestTopicEvents(t *testing.T) {
	full, quick := sizesFor(false), sizesFor(true)
	for _, tc := range []struct {
		sz         sizes
		partitions int
		want       int64
	}{
		{full, 4, 300_000},
		{full, 6, 300_000},
		{full, 15, 300_000},
		{full, 16, 320_000},
		{full, 64, 1_280_000},
		{quick, 64, 1200},
	} {
		got := tc.sz.topicEvents(tc.partitions)
		if got != tc.want {
			t.Errorf("topicEvents(%d) with %d events, %d tail windows = %d, want %d", tc.partitions, tc.sz.events, tc.sz.tailWindows, got, tc.want)
		}
		if tc.sz.tailWindows > 0 {
			if tail := int64(tc.partitions) * tailPerPartition; got < int64(tc.sz.tailWindows)*tail {
				t.Errorf("%d partitions: %d events hold the tail of %d only %.1f times", tc.partitions, got, tail, float64(got)/float64(tail))
			}
		}
	}
}

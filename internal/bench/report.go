package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siembridge/siembridge/config"
)

// Machine describes where a run happened.
type Machine struct {
	CPUs      int    // nproc
	Model     string // model name from /proc/cpuinfo
	GoVersion string
	OS, Arch  string
}

// LoadAverage is the 1-minute load average (/proc/loadavg), -1 where
// unknown: how much else the machine was running.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// ReadMachine reads the machine's description.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Model: "unknown"}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			m.Model = strings.TrimSpace(v)
			break
		}
	}
	return m
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// baseRows are the base table's lines: label, result.
func (r *Report) baseRows() []struct {
	label string
	res   Result
} {
	return []struct {
		label string
		res   Result
	}{
		{"(a) sarama consumer group, discard", r.Consume},
		{"(r) `_bulk` receiver, prebuilt bodies", r.Receiver},
		{"(b) siembridge → null sink", r.Null},
		{"(c) siembridge → Elasticsearch sink → receiver", r.ES},
	}
}

// PeakRSS is the larger peak RSS of (b) and (c), the bridge's.
func (r *Report) PeakRSS() int64 { return max(r.Null.MaxRSS, r.ES.MaxRSS) }

// BasePass reports whether the base rows meet their targets.
func (r *Report) BasePass() bool {
	return r.NullRatio() >= TargetNullRatio && r.ESRatio() >= TargetESRatio && r.PeakRSS() <= TargetMaxRSS
}

// Pass reports whether every target of the run is met: the base rows'
// (when they ran) and every scenario row's.
func (r *Report) Pass() bool {
	if r.Base && !r.BasePass() {
		return false
	}
	for _, row := range r.Rows {
		if !row.Pass() {
			return false
		}
	}
	return true
}

// WriteSummary writes the tables, the ratios and the verdict as text.
func (r *Report) WriteSummary(w io.Writer) {
	if r.Base {
		fmt.Fprintf(w, "%-48s %12s %8s %12s %10s\n", "configuration", "events/s", "MB/s", "CPU s/M ev", "peak RSS")
		for _, row := range r.baseRows() {
			fmt.Fprintf(w, "%-48s %12.0f %8.1f %12.2f %6d MiB\n", strings.ReplaceAll(row.label, "`", ""),
				row.res.Rate(), row.res.MBps(), row.res.CPUPerMillion(), row.res.MaxRSS>>20)
		}
		fmt.Fprintf(w, "H = 1/(1/a + 1/r) = %.0f events/s\n", r.H())
		fmt.Fprintf(w, "(b)/(a) = %.2f (target ≥ %.2f: %s)\n", r.NullRatio(), TargetNullRatio, verdict(r.NullRatio() >= TargetNullRatio))
		fmt.Fprintf(w, "(c)/H   = %.2f (target ≥ %.2f: %s)\n", r.ESRatio(), TargetESRatio, verdict(r.ESRatio() >= TargetESRatio))
		fmt.Fprintf(w, "peak RSS of the bridge = %d MiB (target ≤ %d MiB: %s)\n", r.PeakRSS()>>20, TargetMaxRSS>>20, verdict(r.PeakRSS() <= TargetMaxRSS))
	}
	if len(r.Rows) > 0 {
		if r.Base {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-10s %-62s %16s %22s %6s %7s %16s %s\n", "scenario", "configuration", "measured", "bound", "ratio", "target", "RSS MiB (bound)", "verdict")
		for _, row := range r.Rows {
			target := "—"
			if len(row.Checks) > 0 {
				target = row.Checks[0].Target()
			}
			bound := "—"
			if row.Bound > 0 {
				bound = row.BoundName + " " + formatValue(row.Bound, row.Unit)
			}
			ratioText := "—"
			if row.Bound > 0 {
				ratioText = fmt.Sprintf("%.2f", row.Ratio())
			}
			fmt.Fprintf(w, "%-10s %-62s %16s %22s %6s %7s %16s %s\n", row.Scenario, row.Label, formatValue(row.Value, row.Unit),
				bound, ratioText, target, row.rssText(), row.Verdict())
			if x := row.extraChecks(); x != "" {
				fmt.Fprintf(w, "%10s   also: %s\n", "", x)
			}
			if row.Err != "" {
				fmt.Fprintf(w, "%10s   error: %s\n", "", row.Err)
			}
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", verdict(r.Pass()))
}

// Markers delimit what WriteMarkdown writes in docs/benchmarks.md, so that
// the command can rewrite its part and keep the sections others added
// after it.
const (
	MarkdownBegin = "<!-- siembridge bench: generated from here to the end marker; rerun `siembridge bench` to refresh -->"
	MarkdownEnd   = "<!-- siembridge bench: end of the generated part -->"
)

// WriteMarkdown writes the report as Markdown between MarkdownBegin and
// MarkdownEnd; svg is the chart's file name relative to the Markdown file
// ("" for none).
func (r *Report) WriteMarkdown(w io.Writer, svg string) error {
	o := r.Options
	var b strings.Builder
	b.WriteString(MarkdownBegin + "\n")
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Throughput and recovery of siembridge, each against a bound measured on the same machine, in the\n")
	b.WriteString("same run. Produced by `siembridge bench` (issues 8 and 14); rerun it to refresh this part of the page.\n\n")
	fmt.Fprintf(&b, "```\n%s\n```\n\n", o.Command)
	fmt.Fprintf(&b, "- Machine: %d CPUs (`nproc`), %s, %s/%s\n", r.Machine.CPUs, r.Machine.Model, r.Machine.OS, r.Machine.Arch)
	fmt.Fprintf(&b, "- Go: %s\n", r.Machine.GoVersion)
	fmt.Fprintf(&b, "- Run: started %s, took %s; scenarios: %s\n", r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second), strings.Join(o.Scenarios, ", "))
	if r.LoadStart >= 0 {
		fmt.Fprintf(&b, "- Load average (1 min) of the machine: %.1f when the run started, %.1f when it ended, on %d CPUs\n", r.LoadStart, r.LoadEnd, r.Machine.CPUs)
	}
	if o.Quick {
		b.WriteString("- **`--quick`: every scenario at a tiny size. These numbers test the harness and mean nothing.**\n")
	}
	b.WriteString("- The broker, each receiver and each bridge run in processes of their own on this machine's cores,\n")
	b.WriteString("  which other work shares: single numbers are noisy, and a bound measured a minute before its row may\n")
	b.WriteString("  have had more or less of the machine than the row (each row's note gives the load average after it).\n")
	b.WriteString("  Compare ratios within one run, not across runs.\n\n")
	if svg != "" {
		fmt.Fprintf(&b, "![rates and ratios](%s)\n\n", svg)
	}
	if len(r.Rows) > 0 {
		r.writeScenarios(&b)
	}
	if r.Base {
		r.writeBase(&b)
	}
	b.WriteString(MarkdownEnd + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeScenarios writes the scenario table and a section per scenario.
func (r *Report) writeScenarios(b *strings.Builder) {
	b.WriteString("## Scenarios (issue 14)\n\n")
	r.writeScenarioTable(b)
	r.writeScenarioNotes(b)
	writeScenarioCommon(b)
	for _, sec := range scenarioSections(sizesFor(r.Options.Quick), r.Options) {
		if slices.Contains(r.Options.Scenarios, sec.name) {
			b.WriteString(sec.text)
		}
	}
}

// writeScenarioTable writes a line per scenario row and the verdict of
// all of them (and of the base rows, when they ran).
func (r *Report) writeScenarioTable(b *strings.Builder) {
	b.WriteString("| scenario | configuration | measured | bound | ratio | target | other targets | peak RSS of each bridge (bound) | verdict |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, row := range r.Rows {
		bound, ratioText, target := "—", "—", "none"
		if row.Bound > 0 {
			bound = row.BoundName + " " + formatValue(row.Bound, row.Unit)
			ratioText = fmt.Sprintf("%.2f", row.Ratio())
		}
		if len(row.Checks) > 0 {
			target = row.Checks[0].Target()
		}
		extra := row.extraChecks()
		if row.Err != "" {
			extra = joinNote(extra, "error: "+row.Err)
		}
		if extra == "" {
			extra = "—"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | **%s** |\n", row.Scenario, row.Label, formatValue(row.Value, row.Unit),
			bound, ratioText, target, mdEscape(extra), row.rssText(), row.Verdict())
	}
	pass := true
	for _, row := range r.Rows {
		pass = pass && row.Pass()
	}
	fmt.Fprintf(b, "\nScenarios: **%s**", verdict(pass))
	if r.Base {
		fmt.Fprintf(b, "; base rows: **%s**", verdict(r.BasePass()))
	}
	b.WriteString(".\n\n")
}

// writeScenarioNotes lists each row's note and the load average it was
// measured under.
func (r *Report) writeScenarioNotes(b *strings.Builder) {
	var notes []string
	for _, row := range r.Rows {
		note := row.Note
		if row.Load >= 0 {
			note = joinNote(note, fmt.Sprintf("load average %.1f", row.Load))
		}
		if note != "" {
			notes = append(notes, fmt.Sprintf("- %s, %s: %s.", row.Scenario, row.Label, note))
		}
	}
	if len(notes) > 0 {
		b.WriteString("Notes from the run:\n\n" + strings.Join(notes, "\n") + "\n\n")
	}
}

// writeScenarioCommon writes what every scenario has in common: the
// receiver, the bridge's configuration, how rates are timed and the RSS
// bound.
func writeScenarioCommon(b *strings.Builder) {
	b.WriteString("### What every scenario shares\n\n")
	b.WriteString("- The receiver is `bulkrecv.Model` (internal/fake/bulkrecv), in a process of its own, one per\n")
	b.WriteString("  configuration. It costs what a cluster costs per document before indexing: it JSON-decodes every action\n")
	b.WriteString("  line (encoding/json), checks that every source line is JSON, and keeps every `_id` of every index in a\n")
	b.WriteString("  set, so that it answers each item as Elasticsearch would: 201 created, 409\n")
	b.WriteString("  version_conflict_engine_exception for a create of an `_id` it has (which the sink counts as delivered),\n")
	b.WriteString("  400 for a source that is not JSON; `filter_path` is honoured. Delivered means distinct `_id`s indexed.\n")
	b.WriteString("  Its latency is a timer per request (no CPU held, any number of requests waiting at once); its\n")
	b.WriteString("  capacity a token bucket of documents; its outage a closed listener and closed connections.\n")
	b.WriteString("- The bridge runs with the defaults of a configuration that names only the brokers, the topic, a fresh\n")
	b.WriteString("  consumer group and the receiver's URL, unless a scenario says otherwise.\n")
	b.WriteString("- Rates of the immediate, 100 ms, hot partition and partitions rows run, as the base rows, from the first\n")
	b.WriteString("  event consumed to the last delivered, leaving out the last 1000 events per partition (a partial last\n")
	b.WriteString("  batch waits `batch.max_wait`).\n")
	fmt.Fprintf(b, "- RSS: every bridge process of every row keeps its peak RSS (VmHWM) within `buffer.max_bytes` (%d MiB by\n", config.DefaultBufferMaxBytes>>20)
	fmt.Fprintf(b, "  default) + %d MiB (the runtime, fetches in flight, request and response buffers: the slack\n", RSSAllowance>>20)
	fmt.Fprintf(b, "  integration's TestBoundedMemory allows with 64 partitions), %d MiB with the defaults; a row over it fails.\n\n",
		rssBound(int64(config.DefaultBufferMaxBytes))>>20)
}

// scenarioSection is the text describing one scenario, under its name.
type scenarioSection struct{ name, text string }

// scenarioSections describes every scenario as run at the sizes sz, in
// the order of the report.
func scenarioSections(sz sizes, o Options) []scenarioSection {
	return []scenarioSection{
		{ScenarioImmediate, fmt.Sprintf("### immediate: a receiver answering at once (target rate / H ≥ %.2f)\n\n"+
			"The bridge reads a topic of %s events spread evenly over 4 partitions, and one of %s over 16, into the Model\n"+
			"answering at once. The bound is H = 1/(1/a + 1/r) for each topic: a is a bare sarama consumer group reading the same\n"+
			"topic (what consuming alone costs at that partition count), r the Model's intake alone, as many documents as\n"+
			"the topic holds (at least %s; the Model keeps every `_id`), posted in bodies of %d unique `_id`s (the sink's default batch) over %d connections. Consuming and\n"+
			"receiving share the cores, so H is the rate if the bridge cost nothing of its own. a and r are each measured\n"+
			"just before and just after the bridge, and the larger is taken: other work on the machine can only push a\n"+
			"measurement below the ceiling. For the same reason the bridge runs twice, and the faster run is the row's\n"+
			"(its note gives both).\n\n",
			TargetImmediate, groupDigits(float64(sz.topicEvents(4))), groupDigits(float64(sz.topicEvents(16))), groupDigits(float64(sz.intakeEvents)), o.BulkEvents, o.Conns)},
		{ScenarioRTT, fmt.Sprintf("### rtt: %s round trip (target ≥ %.2f of the rate at once)\n\n"+
			"The same 4-partition topic into the Model answering %s after each request, default settings. The bound is\n"+
			"the rate into the Model answering at once, the immediate row of the same run. A round trip costs the\n"+
			"bridge no CPU, so the ratio shows how much the pipeline waits. Both rates are the faster of two runs.\n\n", sz.rtt, TargetRTT, sz.rtt)},
		{ScenarioCapacity, fmt.Sprintf("### capacity: a SIEM at its capacity (targets delivered ≥ %.2f of capacity, 429s ≤ %.2f of delivered)\n\n"+
			"The Model takes %s documents a second from a token bucket holding one burst (%s documents, full at\n"+
			"the start); items above it are answered 429 es_rejected_execution_exception inside a 200 response with\n"+
			"`errors: true`, and are not indexed. The route has no rate configured: only the adaptive rate holds it back.\n"+
			"A topic of %d partitions holds more than the window can take. After %s to settle, a window of %s counts the\n"+
			"distinct `_id`s indexed and the items answered 429. Bursts smaller than a batch (1000 events) are the hard\n"+
			"case: however slowly a batch is sent, the part above the burst is refused.\n\n",
			TargetCapacity, TargetThrottled, groupDigits(sz.capacity), joinInts(sz.bursts, " or "), sz.capPartitions, sz.settle, sz.window)},
		{ScenarioOutage, fmt.Sprintf("### outage: recovery under live load (target ≤ %.2f × the ideal)\n\n"+
			"A producer writes %s events a second into an empty topic of %d partitions that the bridge reads, with\n"+
			"`rate: {events_per_second: %g, catchup_events_per_second: %g, catchup_lag: %d}`. The catch-up threshold is\n"+
			"one second of live traffic: with the default %d the route would leave catch-up with %d events still behind,\n"+
			"which then drain at only %s − %s events/s, a setting rather than something the bridge can do better. The lag\n"+
			"is events produced − distinct `_id`s indexed, sampled every %s. After %s of live load, its 95th percentile\n"+
			"(leaving out the first fifth) is the live level L. The Model then refuses connections for %s. From the\n"+
			"moment it listens again, the row measures the time until the lag is back at L or below. The ideal is\n"+
			"(backlog when it came back − L) / (catch-up rate − live rate): draining at the full catch-up rate from the\n"+
			"first moment. The note gives the delay until the first delivery after the return (noticing the SIEM is back).\n\n",
			TargetRecovery, groupDigits(sz.live), sz.outagePartitions, sz.liveLimit, sz.catchup, sz.catchupLag,
			config.DefaultCatchupLag, config.DefaultCatchupLag-config.DefaultCatchupLag/10,
			groupDigits(sz.liveLimit), groupDigits(sz.live), sz.sample, sz.warmup, sz.outage)},
		{ScenarioHot, fmt.Sprintf("### hot: one partition with half the events (reported; the issue sets no target)\n\n"+
			"A topic of %s events in 6 partitions: every second event in partition 0, the rest spread over the other\n"+
			"five, as a topic keyed by host with one loud host. The Model answers after %s. The bound is the rate of the\n"+
			"same number of events spread evenly over 6 partitions into the same receiver, in the same run. Once the\n"+
			"other partitions are done, the hot one drains alone, at what the batches one partition may have in flight\n"+
			"allow; the ratio shows what that costs.\n\n",
			groupDigits(float64(sz.events)), sz.rtt)},
		{ScenarioPartitions, fmt.Sprintf("### partitions: 16 and 64 partitions (target rate / H ≥ %.2f)\n\n"+
			"As immediate, with topics of 16 and 64 partitions (16 is the same measurement as in immediate and shown\n"+
			"once). The buffer (`buffer.max_events`, `buffer.max_bytes`) is shared by all the partitions, and the RSS\n"+
			"bound must hold whatever their number.%s\n\n", TargetImmediate, tailSizing(sz))},
		{ScenarioScaleout, fmt.Sprintf("### scaleout: %s processes in one group (target 2 processes ≥ %.2f × one)\n\n"+
			"%s bridge processes share one consumer group over a topic of %d partitions, into the Model answering\n"+
			"after %s. The issue's target holds \"when round-trip bound\", so each process is capped at `workers: %d`\n"+
			"(requests in flight): round trips then allow one process %s events/s, well below what this machine's\n"+
			"cores take. With the default 32 workers and 8 batches in flight per partition, one process would already\n"+
			"use all the CPU of a small machine, and a second process on the same cores could add nothing. Each group\n"+
			"joins an empty topic and settles (every process holds partitions) before %s events are loaded, so that\n"+
			"no rebalance falls into the measurement; the rate counts the distinct `_id`s indexed from the end of the\n"+
			"load (and at least 10%% delivered) to 90%% delivered. 3 processes are reported without a target.\n\n",
			listInts(sz.procs), TargetScaleout, listInts(sz.procs), sz.scaleParts, sz.rtt, sz.scaleWorkers, groupDigits(float64(sz.scaleWorkers)*1000/sz.rtt.Seconds()),
			groupDigits(float64(sz.scaleEvents)))},
	}
}

// tailSizing says how the topics are sized to the tail their windows
// leave out (sizes.topicEvents); "" when they are not.
func tailSizing(sz sizes) string {
	if sz.tailWindows <= 0 {
		return ""
	}
	return fmt.Sprintf(" Every row leaves the last %d events of each partition out of its window,\n"+
		"but the bridge reads and batches them inside it; so that they weigh the same at every partition count, a\n"+
		"topic holds at least %d times that tail: %s events at 16 partitions, %s at 64. (With 300 000 events at\n"+
		"64 partitions the tail was a fifth of the topic, and the row came out 10–15 %% lower.)",
		tailPerPartition, sz.tailWindows, groupDigits(float64(sz.topicEvents(16))), groupDigits(float64(sz.topicEvents(64))))
}

func joinInts(vs []int, sep string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, sep)
}

// listInts writes vs as "1, 2 and 3".
func listInts(vs []int) string {
	s := joinInts(vs, ", ")
	if i := strings.LastIndex(s, ", "); i >= 0 {
		s = s[:i] + " and " + s[i+2:]
	}
	return s
}

// mdEscape keeps text from breaking a Markdown table cell.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// writeBase writes the base rows' section.
func (r *Report) writeBase(b *strings.Builder) {
	o := r.Options
	b.WriteString("## Base rows (issue 8)\n\n")
	fmt.Fprintf(b, "%d events of %.0f bytes on average (ECS-shaped, internal/gen) in %d partitions, loaded in %s",
		o.Events, r.AvgSize, o.Partitions, r.LoadTime.Round(time.Millisecond))
	if o.Rounds > 1 {
		fmt.Fprintf(b, "; %d rounds, each row the round with the median rate", o.Rounds)
	}
	b.WriteString(".\n\n")
	b.WriteString("| configuration | events/s | MB/s | CPU s per M events | peak RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	for _, row := range r.baseRows() {
		fmt.Fprintf(b, "| %s | %.0f | %.1f | %.2f | %d MiB |\n", row.label, row.res.Rate(), row.res.MBps(), row.res.CPUPerMillion(), row.res.MaxRSS>>20)
	}
	fmt.Fprintf(b, "| H = 1/(1/a + 1/r) | %.0f | | | |\n\n", r.H())
	b.WriteString("| ratio | value | target | |\n|---|---:|---:|---|\n")
	fmt.Fprintf(b, "| (b)/(a) | %.2f | ≥ %.2f | %s |\n", r.NullRatio(), TargetNullRatio, verdict(r.NullRatio() >= TargetNullRatio))
	fmt.Fprintf(b, "| (c)/H | %.2f | ≥ %.2f | %s |\n", r.ESRatio(), TargetESRatio, verdict(r.ESRatio() >= TargetESRatio))
	fmt.Fprintf(b, "| peak RSS of (b), (c) | %d MiB | ≤ %d MiB | %s |\n\n", r.PeakRSS()>>20, TargetMaxRSS>>20, verdict(r.PeakRSS() <= TargetMaxRSS))
	fmt.Fprintf(b, "Base rows: **%s**\n\n", verdict(r.BasePass()))
	b.WriteString("### What the base rows measure\n\n")
	b.WriteString("- The broker (kfake, a Kafka-protocol broker), the receiver and each measured configuration run in\n")
	b.WriteString("  processes of their own on loopback, so CPU time and peak RSS (`getrusage` for user + system time;\n")
	b.WriteString("  VmHWM for the peak RSS, since a vfork-started child's `ru_maxrss` includes its parent's) belong to one configuration. Rates run from the first event consumed to the last\n")
	b.WriteString("  one delivered (for (a): read), leaving out the last 1000 events per partition in every row (a\n")
	b.WriteString("  partial last batch waits `batch.max_wait` before it is sent); CPU time covers the process start\n")
	b.WriteString("  and the consumer group join as well. Every run still reads all events.\n")
	b.WriteString("- (a) is a sarama consumer group with sarama's own defaults whose handler only counts: the\n")
	b.WriteString("  ceiling of consumption on this machine.\n")
	b.WriteString("- (r) is `internal/fake/bulkrecv`'s fast Receiver, which counts action lines without decoding them and\n")
	fmt.Fprintf(b, "  answers a `_bulk` response in Elasticsearch's shape, fed prebuilt bodies of %d events over %d keep-alive\n", o.BulkEvents, o.Conns)
	b.WriteString("  connections; its CPU and RSS are the receiver's. It is far cheaper than a cluster: the scenarios use the\n")
	b.WriteString("  Model instead.\n")
	b.WriteString("- (b) and (c) are the real bridge (`bridge.New` from a configuration with defaults everywhere but\n")
	b.WriteString("  the brokers, the topic, a fresh consumer group and the URL; no rate limit), reading until every\n")
	b.WriteString("  event was delivered. MB/s counts event (document) bytes in every row. The null sink of (b)\n")
	b.WriteString("  gets every event's JSON checked by the bridge; the Elasticsearch sink of (c) leaves that to the\n")
	b.WriteString("  cluster for events that begin with `{\"@timestamp\":` (`event.Skim`; all generated events do) and\n")
	b.WriteString("  asks for a filtered bulk response (`filter_path`). Both processes set the garbage collector up\n")
	b.WriteString("  as `siembridge run` does (`gctune`: a memory limit from the buffers, GOGC 200).\n")
	b.WriteString("- Consuming and receiving share the machine's cores, so (c) is bounded by H = 1/(1/a + 1/r), the\n")
	b.WriteString("  rate if reading Kafka and taking in `_bulk` cost nothing else.\n")
	fmt.Fprintf(b, "- CPU s per million events of the broker during (a), (b), (c): %.2f, %.2f, %.2f; of the receiver during (c): %.2f.\n",
		r.Consume.BrokerCPU, r.Null.BrokerCPU, r.ES.BrokerCPU, r.ES.ReceiverCPU)
	for _, row := range r.baseRows() {
		if row.res.Note != "" {
			fmt.Fprintf(b, "- %s: %s.\n", strings.SplitN(row.label, " ", 2)[0], row.res.Note)
		}
	}
	b.WriteString("- `--rounds` repeats the base rows only.\n\n")
}

// svgBar is one bar of a chart: its label, its length in the chart's
// unit, its colour, the text after it and a mark at target (0 for none).
type svgBar struct {
	label  string
	value  float64
	color  string
	text   string
	target float64
}

// svgChart is a titled bar chart whose axis runs from 0 to scale, its
// ticks written by ticks.
type svgChart struct {
	title string
	bars  []svgBar
	scale float64
	ticks func(float64) string
}

// The charts' geometry in pixels: the image's width, the margins left of
// the bars (their labels) and right of them (their texts), a bar's
// height, the gap between bars and the height of a chart's title.
const (
	svgWidth, svgLeft, svgRight = 860, 330, 110
	svgBarH, svgGap, svgHead    = 24, 10, 48
)

// height is the chart's height in pixels, its axis labels included.
func (c svgChart) height() int { return svgHead + len(c.bars)*(svgBarH+svgGap) + 40 }

// WriteSVG writes two horizontal bar charts: events/s of the base rows,
// and each scenario row's ratio to its bound with its target marked.
func (r *Report) WriteSVG(w io.Writer) error {
	var charts []svgChart
	if r.Base {
		charts = append(charts, r.baseChart())
	}
	if len(r.Rows) > 0 {
		charts = append(charts, r.scenarioChart())
	}
	height := 0
	for _, c := range charts {
		height += c.height()
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", svgWidth, height, svgWidth, height)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	y0 := 0
	for _, c := range charts {
		c.draw(&s, y0)
		y0 += c.height()
	}
	s.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.String())
	return err
}

// baseChart is the base rows' events/s.
func (r *Report) baseChart() svgChart {
	bars := []svgBar{
		{label: "(a) sarama consumer, discard", value: r.Consume.Rate(), color: "#6b7280"},
		{label: "(r) _bulk receiver", value: r.Receiver.Rate(), color: "#6b7280"},
		{label: "H = 1/(1/a + 1/r)", value: r.H(), color: "#9ca3af"},
		{label: "(b) siembridge → null", value: r.Null.Rate(), color: "#2563eb"},
		{label: "(c) siembridge → Elasticsearch", value: r.ES.Rate(), color: "#2563eb"},
	}
	top := 0.0
	for i := range bars {
		bars[i].text = fmt.Sprintf("%.0f", bars[i].value)
		top = max(top, bars[i].value)
	}
	return svgChart{
		title: fmt.Sprintf("base rows, events/s (%d events, %d partitions, %d CPUs)", r.Options.Events, r.Options.Partitions, r.Machine.CPUs),
		bars:  bars, scale: niceCeil(top), ticks: humanRate,
	}
}

// scenarioChart is each scenario row's ratio to its bound, coloured by
// its verdict, with its first target marked; rows without a bound are
// left out.
func (r *Report) scenarioChart() svgChart {
	var bars []svgBar
	top := 1.0
	for _, row := range r.Rows {
		if row.Bound <= 0 {
			continue
		}
		color := "#2563eb"
		switch row.Verdict() {
		case "FAIL":
			color = "#dc2626"
		case "PASS":
			color = "#16a34a"
		}
		b := svgBar{label: shorten(row.Scenario+": "+row.Label, 42), value: row.Ratio(), color: color,
			text: fmt.Sprintf("%.2f %s", row.Ratio(), row.Verdict())}
		if len(row.Checks) > 0 {
			b.target = row.Checks[0].Limit
		}
		top = max(top, b.value, b.target)
		bars = append(bars, b)
	}
	return svgChart{
		title: "scenarios: measured / bound (black mark: target; time rows: lower is better)",
		bars:  bars, scale: niceCeil(top), ticks: func(v float64) string { return fmt.Sprintf("%g", v) },
	}
}

// draw writes the chart with its top at y0: the title, the grid with its
// tick labels, and each bar with its label, its target mark and its text.
func (c svgChart) draw(s *strings.Builder, y0 int) {
	plot := float64(svgWidth - svgLeft - svgRight)
	fmt.Fprintf(s, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", 12, y0+24, xmlEscape(c.title))
	axisY := y0 + svgHead + len(c.bars)*(svgBarH+svgGap)
	for i := 0; i <= 4; i++ {
		x := float64(svgLeft) + plot*float64(i)/4
		fmt.Fprintf(s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e7eb"/>`+"\n", x, y0+svgHead-6, x, axisY)
		fmt.Fprintf(s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#374151">%s</text>`+"\n", x, axisY+18, c.ticks(c.scale*float64(i)/4))
	}
	for i, b := range c.bars {
		y := y0 + svgHead + i*(svgBarH+svgGap)
		wpx := plot * b.value / c.scale
		fmt.Fprintf(s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", svgLeft-8, y+svgBarH/2+5, xmlEscape(b.label))
		fmt.Fprintf(s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", svgLeft, y, wpx, svgBarH, b.color)
		if b.target > 0 {
			x := float64(svgLeft) + plot*b.target/c.scale
			fmt.Fprintf(s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#111827" stroke-width="2"/>`+"\n", x, y-3, x, y+svgBarH+3)
		}
		fmt.Fprintf(s, `<text x="%.1f" y="%d" fill="#111827">%s</text>`+"\n", float64(svgLeft)+wpx+6, y+svgBarH/2+5, xmlEscape(b.text))
	}
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e4)/100)
	case v >= 1e3:
		return fmt.Sprintf("%gk", math.Round(v/10)/100)
	}
	return fmt.Sprintf("%g", v)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPUs      int    // nproc
	Model     string // model name from /proc/cpuinfo
	GoVersion string
	OS, Arch  string
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

// rows are the table's lines: label, result.
func (r *Report) rows() []struct {
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

// Pass reports whether every target is met.
func (r *Report) Pass() bool {
	return r.NullRatio() >= TargetNullRatio && r.ESRatio() >= TargetESRatio && r.PeakRSS() <= TargetMaxRSS
}

// WriteSummary writes the table, the ratios and the verdict as text.
func (r *Report) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "%-48s %12s %8s %12s %10s\n", "configuration", "events/s", "MB/s", "CPU s/M ev", "peak RSS")
	for _, row := range r.rows() {
		fmt.Fprintf(w, "%-48s %12.0f %8.1f %12.2f %6d MiB\n", strings.ReplaceAll(row.label, "`", ""),
			row.res.Rate(), row.res.MBps(), row.res.CPUPerMillion(), row.res.MaxRSS>>20)
	}
	fmt.Fprintf(w, "H = 1/(1/a + 1/r) = %.0f events/s\n", r.H())
	fmt.Fprintf(w, "(b)/(a) = %.2f (target ≥ %.2f: %s)\n", r.NullRatio(), TargetNullRatio, verdict(r.NullRatio() >= TargetNullRatio))
	fmt.Fprintf(w, "(c)/H   = %.2f (target ≥ %.2f: %s)\n", r.ESRatio(), TargetESRatio, verdict(r.ESRatio() >= TargetESRatio))
	fmt.Fprintf(w, "peak RSS of the bridge = %d MiB (target ≤ %d MiB: %s)\n", r.PeakRSS()>>20, TargetMaxRSS>>20, verdict(r.PeakRSS() <= TargetMaxRSS))
	fmt.Fprintf(w, "verdict: %s\n", verdict(r.Pass()))
}

// WriteMarkdown writes the report as Markdown; svg is the chart's file
// name relative to the Markdown file ("" for none).
func (r *Report) WriteMarkdown(w io.Writer, svg string) error {
	o := r.Options
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Throughput of siembridge against two ceilings measured on the same machine, in one run,\n")
	b.WriteString("for the same data. Produced by `siembridge bench` (issue 8); rerun it to refresh this page.\n\n")
	fmt.Fprintf(&b, "```\n%s\n```\n\n", r.Options.Command)
	fmt.Fprintf(&b, "- Machine: %d CPUs (`nproc`), %s, %s/%s\n", r.Machine.CPUs, r.Machine.Model, r.Machine.OS, r.Machine.Arch)
	fmt.Fprintf(&b, "- Go: %s\n", r.Machine.GoVersion)
	fmt.Fprintf(&b, "- Run: %s; %d events of %.0f bytes on average (ECS-shaped, internal/gen) in %d partitions, loaded in %s",
		r.Started.UTC().Format(time.RFC3339), o.Events, r.AvgSize, o.Partitions, r.LoadTime.Round(time.Millisecond))
	if o.Rounds > 1 {
		fmt.Fprintf(&b, "; %d rounds, each row the round with the median rate", o.Rounds)
	}
	b.WriteString("\n\n")
	if svg != "" {
		fmt.Fprintf(&b, "![throughput per configuration](%s)\n\n", svg)
	}
	b.WriteString("| configuration | events/s | MB/s | CPU s per M events | peak RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.2f | %d MiB |\n", row.label, row.res.Rate(), row.res.MBps(), row.res.CPUPerMillion(), row.res.MaxRSS>>20)
	}
	fmt.Fprintf(&b, "| H = 1/(1/a + 1/r) | %.0f | | | |\n\n", r.H())
	b.WriteString("| ratio | value | target | |\n|---|---:|---:|---|\n")
	fmt.Fprintf(&b, "| (b)/(a) | %.2f | ≥ %.2f | %s |\n", r.NullRatio(), TargetNullRatio, verdict(r.NullRatio() >= TargetNullRatio))
	fmt.Fprintf(&b, "| (c)/H | %.2f | ≥ %.2f | %s |\n", r.ESRatio(), TargetESRatio, verdict(r.ESRatio() >= TargetESRatio))
	fmt.Fprintf(&b, "| peak RSS of (b), (c) | %d MiB | ≤ %d MiB | %s |\n\n", r.PeakRSS()>>20, TargetMaxRSS>>20, verdict(r.PeakRSS() <= TargetMaxRSS))
	fmt.Fprintf(&b, "Verdict: **%s**\n\n", verdict(r.Pass()))
	b.WriteString("## What is measured\n\n")
	b.WriteString("- The broker (kfake, a Kafka-protocol broker), the receiver and each measured configuration run in\n")
	b.WriteString("  processes of their own on loopback, so CPU time and peak RSS (`getrusage` for user + system time;\n")
	b.WriteString("  VmHWM for the peak RSS, since a vfork-started child's `ru_maxrss` includes its parent's) belong to one configuration. Rates run from the first event consumed to the last\n")
	b.WriteString("  one delivered (for (a): read), leaving out the last 1000 events per partition in every row (a\n")
	b.WriteString("  partial last batch waits `batch.max_wait` before it is sent); CPU time covers the process start\n")
	b.WriteString("  and the consumer group join as well. Every run still reads all events.\n")
	b.WriteString("- (a) is a sarama consumer group with sarama's own defaults whose handler only counts: the\n")
	b.WriteString("  ceiling of consumption on this machine.\n")
	fmt.Fprintf(&b, "- (r) is `internal/bulkrecv`, which counts action lines and answers a `_bulk` response in\n")
	fmt.Fprintf(&b, "  Elasticsearch's shape, fed prebuilt bodies of %d events over %d keep-alive connections; its CPU and RSS\n", o.BulkEvents, o.Conns)
	b.WriteString("  are the receiver's.\n")
	b.WriteString("- (b) and (c) are the real bridge (`bridge.New` from a configuration with defaults everywhere but\n")
	b.WriteString("  the brokers, the topic, a fresh consumer group and the URL; no rate limit), reading until every\n")
	b.WriteString("  event was delivered. MB/s counts event (document) bytes in every row. The null sink of (b)\n")
	b.WriteString("  gets every event's JSON checked by the bridge; the Elasticsearch sink of (c) leaves that to the\n")
	b.WriteString("  cluster for events that begin with `{\"@timestamp\":` (`event.Skim`; all generated events do) and\n")
	b.WriteString("  asks for a filtered bulk response (`filter_path`). Both processes set the garbage collector up\n")
	b.WriteString("  as `siembridge run` does (`internal/gctune`: a memory limit from the buffers, GOGC 200).\n")
	b.WriteString("- Consuming and receiving share the machine's cores, so (c) is bounded by H = 1/(1/a + 1/r), the\n")
	b.WriteString("  rate if reading Kafka and taking in `_bulk` cost nothing else.\n")
	fmt.Fprintf(&b, "- CPU s per million events of the broker during (a), (b), (c): %.2f, %.2f, %.2f; of the receiver during (c): %.2f.\n",
		r.Consume.BrokerCPU, r.Null.BrokerCPU, r.ES.BrokerCPU, r.ES.ReceiverCPU)
	for _, row := range r.rows() {
		if row.res.Note != "" {
			fmt.Fprintf(&b, "- %s: %s.\n", strings.SplitN(row.label, " ", 2)[0], row.res.Note)
		}
	}
	b.WriteString("- Other work on the machine makes single numbers noisy; compare ratios within one run, and repeat\n")
	b.WriteString("  (`--rounds`).\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSVG writes a horizontal bar chart of events/s per configuration.
func (r *Report) WriteSVG(w io.Writer) error {
	type bar struct {
		label string
		value float64
		color string
	}
	bars := []bar{
		{"(a) sarama consumer, discard", r.Consume.Rate(), "#6b7280"},
		{"(r) _bulk receiver", r.Receiver.Rate(), "#6b7280"},
		{"H = 1/(1/a + 1/r)", r.H(), "#9ca3af"},
		{"(b) siembridge → null", r.Null.Rate(), "#2563eb"},
		{"(c) siembridge → Elasticsearch", r.ES.Rate(), "#2563eb"},
	}
	top := 0.0
	for _, b := range bars {
		top = max(top, b.value)
	}
	scale := niceCeil(top)
	const (
		width, left, right = 760, 230, 110
		barH, gap, head    = 26, 12, 48
	)
	plot := float64(width - left - right)
	height := head + len(bars)*(barH+gap) + 40
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&s, `<text x="%d" y="24" font-size="15" font-weight="bold">siembridge throughput, events/s (%d events, %d partitions, %d CPUs)</text>`+"\n",
		12, r.Options.Events, r.Options.Partitions, r.Machine.CPUs)
	axisY := head + len(bars)*(barH+gap)
	for i := 0; i <= 4; i++ {
		x := float64(left) + plot*float64(i)/4
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e7eb"/>`+"\n", x, head-6, x, axisY)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#374151">%s</text>`+"\n", x, axisY+18, humanRate(scale*float64(i)/4))
	}
	for i, b := range bars {
		y := head + i*(barH+gap)
		wpx := 0.0
		if scale > 0 {
			wpx = plot * b.value / scale
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, xmlEscape(b.label))
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, wpx, barH, b.color)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#111827">%.0f</text>`+"\n", float64(left)+wpx+6, y+barH/2+5, b.value)
	}
	s.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.String())
	return err
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/schollz/progressbar/v3"
	"io"
	"runtime/debug"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/export"
	"github.com/siembridge/siembridge/replay"
)

// exportProgressEvery is the interval of export progress lines on stderr.
const exportProgressEvery = 5 * time.Second

// cmdExport is "siembridge export": it writes a time window of a route's
// topics to files with a manifest, showing progress on stderr and the
// outcome on stdout. It blocks until the export ends or ctx is cancelled.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e, err := newExportRun(args, stdout)
	if err != nil {
		return err
	}
	e.opts.Logger = newLogger(e.cfg.Log, stderr)
	if e.dryRun {
		return e.planOnly(ctx, stdout)
	}
	prog := &exportProgress{w: stderr, route: e.opts.Route}
	e.opts.OnProgress = prog.update
	fmt.Fprintf(stderr, "exporting route %s, window [%s, %s), lateness %s, to %s (%s)%s\n", e.opts.Route, fmtUTC(e.opts.From), fmtUTC(e.opts.To),
		effectiveLateness(e.opts.Lateness), e.opts.Dir, e.opts.Format, filterFlagNote(e.opts.FilterText))
	res, err := export.Run(ctx, e.cfg, e.opts)
	prog.finish()
	return e.report(stdout, res, err)
}

// exportFlags are the export subcommand's flags as given.
type exportFlags struct {
	routeFlags
	windowFlags
	filter, out, format          string
	maxFileSize, rateBytes       string
	rate                         float64
	parallel                     int
	lateness                     time.Duration
	resume, allowPartial, dryRun bool
	set                          map[string]bool // flags given
}

func parseExportFlags(args []string, stdout io.Writer) (*exportFlags, error) {
	fs := newCmdFlags("export", "export --config FILE --route NAME --from TIME --to TIME --out DIR [flags]",
		"Writes the events whose Kafka record time is in [--from, --to) to files in --out, one\n"+
			"series of files per partition in offset order (TOPIC-pNNNN-NNNNNN.ndjson.gz or .parquet,\n"+
			"rotated by size), and manifest.json: the window, filter, lateness, per partition the\n"+
			"offsets read and written, per file its SHA-256, size and event count, the cluster id.\n"+
			"Check it later with 'siembridge verify DIR'. No consumer group is used. The route names\n"+
			"the topics; its sink and its routes[].filter play no part. Times: RFC 3339, \"now\", -2h.", stdout)
	f := &exportFlags{set: map[string]bool{}}
	f.routeFlags.define(fs, "route whose topics to export")
	f.windowFlags.define(fs, "", "", " (required unless --resume)")
	fs.StringVar(&f.filter, "filter", "", "export only the events this expression accepts, in the routes[].filter language (e.g. 'host.name == \"web-01\"')")
	fs.StringVar(&f.out, "out", "", "export directory (required; created if missing)")
	fs.StringVar(&f.format, "format", string(export.NDJSON), "file format: ndjson.gz or parquet (ECS fields as columns, the event as JSON)")
	fs.StringVar(&f.maxFileSize, "max-file-size", "256MiB", "start a new file when one reaches this size")
	fs.Float64Var(&f.rate, "rate", -1, "events of the window read per second (before --filter); 0 = unlimited (default: the route's catch-up rate)")
	fs.StringVar(&f.rateBytes, "rate-bytes", "", "bytes per second of the window's events read (before --filter), with a unit (10MiB); 0 = unlimited (default: the route's catch-up bytes rate)")
	fs.IntVar(&f.parallel, "parallel", 4, "partitions read at once")
	defineLateness(fs, &f.lateness)
	fs.BoolVar(&f.resume, "resume", false, "continue the interrupted export in --out (the window, filter and format are taken from it)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print per partition the offsets, estimated events and bytes, retention gaps and the estimated duration; write nothing")
	fs.BoolVar(&f.allowPartial, "allow-partial", false, "export what Kafka still holds when retention deleted part of the window (recorded in the manifest)")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// exportRun is one export as the flags and the configuration decide it.
type exportRun struct {
	configPath string
	cfg        *config.Config
	opts       export.Options
	dryRun     bool // --dry-run: plan, write nothing
}

// newExportRun parses and checks the flags and loads the configuration;
// with --resume, what the flags do not give is taken from the interrupted
// export's state. It reads files but does not contact Kafka.
func newExportRun(args []string, stdout io.Writer) (*exportRun, error) {
	f, err := parseExportFlags(args, stdout)
	if err != nil {
		return nil, err
	}
	if f.out == "" {
		return nil, missingFlag("out", "")
	}
	if f.resume {
		if err := f.adoptState(); err != nil {
			return nil, err
		}
	}
	cfg, rc, err := f.load()
	if err != nil {
		return nil, err
	}
	e := &exportRun{configPath: f.config, cfg: cfg, opts: export.Options{Route: rc.Name, Dir: f.out, Rate: f.rate, RateBytes: -1,
		Parallel: f.parallel, Resume: f.resume, AllowPartial: f.allowPartial, FilterText: f.filter, ToolVersion: toolVersion()},
		dryRun: f.dryRun}
	if e.opts.Format, err = export.ParseFormat(f.format); err != nil {
		return nil, flagErrorf("format", "%v", err)
	}
	size, err := config.ParseByteSize(f.maxFileSize)
	if err != nil {
		return nil, flagErrorf("max-file-size", "%v", err)
	}
	e.opts.MaxFileSize = int64(size)
	if f.rateBytes != "" {
		rb, err := config.ParseByteSize(f.rateBytes)
		if err != nil {
			return nil, flagErrorf("rate-bytes", "%v", err)
		}
		e.opts.RateBytes = float64(rb)
	}
	if e.opts.Lateness, err = latenessOption(f.lateness); err != nil {
		return nil, err
	}
	if f.parallel < 1 {
		return nil, flagErrorf("parallel", "%d must be at least 1", f.parallel)
	}
	if e.opts.Filter, err = filterOption(f.filter); err != nil {
		return nil, err
	}
	switch {
	case f.from == "":
		return nil, missingFlag("from", "unless --resume")
	case f.to == "":
		return nil, missingFlag("to", "unless --resume")
	}
	if e.opts.From, e.opts.To, err = f.windowFlags.parse(time.Now()); err != nil {
		return nil, err
	}
	return e, nil
}

// planOnly is "export --dry-run": the plan of the export (export.Plan),
// printed as replay --dry-run prints its own; nothing is written. It
// returns the error a real run would stop at before writing.
func (e *exportRun) planOnly(ctx context.Context, stdout io.Writer) error {
	p, err := export.Plan(ctx, e.cfg, e.opts)
	var oe *replay.OptionError
	if errors.As(err, &oe) {
		return flagErrorf(oe.Option, "%v", oe.Err)
	}
	if p == nil {
		return err
	}
	fmt.Fprintf(stdout, "dry run: export of route %s, window [%s, %s), lateness %s%s; nothing written\n",
		e.opts.Route, fmtUTC(p.From), fmtUTC(p.To), p.Lateness, filterFlagNote(e.opts.FilterText))
	printPlan(stdout, p)
	var re *replay.RetentionError
	switch {
	case errors.As(err, &re):
		fmt.Fprintln(stdout, "an export would NOT start: retention deleted part of the window; --allow-partial exports what Kafka still holds")
	case err == nil && len(p.Gaps) > 0:
		fmt.Fprintln(stdout, "PARTIAL (--allow-partial): an export would write what Kafka still holds")
	}
	return err
}

// adoptState fills the flags not given from the state of the interrupted
// export in --out: relative times given again would name another window.
func (f *exportFlags) adoptState() error {
	st, err := export.LoadState(f.out)
	if err != nil {
		return flagErrorf("resume", "%v", err)
	}
	take := func(name string, dst *string, v string) {
		if !f.set[name] {
			*dst = v
		}
	}
	take("route", &f.route, st.Route)
	take("from", &f.from, st.From.Format(time.RFC3339Nano))
	take("to", &f.to, st.To.Format(time.RFC3339Nano))
	take("filter", &f.filter, st.Filter)
	take("format", &f.format, string(st.Format))
	take("max-file-size", &f.maxFileSize, fmt.Sprint(st.MaxFileSize))
	if !f.set["lateness"] {
		if d, err := time.ParseDuration(st.Lateness); err == nil {
			f.lateness = d
		}
	}
	return nil
}

// report prints the outcome of export.Run on stdout and returns the
// command's error.
func (e *exportRun) report(stdout io.Writer, res export.Result, err error) error {
	var oe *replay.OptionError
	if errors.As(err, &oe) {
		return flagErrorf(oe.Option, "%v", oe.Err)
	}
	var re *replay.RetentionError
	if errors.As(err, &re) {
		fmt.Fprintf(stdout, "export of route %s [%s, %s) NOT started: retention deleted part of it\n", e.opts.Route, fmtUTC(e.opts.From), fmtUTC(e.opts.To))
		for _, g := range re.Gaps {
			fmt.Fprintf(stdout, "  %s\n", g)
		}
		fmt.Fprintln(stdout, "run again with --allow-partial to export what Kafka still holds")
		return err
	}
	if res.Manifest != nil {
		for _, g := range res.Manifest.Gaps {
			fmt.Fprintf(stdout, "PARTIAL (--allow-partial): %s\n", g)
		}
	}
	if res.Complete {
		m := res.Manifest
		rate := ""
		if s := res.Elapsed.Seconds(); s > 0 {
			rate = fmt.Sprintf(" (%.0f events/s, %.1f MB/s written)", float64(res.Delivered)/s, float64(res.Bytes)/s/1e6)
		}
		fmt.Fprintf(stdout, "export of route %s [%s, %s) complete: %d events in %d files (%d bytes) in %s, %d records outside the window skipped, %d filtered out, in %s%s\n",
			e.opts.Route, fmtUTC(e.opts.From), fmtUTC(e.opts.To), m.Events, len(m.Files), m.Bytes, e.opts.Dir, m.Skipped, m.Filtered, res.Elapsed.Round(time.Millisecond), rate)
		fmt.Fprintf(stdout, "manifest %s/%s; check with: siembridge verify %s [--config %s]\n", e.opts.Dir, export.ManifestName, e.opts.Dir, e.configPath)
		return err
	}
	if err == nil {
		err = errors.New("export incomplete")
	}
	fmt.Fprintf(stdout, "export of route %s [%s, %s) NOT complete: %d of at most %d offsets done, %d files complete\n",
		e.opts.Route, fmtUTC(e.opts.From), fmtUTC(e.opts.To), res.Done, res.Total, res.Files)
	fmt.Fprintf(stdout, "continue with:\n  siembridge export --config %s --out %s --resume\n", e.configPath, e.opts.Dir)
	return err
}

// toolVersion is the version line the binary prints.
func toolVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionLine(bi)
}

func filterFlagNote(expr string) string {
	if expr == "" {
		return ""
	}
	return ", filter " + expr
}

// exportProgress shows an export's progress on stderr: a progress bar on
// a terminal, a line every exportProgressEvery otherwise.
type exportProgress struct {
	w        io.Writer
	route    string
	bar      *progressbar.ProgressBar
	lastLine time.Time
	lastDone int64
	lastAt   time.Time
}

// update is export.Options.OnProgress; it is called from one goroutine.
func (p *exportProgress) update(pr export.Progress) {
	now := time.Now()
	if isTerminal(p.w) {
		if p.bar == nil {
			p.bar = newOffsetBar(p.w, "export "+p.route, pr.Total)
		}
		p.bar.Describe(fmt.Sprintf("export %s: %d written, %d files, %d filtered out", p.route, pr.Delivered, pr.Files, pr.Filtered))
		_ = p.bar.Set64(pr.Done)
		return
	}
	if p.lastAt.IsZero() {
		p.lastAt, p.lastLine = now, now
		fmt.Fprintf(p.w, "export %s: %d offsets to read in %d partitions (an upper bound)\n", p.route, pr.Total, pr.Partitions)
		return
	}
	if now.Sub(p.lastLine) < exportProgressEvery {
		return
	}
	p.lastLine = now
	fmt.Fprintln(p.w, exportProgressLine(p.route, pr, float64(pr.Done-p.lastDone)/now.Sub(p.lastAt).Seconds()))
	p.lastDone, p.lastAt = pr.Done, now
}

// finish ends the progress bar, if one was drawn.
func (p *exportProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

// exportProgressLine is replay's progress line with the files written.
func exportProgressLine(route string, pr export.Progress, rate float64) string {
	pct, eta := pctETA(pr.Done, pr.Total, rate)
	return fmt.Sprintf("export %s: %d/%d offsets (%.1f%%), %d events written, %d files complete (%.1f MB), %d skipped, %d filtered out, %d partitions of %d done, %.0f offsets/s, ETA %s (at most)",
		route, pr.Done, pr.Total, pct, pr.Delivered, pr.Files, float64(pr.Bytes)/1e6, pr.Skipped, pr.Filtered, pr.PartitionsDone, pr.Partitions, rate, eta)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/replay"
)

// plainProgressEvery is the interval of progress lines when stderr is not
// a terminal.
const plainProgressEvery = 5 * time.Second

// cmdReplay is "siembridge replay": it delivers a time window of a route's
// topics again, showing progress on stderr and the outcome on stdout. It
// blocks until the replay ends or ctx is cancelled.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, err := newReplayRun(args, stdout)
	if err != nil {
		return err
	}
	if r.dryRun {
		return r.planOnly(ctx, stdout, stderr)
	}
	prog := r.attachProgress(stderr)
	res, err := replay.Run(ctx, r.cfg, r.opts)
	prog.finish()
	return r.report(stdout, res, err)
}

// replayFlags are the replay subcommand's flags as given.
type replayFlags struct {
	routeFlags
	windowFlags
	rate                  float64
	index                 string
	resume                bool
	checkpoint            string
	filter                string // --filter: an expression in the route filter language
	parallel              int
	lateness              time.Duration
	allowPartial          bool
	rateBytes             string
	dryRun                bool
	indexSet, latenessSet bool // --index or --lateness given, even empty or 0
}

// parseReplayFlags parses the replay subcommand's arguments; on -h it
// prints the usage to stdout and returns flag.ErrHelp.
func parseReplayFlags(args []string, stdout io.Writer) (*replayFlags, error) {
	fs := newCmdFlags("replay", "replay --config FILE --route NAME --from TIME --to TIME [flags]",
		"Delivers again the events whose Kafka record time is in [--from, --to) into the route's\n"+
			"sink, without a consumer group: the live bridge's offsets are untouched. Times: RFC 3339\n"+
			"(2024-05-01T13:00:00Z), \"now\", or ago: -2h, -30m, -1d, -1h30m.", stdout)
	f := &replayFlags{}
	f.routeFlags.define(fs, "route to replay")
	f.windowFlags.define(fs, "", "", " (required unless --resume)")
	fs.Float64Var(&f.rate, "rate", -1, "events per second; 0 = unlimited (default: the route's catch-up rate)")
	fs.StringVar(&f.rateBytes, "rate-bytes", "", "bytes per second of documents, with a unit (10MiB, 500KB); 0 = unlimited (default: the route's catch-up bytes rate, none with --rate 0)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print per partition the offsets, estimated events and bytes, retention gaps and the estimated duration; deliver nothing")
	fs.StringVar(&f.index, "index", "", "deliver into this index instead (elasticsearch: an index template like the config's; splunk_hec: an index name)")
	fs.StringVar(&f.filter, "filter", "", "deliver only the events this expression accepts, in the routes[].filter language (e.g. 'host.name == \"web-01\"'), on top of the route's own filter")
	fs.BoolVar(&f.resume, "resume", false, "continue an interrupted replay from its checkpoint")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint file (default .siembridge-replay-<route>-<from>-<to>.json in the working directory)")
	fs.IntVar(&f.parallel, "parallel", 0, "partitions replayed at once (default: the route's workers)")
	defineLateness(fs, &f.lateness)
	fs.BoolVar(&f.allowPartial, "allow-partial", false, "replay what Kafka still holds when retention deleted part of the window (otherwise: exit 1 naming what is gone)")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) {
		f.indexSet = f.indexSet || fl.Name == "index"
		f.latenessSet = f.latenessSet || fl.Name == "lateness"
	})
	return f, nil
}

// replayRun is one replay as the flags and the configuration decide it:
// the route, the window and the replay.Options to run it with.
type replayRun struct {
	configPath string // --config, repeated in the command that resumes
	cfg        *config.Config
	route      string
	opts       replay.Options
	dryRun     bool // --dry-run: plan, deliver nothing
}

// newReplayRun parses and checks the flags, loads the configuration and
// settles the window: from --from and --to, or from the checkpoint when
// resuming. It reads files but does not contact Kafka.
func newReplayRun(args []string, stdout io.Writer) (*replayRun, error) {
	f, err := parseReplayFlags(args, stdout)
	if err != nil {
		return nil, err
	}
	cfg, rc, err := f.load()
	if err != nil {
		return nil, err
	}
	lateness, err := latenessOption(f.lateness)
	if err != nil {
		return nil, err
	}
	rateBytes, err := parseRateBytes(f.rateBytes)
	if err != nil {
		return nil, flagErrorf("rate-bytes", "%v", err)
	}
	r := &replayRun{configPath: f.config, cfg: cfg, route: rc.Name,
		opts: replay.Options{Route: rc.Name, Rate: f.rate, Index: f.index, Checkpoint: f.checkpoint, Resume: f.resume,
			Parallel: f.parallel, Lateness: lateness, AllowPartial: f.allowPartial, RateBytes: rateBytes},
		dryRun: f.dryRun}
	if r.opts.Filter, err = filterOption(f.filter); err != nil {
		return nil, err
	}
	now := time.Now()
	switch {
	case f.resume && f.from == "" && f.to == "":
		err = r.resumeWindow(f)
	case f.from == "":
		err = missingFlag("from", "unless --resume")
	case f.to == "":
		err = missingFlag("to", "unless --resume")
	default:
		err = r.newWindow(f, now)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// resumeWindow takes the window of a --resume without --from and --to
// from the checkpoint (relative times given again would name another
// window): --checkpoint, or the only replay checkpoint of the route in the
// working directory.
func (r *replayRun) resumeWindow(f *replayFlags) error {
	if r.opts.Checkpoint == "" {
		found, err := checkpoint.FindReplayFiles(".", r.route)
		if err != nil {
			return err
		}
		switch len(found) {
		case 0:
			return flagErrorf("resume", "no replay checkpoint of route %s in the working directory (give --checkpoint FILE)", r.route)
		case 1:
			r.opts.Checkpoint = found[0]
		default:
			return flagErrorf("resume", "%d replay checkpoints of route %s in the working directory, choose one with --checkpoint: %s", len(found), r.route, strings.Join(found, ", "))
		}
	}
	st, err := checkpoint.LoadReplay(r.opts.Checkpoint)
	if err != nil {
		return flagErrorf("resume", "%v", err)
	}
	r.opts.From, r.opts.To = st.From, st.To
	r.adopt(st, f)
	return nil
}

// newWindow sets the window from --from and --to (read at now) and names
// its checkpoint. With --resume the checkpoint must exist; without, it must
// not: an unfinished replay of the same window is continued or deleted,
// never overwritten.
func (r *replayRun) newWindow(f *replayFlags, now time.Time) error {
	var err error
	if r.opts.From, r.opts.To, err = f.windowFlags.parse(now); err != nil {
		return err
	}
	if r.opts.Checkpoint == "" {
		r.opts.Checkpoint = checkpoint.ReplayFileName(r.route, r.opts.From, r.opts.To)
	}
	if !f.resume {
		if _, err := os.Stat(r.opts.Checkpoint); err == nil {
			return usagef("checkpoint %s exists: an earlier replay of this window did not finish; continue it with --resume, or delete the file to start over", r.opts.Checkpoint)
		}
		return nil
	}
	st, err := checkpoint.LoadReplay(r.opts.Checkpoint)
	if errors.Is(err, os.ErrNotExist) {
		return flagErrorf("resume", "no checkpoint %s (relative times such as -2h name a new window on every run: resume with --resume alone or with --checkpoint FILE)", r.opts.Checkpoint)
	}
	if err != nil {
		return flagErrorf("resume", "%v", err)
	}
	r.adopt(st, f)
	return nil
}

// adopt takes the index and the lateness of a resumed replay from its
// checkpoint, unless the flags set them.
func (r *replayRun) adopt(st *checkpoint.ReplayState, f *replayFlags) {
	if !f.indexSet {
		r.opts.Index = st.Index
	}
	if !f.latenessSet {
		r.opts.Lateness = replayLateness(st.Lateness)
	}
}

// attachProgress sets the replay's logger and progress callback, both
// writing to stderr, and prints the line that starts the replay. On a
// terminal the log is kept to warnings and errors: info lines would tear
// the progress bar, and the bar and the summary say the same.
func (r *replayRun) attachProgress(stderr io.Writer) *replayProgress {
	prog := newReplayProgress(stderr, r.route)
	logCfg := r.cfg.Log
	if prog.tty && (logCfg.Level == "info" || logCfg.Level == "debug") {
		logCfg.Level = "warn"
	}
	r.opts.Logger = newLogger(logCfg, stderr)
	r.opts.OnProgress = prog.update
	fmt.Fprintf(stderr, "replaying route %s, window [%s, %s), lateness %s%s\n", r.route, fmtUTC(r.opts.From), fmtUTC(r.opts.To), effectiveLateness(r.opts.Lateness), indexNote(r.opts.Index))
	return prog
}

// report prints the outcome of replay.Run (res, err) on stdout and returns
// the command's error: a usage error for a bad option, err for a replay
// that retention cut short or that failed, "replay incomplete" for one
// that stopped early without an error.
func (r *replayRun) report(stdout io.Writer, res replay.Result, err error) error {
	var oe *replay.OptionError
	if errors.As(err, &oe) {
		return flagErrorf(oe.Option, "%v", oe.Err)
	}
	var re *replay.RetentionError
	if errors.As(err, &re) {
		fmt.Fprintf(stdout, "replay of route %s [%s, %s) NOT started: retention deleted part of it\n", r.route, fmtUTC(r.opts.From), fmtUTC(r.opts.To))
		for _, g := range re.Gaps {
			fmt.Fprintf(stdout, "  %s\n", g)
		}
		fmt.Fprintln(stdout, "run again with --allow-partial to replay what Kafka still holds")
		return err
	}
	for _, g := range res.Gaps {
		fmt.Fprintf(stdout, "PARTIAL (--allow-partial): %s\n", g)
	}
	if res.Complete {
		r.printComplete(stdout, res)
		return err
	}
	if err == nil {
		err = errors.New("replay incomplete")
	}
	r.printIncomplete(stdout, res)
	return err
}

// printComplete prints the summary of a replay that covered its window.
func (r *replayRun) printComplete(stdout io.Writer, res replay.Result) {
	rateStr := ""
	if s := res.Elapsed.Seconds(); s > 0 {
		rateStr = fmt.Sprintf(" (%.0f events/s)", float64(res.Delivered+res.DeadLettered)/s)
	}
	fmt.Fprintf(stdout, "replay of route %s [%s, %s) complete: %s%d events delivered, %d dead-lettered, %d records read outside the window skipped (lateness %s), in %s%s\n",
		r.route, fmtUTC(r.opts.From), fmtUTC(r.opts.To), filterNote(res.Progress, r.opts.Filter != nil), res.Delivered, res.DeadLettered, res.Skipped, res.Lateness, res.Elapsed.Round(time.Millisecond), rateStr)
	if res.Checkpoint == "" && r.opts.Checkpoint != "" {
		fmt.Fprintf(stdout, "checkpoint %s deleted\n", r.opts.Checkpoint)
	}
}

// printIncomplete prints how far a replay that stopped early got and, when
// its progress was saved, the command that continues it.
func (r *replayRun) printIncomplete(stdout io.Writer, res replay.Result) {
	fmt.Fprintf(stdout, "replay of route %s [%s, %s) NOT complete: %d of at most %d offsets done; %s%d events delivered, %d dead-lettered in this run; %d records outside the window skipped\n",
		r.route, fmtUTC(r.opts.From), fmtUTC(r.opts.To), res.Done, res.Total, filterNote(res.Progress, r.opts.Filter != nil), res.Delivered, res.DeadLettered, res.Skipped)
	if res.Checkpoint != "" {
		fmt.Fprintf(stdout, "progress saved in %s; continue with:\n  siembridge replay --config %s --route %s --resume --checkpoint %s\n",
			res.Checkpoint, r.configPath, r.route, res.Checkpoint)
	}
}

// replayLateness maps the --lateness flag (0 = none) to
// replay.Options.Lateness (0 = the default, negative = none).
func replayLateness(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// parseRateBytes maps the --rate-bytes flag (a size with a unit, 0 =
// unlimited, empty = the default) to replay.Options.RateBytes (0 = the
// default, negative = unlimited).
func parseRateBytes(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := config.ParseByteSize(s)
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return -1, nil
	}
	return float64(n), nil
}

// effectiveLateness is the lateness a replay.Options.Lateness means.
func effectiveLateness(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return replay.DefaultLateness
	case d < 0:
		return 0
	}
	return d
}

// filterNote counts, when a filter is on (--filter) or the route's filter
// left events out, the events of the window read, those matched
// (delivered or dead-lettered) and those filtered out: "1000 events read,
// 40 matched, 960 filtered out; ". Otherwise it is empty.
//
// With the route's sampling (routes[].sample) leaving events out, they are
// counted too: "1000 events read, 40 matched, 900 filtered out, 60
// sampled out; ".
func filterNote(pr replay.Progress, on bool) string {
	if !on && pr.Filtered == 0 && pr.SampledOut == 0 {
		return ""
	}
	matched := pr.Delivered + pr.DeadLettered
	if pr.SampledOut > 0 {
		return fmt.Sprintf("%d events read, %d matched, %d filtered out, %d sampled out; ", matched+pr.Filtered+pr.SampledOut, matched, pr.Filtered, pr.SampledOut)
	}
	return fmt.Sprintf("%d events read, %d matched, %d filtered out; ", matched+pr.Filtered, matched, pr.Filtered)
}

func indexNote(index string) string {
	if index == "" {
		return ""
	}
	return " into index " + index
}

// pickRoute returns the route named name, or the only route when name is
// empty.
func pickRoute(cfg *config.Config, name string) (config.Route, error) {
	names := make([]string, len(cfg.Routes))
	for i, r := range cfg.Routes {
		if r.Name == name {
			return r, nil
		}
		names[i] = r.Name
	}
	if name == "" {
		if len(cfg.Routes) == 1 {
			return cfg.Routes[0], nil
		}
		return config.Route{}, missingFlag("route", "with several routes: "+strings.Join(names, ", "))
	}
	return config.Route{}, flagErrorf("route", "no route named %q (routes: %s)", name, strings.Join(names, ", "))
}

func fmtUTC(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// replayProgress shows a replay's progress on stderr: a progress bar on a
// terminal, a line every plainProgressEvery otherwise.
type replayProgress struct {
	w     io.Writer
	route string
	tty   bool
	bar   *progressbar.ProgressBar

	lastLine time.Time
	lastDone int64
	lastAt   time.Time
}

func newReplayProgress(w io.Writer, route string) *replayProgress {
	return &replayProgress{w: w, route: route, tty: isTerminal(w)}
}

// isTerminal reports whether w is a terminal (progress bars) rather than a
// file or pipe (plain lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newOffsetBar is the progress bar of a job reading total offsets: count,
// offsets/s and the time left, redrawn at most five times a second.
func newOffsetBar(w io.Writer, desc string, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("offsets"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetWidth(30),
	)
}

// update is replay.Options.OnProgress; it is called from one
// goroutine.
func (p *replayProgress) update(pr replay.Progress) {
	now := time.Now()
	if p.tty {
		if p.bar == nil {
			fmt.Fprintf(p.w, "%d offsets to read in %d partitions (an upper bound: a partition stops early at a record stamped at or after --to + --lateness)\n", pr.Total, pr.Partitions)
			p.bar = newOffsetBar(p.w, "replay "+p.route, pr.Total)
		}
		p.bar.Describe(fmt.Sprintf("replay %s: %d delivered, %d skipped", p.route, pr.Delivered, pr.Skipped))
		_ = p.bar.Set64(pr.Done)
		return
	}
	if p.lastAt.IsZero() {
		p.lastAt, p.lastLine = now, now
		fmt.Fprintf(p.w, "replay %s: %d offsets to read in %d partitions (an upper bound)\n", p.route, pr.Total, pr.Partitions)
		return
	}
	if now.Sub(p.lastLine) < plainProgressEvery {
		return
	}
	p.lastLine = now
	fmt.Fprintln(p.w, progressLine(p.route, pr, float64(pr.Done-p.lastDone)/now.Sub(p.lastAt).Seconds()))
	p.lastDone, p.lastAt = pr.Done, now
}

// progressLine is the plain progress report: offsets done of the total,
// events delivered, records skipped (read, stamped outside the window), the
// recent rate in offsets/s and the ETA at that rate.
func progressLine(route string, pr replay.Progress, rate float64) string {
	pct, eta := pctETA(pr.Done, pr.Total, rate)
	return fmt.Sprintf("replay %s: %d/%d offsets (%.1f%%), %d delivered, %d dead-lettered, %d skipped, %d partitions of %d done, %.0f offsets/s, ETA %s (at most)",
		route, pr.Done, pr.Total, pct, pr.Delivered, pr.DeadLettered, pr.Skipped, pr.PartitionsDone, pr.Partitions, rate, eta)
}

// pctETA is the share of offsets done and the time left at rate
// offsets/s ("unknown" at no rate).
func pctETA(done, total int64, rate float64) (float64, string) {
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	eta := "unknown"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return pct, eta
}

func (p *replayProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

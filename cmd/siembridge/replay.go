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

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
)

// plainProgressEvery is the interval of progress lines when stderr is not
// a terminal.
const plainProgressEvery = 5 * time.Second

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("replay", "replay --config FILE --route NAME --from TIME --to TIME [flags]",
		"Delivers again the events whose Kafka record time is in [--from, --to) into the route's\n"+
			"sink, without a consumer group: the live bridge's offsets are untouched. Times: RFC 3339\n"+
			"(2024-05-01T13:00:00Z), \"now\", or ago: -2h, -30m, -1d, -1h30m.", stdout)
	path := fs.String("config", "siembridge.yaml", "configuration file")
	routeName := fs.String("route", "", "route to replay (default: the only route)")
	fromFlag := fs.String("from", "", "start of the window, inclusive (required unless --resume)")
	toFlag := fs.String("to", "", "end of the window, exclusive (required unless --resume)")
	rate := fs.Float64("rate", -1, "events per second; 0 = unlimited (default: the route's catch-up rate)")
	index := fs.String("index", "", "deliver into this index instead (elasticsearch: an index template like the config's; splunk_hec: an index name)")
	resume := fs.Bool("resume", false, "continue an interrupted replay from its checkpoint")
	cpPath := fs.String("checkpoint", "", "checkpoint file (default .siembridge-replay-<route>-<from>-<to>.json in the working directory)")
	parallel := fs.Int("parallel", 0, "partitions replayed at once (default: the route's workers)")
	lateness := fs.Duration("lateness", bridge.DefaultReplayLateness, "how far record times may be out of order in a partition: read from --from minus this until a record stamped at or after --to plus this; 0 = none")
	allowPartial := fs.Bool("allow-partial", false, "replay what Kafka still holds when retention deleted part of the window (otherwise: exit 1 naming what is gone)")
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	rc, err := pickRoute(cfg, *routeName)
	if err != nil {
		return err
	}
	if *lateness < 0 {
		return flagErrorf("lateness", "%s must not be negative", *lateness)
	}
	indexSet, latenessSet := false, false
	fs.Visit(func(f *flag.Flag) {
		indexSet = indexSet || f.Name == "index"
		latenessSet = latenessSet || f.Name == "lateness"
	})

	opts := bridge.ReplayOptions{Route: rc.Name, Rate: *rate, Index: *index, Checkpoint: *cpPath, Resume: *resume,
		Parallel: *parallel, Lateness: replayLateness(*lateness), AllowPartial: *allowPartial}
	now := time.Now()
	switch {
	case *resume && *fromFlag == "" && *toFlag == "":
		// The window comes from the checkpoint: relative times given
		// again would name another window.
		if opts.Checkpoint == "" {
			found, err := checkpoint.FindReplayFiles(".", rc.Name)
			if err != nil {
				return err
			}
			switch len(found) {
			case 0:
				return flagErrorf("resume", "no replay checkpoint of route %s in the working directory (give --checkpoint FILE)", rc.Name)
			case 1:
				opts.Checkpoint = found[0]
			default:
				return flagErrorf("resume", "%d replay checkpoints of route %s in the working directory, choose one with --checkpoint: %s", len(found), rc.Name, strings.Join(found, ", "))
			}
		}
		st, err := checkpoint.LoadReplay(opts.Checkpoint)
		if err != nil {
			return flagErrorf("resume", "%v", err)
		}
		opts.From, opts.To = st.From, st.To
		if !indexSet {
			opts.Index = st.Index
		}
		if !latenessSet {
			opts.Lateness = replayLateness(st.Lateness)
		}
	case *fromFlag == "":
		return missingFlag("from", "unless --resume")
	case *toFlag == "":
		return missingFlag("to", "unless --resume")
	default:
		if opts.From, err = parseTime(*fromFlag, now); err != nil {
			return flagErrorf("from", "%v", err)
		}
		if opts.To, err = parseTime(*toFlag, now); err != nil {
			return flagErrorf("to", "%v", err)
		}
		if !opts.From.Before(opts.To) {
			return flagErrorf("to", "%s is not after --from %s", fmtUTC(opts.To), fmtUTC(opts.From))
		}
		if opts.Checkpoint == "" {
			opts.Checkpoint = checkpoint.ReplayFileName(rc.Name, opts.From, opts.To)
		}
		if *resume {
			st, err := checkpoint.LoadReplay(opts.Checkpoint)
			if errors.Is(err, os.ErrNotExist) {
				return flagErrorf("resume", "no checkpoint %s (relative times such as -2h name a new window on every run: resume with --resume alone or with --checkpoint FILE)", opts.Checkpoint)
			}
			if err != nil {
				return flagErrorf("resume", "%v", err)
			}
			if !indexSet {
				opts.Index = st.Index
			}
			if !latenessSet {
				opts.Lateness = replayLateness(st.Lateness)
			}
		} else if _, err := os.Stat(opts.Checkpoint); err == nil {
			return usagef("checkpoint %s exists: an earlier replay of this window did not finish; continue it with --resume, or delete the file to start over", opts.Checkpoint)
		}
	}

	prog := newReplayProgress(stderr, rc.Name)
	logCfg := cfg.Log
	if prog.tty && (logCfg.Level == "info" || logCfg.Level == "debug") {
		// Info lines would tear the bar; the bar and the summary say it.
		logCfg.Level = "warn"
	}
	log := newLogger(logCfg, stderr)
	opts.Logger = log
	opts.OnProgress = prog.update
	fmt.Fprintf(stderr, "replaying route %s, window [%s, %s), lateness %s%s\n", rc.Name, fmtUTC(opts.From), fmtUTC(opts.To), effectiveLateness(opts.Lateness), indexNote(opts.Index))

	res, err := bridge.Replay(ctx, cfg, opts)
	prog.finish()
	var oe *bridge.ReplayOptionError
	if errors.As(err, &oe) {
		return flagErrorf(oe.Option, "%v", oe.Err)
	}
	var re *bridge.RetentionError
	if errors.As(err, &re) {
		fmt.Fprintf(stdout, "replay of route %s [%s, %s) NOT started: retention deleted part of it\n", rc.Name, fmtUTC(opts.From), fmtUTC(opts.To))
		for _, g := range re.Gaps {
			fmt.Fprintf(stdout, "  %s\n", g)
		}
		fmt.Fprintln(stdout, "run again with --allow-partial to replay what Kafka still holds")
		return err
	}
	rateStr := ""
	if s := res.Elapsed.Seconds(); s > 0 {
		rateStr = fmt.Sprintf(" (%.0f events/s)", float64(res.Delivered+res.DeadLettered)/s)
	}
	for _, g := range res.Gaps {
		fmt.Fprintf(stdout, "PARTIAL (--allow-partial): %s\n", g)
	}
	if res.Complete {
		fmt.Fprintf(stdout, "replay of route %s [%s, %s) complete: %d events delivered, %d dead-lettered, %d records read outside the window skipped (lateness %s), in %s%s\n",
			rc.Name, fmtUTC(opts.From), fmtUTC(opts.To), res.Delivered, res.DeadLettered, res.Skipped, res.Lateness, res.Elapsed.Round(time.Millisecond), rateStr)
		if res.Checkpoint == "" && opts.Checkpoint != "" {
			fmt.Fprintf(stdout, "checkpoint %s deleted\n", opts.Checkpoint)
		}
		return err
	}
	if err == nil {
		err = errors.New("replay incomplete")
	}
	fmt.Fprintf(stdout, "replay of route %s [%s, %s) NOT complete: %d of at most %d offsets done; %d events delivered, %d dead-lettered in this run; %d records outside the window skipped\n",
		rc.Name, fmtUTC(opts.From), fmtUTC(opts.To), res.Done, res.Total, res.Delivered, res.DeadLettered, res.Skipped)
	if res.Checkpoint != "" {
		fmt.Fprintf(stdout, "progress saved in %s; continue with:\n  siembridge replay --config %s --route %s --resume --checkpoint %s\n",
			res.Checkpoint, *path, rc.Name, res.Checkpoint)
	}
	return err
}

// replayLateness maps the --lateness flag (0 = none) to
// bridge.ReplayOptions.Lateness (0 = the default, negative = none).
func replayLateness(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// effectiveLateness is the lateness a bridge.ReplayOptions.Lateness means.
func effectiveLateness(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return bridge.DefaultReplayLateness
	case d < 0:
		return 0
	}
	return d
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
	p := &replayProgress{w: w, route: route}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// update is bridge.ReplayOptions.OnProgress; it is called from one
// goroutine.
func (p *replayProgress) update(pr bridge.ReplayProgress) {
	now := time.Now()
	if p.tty {
		if p.bar == nil {
			fmt.Fprintf(p.w, "%d offsets to read in %d partitions (an upper bound: a partition stops early at a record stamped at or after --to + --lateness)\n", pr.Total, pr.Partitions)
			p.bar = progressbar.NewOptions64(max(pr.Total, 1),
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription("replay "+p.route),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("offsets"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionSetRenderBlankState(true),
				progressbar.OptionSetWidth(30),
			)
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
func progressLine(route string, pr bridge.ReplayProgress, rate float64) string {
	pct := 100.0
	if pr.Total > 0 {
		pct = 100 * float64(pr.Done) / float64(pr.Total)
	}
	eta := "unknown"
	if rate > 0 {
		eta = time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("replay %s: %d/%d offsets (%.1f%%), %d delivered, %d dead-lettered, %d skipped, %d partitions of %d done, %.0f offsets/s, ETA %s (at most)",
		route, pr.Done, pr.Total, pct, pr.Delivered, pr.DeadLettered, pr.Skipped, pr.PartitionsDone, pr.Partitions, rate, eta)
}

func (p *replayProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

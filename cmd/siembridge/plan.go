package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/siembridge/siembridge/replay"
)

// planOnly is "replay --dry-run": it prints the plan of the replay r
// describes (replay.Plan) and delivers nothing. It returns the error a
// real run would stop at before delivering: a usage error for a bad
// option, the *replay.RetentionError when retention cut the window and
// --allow-partial is not given (exit 1).
func (r *replayRun) planOnly(ctx context.Context, stdout, stderr io.Writer) error {
	r.opts.Logger = newLogger(r.cfg.Log, stderr)
	p, err := replay.Plan(ctx, r.cfg, r.opts)
	var oe *replay.OptionError
	if errors.As(err, &oe) {
		return flagErrorf(oe.Option, "%v", oe.Err)
	}
	if p == nil {
		return err
	}
	fmt.Fprintf(stdout, "dry run: replay of route %s, window [%s, %s), lateness %s%s; nothing delivered\n",
		r.route, fmtUTC(p.From), fmtUTC(p.To), p.Lateness, indexNote(r.opts.Index))
	printPlan(stdout, p)
	var re *replay.RetentionError
	switch {
	case errors.As(err, &re):
		fmt.Fprintln(stdout, "a replay would NOT start: retention deleted part of the window; --allow-partial replays what Kafka still holds")
	case err == nil && len(p.Gaps) > 0:
		fmt.Fprintln(stdout, "PARTIAL (--allow-partial): a replay would deliver what Kafka still holds")
	}
	return err
}

// printPlan writes p as a table, one row a partition (PARTITION, FROM
// OFFSET, TO OFFSET, EVENTS~, BYTES~, RETENTION), the totals, the
// estimated duration at the plan's rates, and one sentence per retention
// gap. replay --dry-run and export --dry-run print their plans with it.
func printPlan(w io.Writer, p *replay.PlanResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tFROM OFFSET\tTO OFFSET\tEVENTS~\tBYTES~\tRETENTION")
	for _, pp := range p.Partitions {
		fmt.Fprintf(tw, "%s/%d\t%d\t%d\t%d\t%s\t%s\n", pp.Topic, pp.Partition, pp.From, pp.To, pp.Events, humanBytes(pp.Bytes), retentionCell(pp.Gap))
	}
	fmt.Fprintf(tw, "TOTAL (%d partitions)\t\t\t%d\t%s\t%s\n", len(p.Partitions), p.Events, humanBytes(p.Bytes), retentionTotal(p))
	tw.Flush()
	fmt.Fprintf(w, "estimated duration: %s\n", durationNote(p))
	fmt.Fprintln(w, "EVENTS~ counts the offsets to read, an upper bound: of those, only records stamped in [from, to) are delivered (and only those a filter selects);")
	fmt.Fprintln(w, "BYTES~ is EVENTS~ times the mean record value size of a sample of each partition's first and last batches in the range.")
	for _, g := range p.Gaps {
		fmt.Fprintf(w, "retention: %s\n", g)
	}
}

// retentionCell is the RETENTION column of a partition.
func retentionCell(g *replay.RetentionGap) string {
	switch {
	case g == nil:
		return "ok"
	case g.Next >= 0:
		return fmt.Sprintf("CUT: offsets %d-%d deleted before they were replayed", g.Next, g.LogStart-1)
	case g.Oldest.IsZero():
		return "CUT: no record left, the window is gone"
	}
	return fmt.Sprintf("CUT: first %s gone (oldest record %s)", g.Lost, fmtUTC(g.Oldest))
}

// retentionTotal is the RETENTION column of the totals.
func retentionTotal(p *replay.PlanResult) string {
	if len(p.Gaps) == 0 {
		return "ok"
	}
	return fmt.Sprintf("CUT in %d of %d partitions", len(p.Gaps), len(p.Partitions))
}

// durationNote is the estimated duration and the rates it assumes.
func durationNote(p *replay.PlanResult) string {
	if p.EventsPerSecond == 0 && p.BytesPerSecond == 0 {
		return "unknown, no rate limit (--rate 0): as fast as the sink takes the events"
	}
	ev, by := "no events/s limit", "no bytes/s limit"
	if p.EventsPerSecond > 0 {
		ev = strconv.FormatFloat(p.EventsPerSecond, 'f', -1, 64) + " events/s"
	}
	if p.BytesPerSecond > 0 {
		by = humanBytes(int64(p.BytesPerSecond)) + "/s"
	}
	return fmt.Sprintf("%s at most, at %s and %s", roundDuration(p.Duration), ev, by)
}

// roundDuration keeps an estimate to a sensible precision.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// humanBytes is n in the largest binary unit under which it is at least 1,
// with one decimal: "512B", "2.7KiB", "1.3GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/preview"
)

func cmdPreview(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("preview", "preview --config FILE --route NAME [--from TIME --to TIME] [--limit N] [--show N] [--json]",
		"Reads a slice of the route's topics and runs its filter, sampling and shaping on it as the\n"+
			"bridge would, without sending or committing anything: prints what each step leaves (events\n"+
			"and bytes) and the first events as they would be sent. Times as for replay: RFC 3339,\n"+
			"\"now\", or ago (-2h, -30m, -1d).", stdout)
	var rf routeFlags
	rf.define(fs, "route to preview")
	var wf windowFlags
	wf.define(fs, "-1h", "now", "")
	limit := fs.Int("limit", preview.DefaultLimit, "most records read, shared by the partitions")
	show := fs.Int("show", preview.DefaultShow, "events printed as they would be sent; 0 = none")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *limit <= 0 {
		return flagErrorf("limit", "%d must be > 0", *limit)
	}
	if *show < 0 {
		return flagErrorf("show", "%d must not be negative", *show)
	}
	t1, t2, err := wf.parse(time.Now())
	if err != nil {
		return err
	}
	cfg, rc, err := rf.load()
	if err != nil {
		return err
	}
	n := *show
	if n == 0 {
		n = -1 // preview.Options: negative is none
	}
	rep, err := preview.Run(ctx, cfg, preview.Options{Route: rc.Name, From: t1, To: t2, Limit: *limit, Show: n, Logger: newLogger(previewLog(cfg.Log), stderr)})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writePreview(stdout, rep, *limit)
	return nil
}

// writePreview prints a report: the steps in a table, the savings, the
// examples.
func writePreview(w io.Writer, r preview.Report, limit int) {
	fmt.Fprintf(w, "preview of route %s, records stamped in [%s, %s), %d partition%s; nothing was sent\n",
		r.Route, fmtUTC(r.From), fmtUTC(r.To), r.Partitions, pluralS(r.Partitions))
	if !r.Complete {
		fmt.Fprintf(w, "(the window holds more than --limit %d records: the counts are of the first ones of each partition)\n", limit)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "step\tevents\tbytes\tevents kept\tbytes kept\t\n")
	fmt.Fprintf(tw, "read\t%d\t%s\t\t\t\n", r.Read.Events, humanBytes(r.Read.Bytes))
	prev := r.Read
	for _, s := range []struct {
		name string
		c    preview.Count
	}{{"filter", r.AfterFilter}, {"sample", r.AfterSample}, {"shape", r.Sent}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", s.name, s.c.Events, humanBytes(s.c.Bytes), pct(s.c.Events, prev.Events), pct(s.c.Bytes, prev.Bytes))
		prev = s.c
	}
	fmt.Fprintf(tw, "sent\t%d\t%s\t%s\t%s\t\n", r.Sent.Events, humanBytes(r.Sent.Bytes), pct(r.Sent.Events, r.Read.Events), pct(r.Sent.Bytes, r.Read.Bytes))
	tw.Flush()
	fmt.Fprintf(w, "\nsaved: %d of %d events, %s of %s (%s of the bytes)\n", r.Read.Events-r.Sent.Events, r.Read.Events,
		humanBytes(r.Read.Bytes-r.Sent.Bytes), humanBytes(r.Read.Bytes), pct(r.Read.Bytes-r.Sent.Bytes, r.Read.Bytes))
	fmt.Fprintf(w, "%d shaped, %d not JSON (sent as they were), %d with a rename error, %d read around the window and skipped\n",
		r.Shaped, r.NotJSON, r.RenameErrors, r.Skipped)
	if len(r.Examples) == 0 {
		return
	}
	fmt.Fprintf(w, "\nthe first %d event%s as the sink would get %s:\n", len(r.Examples), pluralS(len(r.Examples)), map[bool]string{true: "it", false: "them"}[len(r.Examples) == 1])
	for _, ex := range r.Examples {
		fmt.Fprintf(w, "%s  %s\n", ex.ID, ex.Doc)
	}
}

// pct is part of whole in percent with one decimal, "-" when whole is 0.
func pct(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// previewLog is the log section for a preview: warnings and errors only,
// so that its output is the report.
func previewLog(c config.Log) config.Log {
	if c.Level == "info" || c.Level == "debug" {
		c.Level = "warn"
	}
	return c
}

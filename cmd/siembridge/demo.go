package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/demo"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("demo", "demo [flags]",
		"Runs the bridge, built from a YAML configuration as 'siembridge run' does, against an\n"+
			"embedded Kafka and a slow in-process SIEM with an outage, and checks that no event was\n"+
			"lost or duplicated (exit 1 if one was).", stdout)
	var o demo.Options
	fs.DurationVar(&o.Duration, "duration", 60e9, "how long the demo runs at most")
	fs.IntVar(&o.Rate, "rate", 1500, "events per second produced")
	fs.Float64Var(&o.Capacity, "capacity", 2500, "SIEM capacity in events per second (above it: HTTP 429 per item)")
	fs.Float64Var(&o.Limit, "limit", 2000, "the route's live rate limit, events per second")
	fs.Float64Var(&o.Catchup, "catchup", 4000, "the route's catch-up rate, events per second")
	fs.DurationVar(&o.Outage, "outage", 0, "SIEM outage in the middle of the run (default duration/6; negative: none)")
	fs.StringVar(&o.Listen, "listen", "", "serve the status page and /metrics at this host:port during the demo, e.g. 127.0.0.1:9108 (default off)")
	budget := fs.String("budget", "", "give the route a daily budget of this many bytes (e.g. 20MiB; failed logons have priority); the demo's budget day ends at 55% of the run, so the surplus waits in Kafka, then drains (default none)")
	verbose := fs.Bool("v", false, "print the bridge's log to stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *budget != "" {
		b, err := config.ParseByteSize(*budget)
		if err != nil || b <= 0 {
			return usageError{err: fmt.Errorf("--budget: %q is not a size > 0 (e.g. 20MiB)", *budget), help: true}
		}
		o.Budget = b
	}
	if *verbose {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	_, err := demo.Run(ctx, o, stdout)
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/siembridge/siembridge/internal/bench"
)

// cmdBench runs the throughput benchmark. Its children re-execute this
// binary as "siembridge bench broker|receiver|run ...", which are not
// meant to be typed by hand.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "broker" || args[0] == "receiver" || args[0] == "run") {
		return bench.Child(ctx, args, os.Stdin, stdout, stderr)
	}
	fs := newCmdFlags("bench", "bench [flags]",
		"Measures throughput against Kafka and _bulk ceilings with a broker and a _bulk receiver\n"+
			"in child processes, and writes the report (docs/benchmarks.md and .svg by default).", stdout)
	var o bench.Options
	fs.IntVar(&o.Events, "events", 1_000_000, "events to load and read in each configuration")
	fs.IntVar(&o.Partitions, "partitions", 6, "partitions of the topic")
	fs.IntVar(&o.Size, "size", 700, "approximate event size in bytes (generated events average ~700; larger pads them)")
	fs.IntVar(&o.Conns, "conns", 4, "connections of the _bulk load client of (r)")
	fs.IntVar(&o.Rounds, "rounds", 1, "repeat the measurements; report each configuration's median round")
	fs.StringVar(&o.CPUProfileDir, "cpuprofile", "", "directory for CPU profiles of the measured children (consume, null, es)")
	out := fs.String("out", "docs/benchmarks.md", "Markdown report to write (empty: none)")
	svg := fs.String("svg", "docs/benchmarks.svg", "SVG chart to write (empty: none)")
	verbose := fs.Bool("v", false, "show the children's stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Exe, o.Args = exe, []string{"bench"}
	o.Command = "siembridge bench " + strings.Join(args, " ")
	o.Progress = stderr
	if *verbose {
		o.Stderr = stderr
	}
	if o.CPUProfileDir != "" {
		if err := os.MkdirAll(o.CPUProfileDir, 0o755); err != nil {
			return err
		}
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.WriteSummary(stdout)
	var errs []error
	if *svg != "" {
		errs = append(errs, writeFile(*svg, rep.WriteSVG))
	}
	if *out != "" {
		rel := ""
		if *svg != "" {
			if r, err := filepath.Rel(filepath.Dir(*out), *svg); err == nil {
				rel = filepath.ToSlash(r)
			}
		}
		errs = append(errs, writeFile(*out, func(w io.Writer) error { return rep.WriteMarkdown(w, rel) }))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: wrote %s %s\n", *out, *svg)
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

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
// binary as "siembridge bench broker|receiver|run|bridge ...", which are not
// meant to be typed by hand.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "broker" || args[0] == "receiver" || args[0] == "run" || args[0] == "bridge") {
		return bench.Child(ctx, args, os.Stdin, stdout, stderr)
	}
	fs := newCmdFlags("bench", "bench [flags]",
		"Measures throughput against Kafka and _bulk ceilings, and the scenarios of a SIEM far away,\n"+
			"at capacity, down for a while, fed by a hot partition or many, and read by several processes,\n"+
			"each against its own bound measured in the same run, with a broker, receivers and bridges in\n"+
			"child processes. Prints PASS or FAIL per row and writes the report (docs/benchmarks.md and .svg\n"+
			"by default; only the part between its markers is replaced).", stdout)
	var o bench.Options
	fs.IntVar(&o.Events, "events", 1_000_000, "events of the base rows' topic, read by each of their configurations")
	fs.IntVar(&o.Partitions, "partitions", 6, "partitions of the base rows' topic")
	fs.IntVar(&o.Size, "size", 700, "approximate event size in bytes (generated events average ~700; larger pads them)")
	fs.IntVar(&o.Conns, "conns", 4, "connections of the _bulk load client of (r)")
	fs.IntVar(&o.Rounds, "rounds", 1, "repeat the base rows; report each configuration's median round")
	fs.StringVar(&o.CPUProfileDir, "cpuprofile", "", "directory for CPU profiles of the children (base rows: consume, null, es; scenarios: consume and es by topic; the receiver during each es run)")
	scenarios := fs.String("scenarios", strings.Join(bench.AllScenarios, ","), "comma-separated scenarios to run: "+strings.Join(bench.AllScenarios, ", ")+" (or all)")
	fs.BoolVar(&o.Quick, "quick", false, "run every scenario at a tiny size (tests the harness; the numbers mean nothing)")
	fs.StringVar(&o.Route, "route", "", "YAML added to every scenario bridge's route, e.g. 'buffer: {max_bytes: 16MiB}' (the report's targets stay those of the defaults)")
	out := fs.String("out", "docs/benchmarks.md", "Markdown report to write (empty: none)")
	svg := fs.String("svg", "docs/benchmarks.svg", "SVG chart to write (empty: none)")
	verbose := fs.Bool("v", false, "show the children's stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	for _, name := range strings.Split(*scenarios, ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
		case "all":
			o.Scenarios = append(o.Scenarios, bench.AllScenarios...)
		default:
			o.Scenarios = append(o.Scenarios, name)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Exe, o.Args = exe, []string{"bench"}
	o.Command = strings.TrimSpace("siembridge bench " + strings.Join(args, " "))
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
		var md strings.Builder
		if err := rep.WriteMarkdown(&md, rel); err != nil {
			return err
		}
		errs = append(errs, writeGenerated(*out, md.String()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: wrote %s %s\n", *out, *svg)
	return nil
}

// writeGenerated writes the generated Markdown part into path: in place of
// the part between bench.MarkdownBegin and bench.MarkdownEnd when the file
// has both, keeping what stands before and after them; otherwise the
// generated part comes first and anything the file held follows it.
func writeGenerated(path, part string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	before, after := "", text
	if after != "" {
		after = "\n" + after
	}
	if i := strings.Index(text, bench.MarkdownBegin); i >= 0 {
		if j := strings.Index(text[i:], bench.MarkdownEnd); j >= 0 {
			// part ends its end marker's line; what followed it stays.
			before, after = text[:i], strings.TrimPrefix(text[i+j+len(bench.MarkdownEnd):], "\n")
		}
	}
	return writeFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, before+part+after)
		return err
	})
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

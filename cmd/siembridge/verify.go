package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/siembridge/siembridge/export"
)

// exitNotRetained is verify's exit code when everything it could compare
// matched but Kafka no longer holds some of the exported records.
const exitNotRetained = 3

// verifyError is the error of a verification that did not pass; its exit
// code says why (exitFailure: a mismatch, exitNotRetained).
type verifyError struct {
	msg  string
	code int
}

func (e verifyError) Error() string { return e.msg }
func (e verifyError) ExitCode() int { return e.code }

// cmdVerify is "siembridge verify DIR": it checks an export directory
// against its manifest and, with --config, against the Kafka log.
func cmdVerify(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newCmdFlags("verify", "verify [--config FILE] DIR",
		"Checks an export made by 'siembridge export': every file listed in DIR/manifest.json is\n"+
			"there with its size, SHA-256, event count and offsets, and no data file is unlisted. With\n"+
			"--config it also reads every exported offset range from Kafka again and compares each\n"+
			"event's key, value and record time with the log, byte for byte.\n\n"+
			"Exit codes: 0 pass; 1 mismatch (named: file, or topic/partition/offset) or failure;\n"+
			"2 usage; 3 everything compared matched, but retention or compaction deleted some of\n"+
			"the exported records from Kafka, so they could not be compared.", stdout)
	configPath := fs.String("config", "", "configuration file whose kafka section reaches the cluster (default: files only)")
	dir, err := parseWithDir(fs, args)
	if err != nil {
		return err
	}
	rep, err := export.VerifyFiles(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d files, %d events: %s\n", dir, rep.Files, rep.Events, filesVerdict(rep))
	if *configPath != "" && rep.Verdict() == export.Pass {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		if err := export.VerifyKafka(ctx, cfg, dir, rep); err != nil {
			return err
		}
		for _, w := range rep.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "kafka: %d events compared with the log, %d no longer in it\n", rep.Compared, rep.NotRetained)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "%s: %s\n", p.Verdict, p)
	}
	switch v := rep.Verdict(); v {
	case export.Pass:
		fmt.Fprintln(stdout, "PASS")
		return nil
	case export.NotRetained:
		fmt.Fprintln(stdout, "NOT RETAINED: the files match; Kafka no longer holds some exported records")
		return verifyError{msg: "some exported records are no longer in Kafka", code: exitNotRetained}
	default:
		fmt.Fprintln(stdout, "MISMATCH")
		return verifyError{msg: fmt.Sprintf("mismatch: %s", rep.Problems[0]), code: exitFailure}
	}
}

func filesVerdict(r *export.Report) string {
	if r.Verdict() == export.Pass {
		return "match the manifest"
	}
	return "DO NOT match the manifest"
}

// parseWithDir parses args made of flags and one DIR argument, an
// existing directory, before, after or between the flags.
func parseWithDir(fs *cmdFlags, args []string) (string, error) {
	var dir string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			// Parse again the cmdFlags way: the usage on -h, one line
			// otherwise.
			return "", fs.parse(rest)
		}
		if fs.NArg() == 0 {
			break
		}
		// DIR is the one argument, and a directory: anything else is a
		// stray argument, as for every command.
		if st, err := os.Stat(fs.Arg(0)); dir != "" || err != nil || !st.IsDir() {
			return "", usageError{err: fmt.Errorf("unexpected argument %q", fs.Arg(0)), help: true}
		}
		dir = fs.Arg(0)
		rest = fs.Args()[1:]
	}
	if dir == "" {
		return "", usageError{err: errors.New("DIR: required"), help: true}
	}
	return dir, nil
}

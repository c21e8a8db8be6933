// Command siembridge feeds Kafka topics into SIEMs at a controlled rate,
// without losing events. Run "siembridge help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the job did not complete
	exitUsage   = 2 // bad flags or configuration
)

// stopSignals end a command: the first one gracefully (a run finishes the
// requests in flight, commits and leaves its groups), and for run a second
// one at once (see cmdRun).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// usageError marks errors that exit with code 2. help says that the
// command line itself is wrong (an unknown or missing flag, a stray
// argument): the message then points to the command's -h.
type usageError struct {
	err  error
	help bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{err: fmt.Errorf(format, args...)} }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "consume Kafka and feed the configured sinks until SIGINT/SIGTERM", cmdRun},
		{"demo", "run the bridge against an embedded Kafka and a slow in-process SIEM", cmdDemo},
		{"replay", "deliver again the events of a time window, without touching the live offsets", cmdReplay},
		{"preview", "run a route's filter, sampling and shaping on a slice of its topics; show what would be sent", cmdPreview},
		{"export", "write the events of a time window to files with a verifiable manifest (ndjson.gz, parquet)", cmdExport},
		{"verify", "check an export's files against its manifest and, with --config, against Kafka", cmdVerify},
		{"rewind", "move a route's consumer-group offsets back to a time (after SIEM data loss)", cmdRewind},
		{"status", "show committed offsets, lag and how far behind each route is", cmdStatus},
		{"check", "validate a configuration and test the brokers, topics and sinks it names", cmdCheck},
		{"generate", "produce synthetic security events into a Kafka topic at a given rate", cmdGenerate},
		{"bench", "measure throughput and SIEM scenarios (far, at capacity, down, scaled out); write docs/benchmarks.md", cmdBench},
		{"version", "print the version, the Go version and the VCS revision (also: --version)", cmdVersion},
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 2 && args[0] == "help":
		// "siembridge help replay" is "siembridge replay -h".
		args = []string{args[1], "-h"}
	case len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help":
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	case args[0] == "--version" || args[0] == "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		// SIGHUP stops like SIGTERM (a closed terminal or a supervisor's
		// reload must not kill the process without a commit).
		ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
		defer stop()
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			// -h printed the command's usage to stdout.
			return exitOK
		}
		var ue usageError
		isUsage := errors.As(err, &ue)
		hint := ""
		if isUsage && ue.help {
			hint = fmt.Sprintf(" (see 'siembridge %s -h')", c.name)
		}
		fmt.Fprintf(stderr, "siembridge %s: %v%s\n", c.name, oneLine(err), hint)
		if isUsage {
			return exitUsage
		}
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode() // verify's exitNotRetained
		}
		return exitFailure
	}
	fmt.Fprintf(stderr, "siembridge: unknown command %q (see 'siembridge help')\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "siembridge: Kafka to SIEM, at a controlled rate, without losing events.")
	fmt.Fprintln(w, "\nUsage: siembridge <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'siembridge <command> -h' for a command's flags.")
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

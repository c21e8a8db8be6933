package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/replay"
)

// cmdFlags is a command's flag set. Every command builds one with
// newCmdFlags and parses its arguments with parse, so that -h, flag errors
// and stray arguments read the same in all of them:
//
//	siembridge replay -h          usage on stdout, exit 0
//	siembridge replay --bogus     "siembridge replay: --bogus: unknown flag (see 'siembridge replay -h')", exit 2
//
// The flag package's own output (the error, then the whole usage, on
// stderr) is discarded: one line says what is wrong.
type cmdFlags struct {
	*flag.FlagSet
	synopsis string // the usage line after "Usage: siembridge "
	about    string // what the command does, printed under the synopsis
	stdout   io.Writer
}

// newCmdFlags returns the flag set of command name. synopsis follows
// "Usage: siembridge " on the first line of the usage (it starts with the
// command's name); about is a paragraph under it, may be empty. The usage
// goes to stdout when -h or --help asks for it.
func newCmdFlags(name, synopsis, about string, stdout io.Writer) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, synopsis: synopsis, about: about, stdout: stdout}
}

// parse parses args. On -h or --help it prints the usage to stdout and
// returns flag.ErrHelp (realMain exits 0). A flag the command does not
// have, a bad value or an argument that is not a flag is a usage error of
// one line, "--name: problem", that points to -h.
func (c *cmdFlags) parse(args []string) error {
	err := c.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printUsage(c.stdout)
		return flag.ErrHelp
	case err != nil:
		return usageError{err: errors.New(c.reword(err.Error())), help: true}
	case c.NArg() > 0:
		return usageError{err: fmt.Errorf("unexpected argument %q", c.Arg(0)), help: true}
	}
	return nil
}

// printUsage writes the synopsis, the about paragraph and the flags.
func (c *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: siembridge %s\n", c.synopsis)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", c.about)
	}
	n := 0
	c.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	c.SetOutput(w)
	c.PrintDefaults()
	c.SetOutput(io.Discard)
}

// reword turns the flag package's error message into "--name: problem".
// Its messages have been the same since Go 1.0; one it does not know is
// returned as it is.
func (c *cmdFlags) reword(msg string) string {
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "--" + name + ": unknown flag"
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + ": needs a value"
	}
	if s, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return s + ": bad flag syntax"
	}
	// invalid value "v" for flag -name: err
	// invalid boolean value "v" for -name: err
	rest, ok := strings.CutPrefix(msg, "invalid value ")
	if !ok {
		if rest, ok = strings.CutPrefix(msg, "invalid boolean value "); !ok {
			return msg
		}
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return msg
	}
	rest = strings.TrimPrefix(strings.TrimPrefix(rest[len(quoted):], " for flag -"), " for -")
	name, problem, ok := strings.Cut(rest, ": ")
	f := c.Lookup(name)
	if !ok || f == nil {
		return msg
	}
	switch problem {
	case "parse error":
		return fmt.Sprintf("--%s: %s is not %s", name, quoted, valueKind(f))
	case "value out of range":
		return fmt.Sprintf("--%s: %s is out of range", name, quoted)
	}
	return fmt.Sprintf("--%s: %s: %s", name, quoted, problem)
}

// valueKind names what a flag's value must be, for an error message.
func valueKind(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a valid value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a duration (such as 90s, 5m or 1h30m)"
	case bool:
		return "true or false"
	case int, int64, uint, uint64:
		return "an integer"
	case float64:
		return "a number"
	}
	return "a valid value"
}

// flagErrorf returns a usage error about the value of flag name:
// "--name: problem".
func flagErrorf(name, format string, args ...any) error {
	return usageError{err: fmt.Errorf("--"+name+": "+format, args...)}
}

// missingFlag returns the usage error of a required flag that was not
// given: "--name: required[ cond]", pointing to -h.
func missingFlag(name, cond string) error {
	msg := "--" + name + ": required"
	if cond != "" {
		msg += " " + cond
	}
	return usageError{err: errors.New(msg), help: true}
}

// routeFlags are --config and --route, the flags of a command that acts on
// one route of a configuration file.
type routeFlags struct {
	config, route string
}

// define defines --config and --route on fs. does starts the help of
// --route: what the command does with the route ("route to replay").
func (r *routeFlags) define(fs *cmdFlags, does string) {
	fs.StringVar(&r.config, "config", "siembridge.yaml", "configuration file")
	fs.StringVar(&r.route, "route", "", does+" (default: the only route)")
}

// load loads the configuration --config names and picks the route --route
// names, or the only route when --route is not given.
func (r *routeFlags) load() (*config.Config, config.Route, error) {
	cfg, err := loadConfig(r.config)
	if err != nil {
		return nil, config.Route{}, err
	}
	rc, err := pickRoute(cfg, r.route)
	if err != nil {
		return nil, config.Route{}, err
	}
	return cfg, rc, nil
}

// windowFlags are --from and --to: a window of Kafka record times, from
// inclusive, to exclusive.
type windowFlags struct {
	from, to string
}

// define defines --from and --to on fs with these defaults; note ends the
// help of both (" (required unless --resume)"), may be empty.
func (w *windowFlags) define(fs *cmdFlags, from, to, note string) {
	fs.StringVar(&w.from, "from", from, "start of the window, inclusive"+note)
	fs.StringVar(&w.to, "to", to, "end of the window, exclusive"+note)
}

// parse reads the window, relative times counting back from now; --to
// must be after --from.
func (w *windowFlags) parse(now time.Time) (from, to time.Time, err error) {
	if from, err = parseTime(w.from, now); err != nil {
		return from, to, flagErrorf("from", "%v", err)
	}
	if to, err = parseTime(w.to, now); err != nil {
		return from, to, flagErrorf("to", "%v", err)
	}
	if !from.Before(to) {
		return from, to, flagErrorf("to", "%s is not after --from %s", fmtUTC(to), fmtUTC(from))
	}
	return from, to, nil
}

// defineLateness defines --lateness, the out-of-order bound of the
// commands that read a window (replay, export).
func defineLateness(fs *cmdFlags, d *time.Duration) {
	fs.DurationVar(d, "lateness", replay.DefaultLateness, "how far record times may be out of order in a partition: read from --from minus this until a record stamped at or after --to plus this; 0 = none")
}

// latenessOption checks --lateness and maps it to the Lateness of
// replay.Options and export.Options (see replayLateness).
func latenessOption(d time.Duration) (time.Duration, error) {
	if d < 0 {
		return 0, flagErrorf("lateness", "%s must not be negative", d)
	}
	return replayLateness(d), nil
}

// filterOption compiles --filter, an expression in the routes[].filter
// language, to the Filter of replay.Options and export.Options; an empty
// expression is no filter (nil).
func filterOption(expr string) (func(*event.Event) bool, error) {
	if expr == "" {
		return nil, nil
	}
	sel, err := filter.Compile(expr)
	if err != nil {
		return nil, flagErrorf("filter", "%v", err)
	}
	return sel.Accepts, nil
}

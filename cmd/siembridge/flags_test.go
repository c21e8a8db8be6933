package main

import (
	"errors"
	"flag"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestCommandHelp: every command's -h, --help and "siembridge help <cmd>"
// print its usage to stdout, starting with its synopsis, and exit 0.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {c.name, "-help"}, {"help", c.name}} {
			code, stdout, stderr := testRunMain(args...)
			if code != exitOK || stderr != "" {
				t.Errorf("%q: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr)
			}
			if want := "Usage: siembridge " + c.name; !strings.HasPrefix(stdout, want) {
				t.Errorf("%q: stdout does not start with %q:\n%s", args, want, stdout)
			}
			if strings.Contains(stdout, "help requested") {
				t.Errorf("%q: stdout reports -h as an error:\n%s", args, stdout)
			}
			if c.name != "version" && !strings.Contains(stdout, "\nFlags:\n") {
				t.Errorf("%q: no flags listed:\n%s", args, stdout)
			}
		}
	}
}

// TestCommandFlagErrors: a command-line mistake is one line on stderr,
// "siembridge <cmd>: --flag: problem", that points to -h, with exit 2 and
// nothing on stdout; for every command, and before any configuration is
// read or connection made.
func TestCommandFlagErrors(t *testing.T) {
	type tc struct {
		args []string
		want string // after "siembridge <cmd>: "
	}
	var tests []tc
	for _, c := range commands() {
		tests = append(tests,
			tc{[]string{c.name, "--no-such-flag"}, "--no-such-flag: unknown flag"},
			tc{[]string{c.name, "-no-such-flag=1"}, "--no-such-flag: unknown flag"},
			tc{[]string{c.name, "stray"}, `unexpected argument "stray"`},
		)
	}
	tests = append(tests,
		tc{[]string{"status", "--fetch-timeout"}, "--fetch-timeout: needs a value"},
		tc{[]string{"status", "--fetch-timeout", "soon"}, `--fetch-timeout: "soon" is not a duration (such as 90s, 5m or 1h30m)`},
		tc{[]string{"status", "--json=maybe"}, `--json: "maybe" is not true or false`},
		tc{[]string{"generate", "--topic", "t", "--rate", "fast"}, `--rate: "fast" is not a number`},
		tc{[]string{"generate", "--topic", "t", "--count", "1.5"}, `--count: "1.5" is not an integer`},
		tc{[]string{"generate", "--topic", "t", "--count", "99999999999999999999"}, `--count: "99999999999999999999" is out of range`},
		tc{[]string{"check", "---timeout"}, "---timeout: bad flag syntax"},
		// A required flag that is missing has the same shape.
		tc{[]string{"generate"}, "--topic: required"},
		tc{[]string{"generate", "--topic", "t", "--sasl-mechanism", "PLAIN"}, "--sasl-username: required with --sasl-mechanism"},
		tc{[]string{"rewind"}, "--to: required"},
		tc{[]string{"demo", "--budget", "lots"}, `--budget: "lots" is not a size > 0 (e.g. 20MiB)`},
		tc{[]string{"demo", "--budget", "0"}, `--budget: "0" is not a size > 0 (e.g. 20MiB)`},
	)
	for _, tt := range tests {
		code, stdout, stderr := testRunMain(tt.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", tt.args, code, exitUsage, stderr)
		}
		want := "siembridge " + tt.args[0] + ": " + tt.want + " (see 'siembridge " + tt.args[0] + " -h')\n"
		if stderr != want {
			t.Errorf("%q: stderr\n got %q\nwant %q", tt.args, stderr, want)
		}
		if stdout != "" {
			t.Errorf("%q: printed to stdout: %q", tt.args, stdout)
		}
	}
}

// TestFlagValueErrors: a flag whose value is checked after parsing names
// the flag the same way, without the pointer to -h (the flag exists and
// has a value; the value is wrong).
func TestFlagValueErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--timeout", "0s"}, "siembridge check: --timeout: 0s must be > 0\n"},
		{[]string{"status", "--fetch-timeout", "-1s"}, "siembridge status: --fetch-timeout: -1s must be > 0\n"},
		{[]string{"generate", "--topic", "t", "--rate", "-1"}, "siembridge generate: --rate: -1 must be >= 0\n"},
		{[]string{"generate", "--topic", "t", "--count", "-1"}, "siembridge generate: --count: -1 must be >= 0\n"},
	} {
		code, _, stderr := testRunMain(tt.args...)
		if code != exitUsage || stderr != tt.want {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tt.args, code, stderr, exitUsage, tt.want)
		}
	}
}

// TestVersion: --version, -version and the version command print one line
// and exit 0.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		code, stdout, stderr := testRunMain(args...)
		if code != exitOK || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "siembridge ") || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "go1.") {
			t.Errorf("%q: stdout %q, want one line \"siembridge <version> (go1...)\"", args, stdout)
		}
	}
}

func TestVersionLine(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "siembridge devel (" + runtime.Version() + ")"},
		{"-buildvcs=false", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "siembridge devel (go1.26.8)"},
		{"test binary", &debug.BuildInfo{GoVersion: "go1.26.8"}, "siembridge devel (go1.26.8)"},
		{"clean work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs", "git", "vcs.revision", "1fd97db0a1b2c3d4e5f6", "vcs.modified", "false")},
			"siembridge devel (go1.26.8, 1fd97db0a1b2)"},
		{"modified work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "1fd97db0a1b2c3d4e5f6", "vcs.modified", "true")},
			"siembridge devel (go1.26.8, 1fd97db0a1b2+dirty)"},
		{"short revision", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: settings("vcs.revision", "abc123")},
			"siembridge devel (go1.26.8, abc123)"},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			"siembridge v1.4.0 (go1.26.8)"},
	}
	for _, tt := range tests {
		if got := versionLine(tt.bi); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestReword: the flag package's messages become "--name: problem"; one
// it does not know stays as it is.
func TestReword(t *testing.T) {
	fs := newCmdFlags("x", "x", "", io.Discard)
	fs.Duration("wait", time.Second, "")
	fs.Int("n", 0, "")
	fs.Bool("v", false, "")
	fs.Var(&testValue{}, "custom", "")
	tests := []struct{ in, want string }{
		{"flag provided but not defined: -nope", "--nope: unknown flag"},
		{"flag needs an argument: -wait", "--wait: needs a value"},
		{"bad flag syntax: -=x", "-=x: bad flag syntax"},
		{`invalid value "soon" for flag -wait: parse error`, `--wait: "soon" is not a duration (such as 90s, 5m or 1h30m)`},
		{`invalid value "9e99" for flag -n: value out of range`, `--n: "9e99" is out of range`},
		{`invalid boolean value "maybe" for -v: parse error`, `--v: "maybe" is not true or false`},
		{`invalid value "a: b for flag -n" for flag -custom: no`, `--custom: "a: b for flag -n": no`},
		{`invalid value "x" for flag -unknown: parse error`, `invalid value "x" for flag -unknown: parse error`},
		{"something new", "something new"},
	}
	for _, tt := range tests {
		if got := fs.reword(tt.in); got != tt.want {
			t.Errorf("reword(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	// The messages are the flag package's: a parse through it gives them.
	if err := fs.parse([]string{"-wait", "soon"}); err == nil || err.Error() != `--wait: "soon" is not a duration (such as 90s, 5m or 1h30m)` {
		t.Errorf("parse: %v", err)
	}
	if err := fs.parse([]string{"-h"}); err != flag.ErrHelp {
		t.Errorf("parse -h: %v, want flag.ErrHelp", err)
	}
}

type testValue struct{}

func (*testValue) String() string   { return "" }
func (*testValue) Set(string) error { return errors.New("no") }

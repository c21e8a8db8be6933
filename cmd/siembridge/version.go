package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/siembridge/siembridge/metrics"
)

// cmdVersion prints the version line; "siembridge --version" runs it too.
func cmdVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newCmdFlags("version", "version",
		"Prints siembridge's version, the Go version it was built with and the VCS revision\n"+
			"(with +dirty when the work tree had changes), when the build recorded one.", stdout)
	if err := fs.parse(args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok { // built without module support: no information
		bi = nil
	}
	fmt.Fprintln(stdout, versionLine(bi))
	return nil
}

// versionLine is "siembridge <version> (<go version>[, <revision>[+dirty]])"
// from the build information bi, which may be nil: the same BuildInfo that
// labels siembridge_build_info.
func versionLine(bi *debug.BuildInfo) string {
	b := metrics.BuildInfoOf(bi)
	if b.Revision == "" {
		return fmt.Sprintf("siembridge %s (%s)", b.Version, b.GoVersion)
	}
	return fmt.Sprintf("siembridge %s (%s, %s)", b.Version, b.GoVersion, b.Revision)
}

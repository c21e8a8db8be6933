package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
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
// from the build information bi, which may be nil. A build from a work tree
// has no module version ("devel"); one with -buildvcs=false has no
// revision.
func versionLine(bi *debug.BuildInfo) string {
	version, goVersion, revision, dirty := "devel", runtime.Version(), "", false
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if revision == "" {
		return fmt.Sprintf("siembridge %s (%s)", version, goVersion)
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if dirty {
		revision += "+dirty"
	}
	return fmt.Sprintf("siembridge %s (%s, %s)", version, goVersion, revision)
}

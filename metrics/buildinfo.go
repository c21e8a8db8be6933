package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo names the build of the running binary, as siembridge_build_info
// labels it and `siembridge --version` prints it.
type BuildInfo struct {
	// Version is the main module's version; "devel" for a build from a
	// work tree.
	Version string
	// Revision is the VCS revision, at most 12 hex digits, with "+dirty"
	// when the work tree had changes; empty when the build recorded none
	// (-buildvcs=false, or built outside a repository).
	Revision string
	// GoVersion is the Go release the binary was built with.
	GoVersion string
}

// ReadBuildInfo returns the BuildInfo of the running binary.
func ReadBuildInfo() BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok { // built without module support: nothing recorded
		bi = nil
	}
	return BuildInfoOf(bi)
}

// BuildInfoOf reads a BuildInfo from the build information bi, which may be
// nil.
func BuildInfoOf(bi *debug.BuildInfo) BuildInfo {
	out := BuildInfo{Version: "devel", GoVersion: runtime.Version()}
	if bi == nil {
		return out
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		out.Version = v
	}
	if bi.GoVersion != "" {
		out.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(out.Revision) > 12 {
		out.Revision = out.Revision[:12]
	}
	if dirty && out.Revision != "" {
		out.Revision += "+dirty"
	}
	return out
}

// newBuildInfoGauge is siembridge_build_info: constant 1, labelled with b,
// so that a dashboard can show which build runs and join it to any series.
func newBuildInfoGauge(b BuildInfo) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "build_info",
		Help:      "Constant 1, labelled with the version, VCS revision and Go version of the running siembridge.",
		ConstLabels: prometheus.Labels{
			"version":   b.Version,
			"revision":  b.Revision,
			"goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

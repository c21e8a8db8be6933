package metrics

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoOf(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	setting := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want BuildInfo
	}{
		{"no build information", nil, BuildInfo{Version: "devel", GoVersion: runtime.Version()}},
		{"work tree build, no VCS", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			BuildInfo{Version: "devel", GoVersion: "go1.26.8"}},
		{"module version, clean revision", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
			Settings: setting("vcs.revision", rev, "vcs.modified", "false")},
			BuildInfo{Version: "v1.4.0", Revision: "0123456789ab", GoVersion: "go1.26.8"}},
		{"dirty work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: setting("vcs.modified", "true", "vcs.revision", rev)},
			BuildInfo{Version: "devel", Revision: "0123456789ab+dirty", GoVersion: "go1.26.8"}},
		{"modified without a revision says nothing", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: setting("vcs.modified", "true")},
			BuildInfo{Version: "devel", GoVersion: "go1.26.8"}},
		{"short revision kept whole", &debug.BuildInfo{Settings: setting("vcs.revision", "abc123")},
			BuildInfo{Version: "devel", Revision: "abc123", GoVersion: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BuildInfoOf(tt.bi); got != tt.want {
				t.Errorf("BuildInfoOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestBuildInfoOnMetrics reads siembridge_build_info from /metrics, as a
// scraper sees it: one series, value 1, the server's version and this
// binary's Go version.
func TestBuildInfoOnMetrics(t *testing.T) {
	srv, reg := startServer(t, &fakeSource{st: sampleStats()}, nil)
	got := gather(t, reg, "siembridge_build_info")
	want := BuildInfo{Version: "v1.2.3", Revision: ReadBuildInfo().Revision, GoVersion: ReadBuildInfo().GoVersion}
	key := `siembridge_build_info{goversion="` + want.GoVersion + `",revision="` + want.Revision + `",version="v1.2.3"}`
	if len(got) != 1 || got[key] != 1 {
		t.Fatalf("siembridge_build_info series = %v, want only %s = 1", got, key)
	}
	code, _, body := get(t, srv, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: status %d", code)
	}
	line := key + " 1"
	if !strings.Contains(body, "\n"+line+"\n") {
		t.Errorf("/metrics lacks the line %q", line)
	}
}

package deploy

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
)

const unitPath = "systemd/siembridge.service"

// unitBinary is the path ExecStart runs; the unit's install notes put the
// binary there.
const unitBinary = "/usr/local/bin/siembridge"

// parseUnit reads a systemd unit file into section → key → values (a key
// may repeat). Comments and blank lines are skipped; continuation lines
// are not used by our unit and are an error.
func parseUnit(t *testing.T, data []byte) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not supported here", unitPath, n)
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a key=value in a section: %q", unitPath, n, line)
		}
		out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// systemdSeconds parses a systemd time span of the forms the unit uses
// ("45", "45s", "1min 30s" is not used).
func systemdSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// TestSystemdUnit checks the settings the unit promises: a stop that lets
// run drain and commit, a restart on failure but not on a bad
// configuration, and the hardening.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := parseUnit(t, data)
	svc := unit["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	last := func(k string) string {
		if v := svc[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	want := []struct{ key, value string }{
		{"KillSignal", "SIGTERM"},
		{"Restart", "on-failure"},
		{"RestartPreventExitStatus", "2"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"CapabilityBoundingSet", ""},
	}
	for _, w := range want {
		if got, ok := svc[w.key]; !ok || last(w.key) != w.value {
			t.Errorf("[Service] %s = %q, want %q", w.key, got, w.value)
		}
	}
	if last("DynamicUser") != "yes" && last("User") == "" {
		t.Error("[Service] runs as root: set DynamicUser=yes or User=")
	}
	if exec := last("ExecStart"); !strings.HasPrefix(exec, unitBinary+" run --config ") {
		t.Errorf("ExecStart = %q, want %s run --config FILE", exec, unitBinary)
	}
	stop, err := systemdSeconds(last("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop <= config.DefaultShutdownTimeout {
		t.Errorf("TimeoutStopSec %s must exceed the default shutdown_timeout %s, or systemd kills a draining bridge", stop, config.DefaultShutdownTimeout)
	}
	if _, ok := unit["Install"]["WantedBy"]; !ok {
		t.Error("[Install] WantedBy missing: systemctl enable would do nothing")
	}
}

// TestSystemdAnalyzeVerify has systemd itself check the unit: every key
// known, every value parsed. The unit's binary is replaced by this test's
// own executable, since verify also checks that ExecStart exists.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd): the unit is only checked by TestSystemdUnit")
	}
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("ExecStart="+unitBinary+" ")) {
		t.Fatalf("ExecStart does not run %s", unitBinary)
	}
	path := filepath.Join(t.TempDir(), "siembridge.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("ExecStart="+unitBinary), []byte("ExecStart="+self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "verify", "--man=no", path).CombinedOutput()
	// verify exits 0 on an unknown key or a bad value, only printing a
	// warning: any output is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Package testbin serves the tests that run siembridge as a child process
// (integration, integration/interop): it builds the binary once per test
// process and collects a child's output while it runs. Test files cannot
// import each other across packages, so the shared helpers live here.
package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// pkg is the command Siembridge builds, named by import path so that the
// build works from any package directory of the module.
const pkg = "github.com/siembridge/siembridge/cmd/siembridge"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Siembridge returns the path of a siembridge binary built from
// cmd/siembridge into a temporary directory. The first call builds it;
// later calls of the same test process return the same path. A failed
// build fails t, every time it is asked for.
func Siembridge(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binPath, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// build runs go build into a new temporary directory.
func build() (string, error) {
	dir, err := os.MkdirTemp("", "siembridge-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "siembridge")
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Output collects a child process's output (its Stdout and Stderr); it
// may be read while the process writes. The zero value is empty and ready
// to use.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns what was written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

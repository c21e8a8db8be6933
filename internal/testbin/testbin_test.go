package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestOutputConcurrent(t *testing.T) {
	var o Output
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&o, "%d\n", i)
				_ = o.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(o.String(), "\n"); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
}

func TestSiembridgeBuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := Siembridge(t)
	if q := Siembridge(t); q != p {
		t.Fatalf("second call gave %s, first %s", q, p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "siembridge") {
		t.Fatalf("siembridge version: %v: %s", err, out)
	}
}

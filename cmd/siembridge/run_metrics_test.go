package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunServesMetrics runs "siembridge run" against an unreachable Kafka
// with metrics.listen set: the server answers while the bridge retries,
// says why it is not ready, and is gone once run returns.
func TestRunServesMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	// No host in metrics.listen: the server binds 127.0.0.1.
	cfgPath := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
kafka: {brokers: ["127.0.0.1:1"]}
routes:
  - name: devnull
    topics: [events]
    sink: {type: "null"}
metrics: {listen: ":%s"}
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmdRun(ctx, []string{"-config", cfgPath}, io.Discard, io.Discard) }()

	c := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string, error) {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := get("/healthz")
		if err == nil && code == 200 && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered ok: %d %q %v", code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body, err := get("/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "bridge not running") {
		t.Errorf("/readyz while Kafka is unreachable = %d %q %v, want 503 and a reason", code, body, err)
	}
	if code, body, err := get("/metrics"); err != nil || code != 200 || !strings.Contains(body, `siembridge_sink_up{route="devnull"} 1`) {
		t.Errorf("/metrics = %d %v, lacks the route's gauges", code, err)
	}
	c.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if _, _, err := get("/healthz"); err == nil {
		t.Error("the metrics server still answers after run returned")
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/metrics"
)

// TestRunVolume runs the README's volume route live ("siembridge run",
// null sink) on generated demo events: the route's counters add up to the
// events consumed, the bytes delivered are the shaped bytes, and
// "siembridge status" prints them from the daemon.
func TestRunVolume(t *testing.T) {
	k := testKafkaCluster(t, 1, nil)
	const n = 6000
	if code, out, errOut := testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "gen", "--rate", "0",
		"--count", fmt.Sprint(n), "--partitions", "3"); code != exitOK {
		t.Fatalf("generate: exit %d\n%s%s", code, out, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(t.TempDir(), "siembridge.yaml")
	yaml := fmt.Sprintf(previewYAML, k.Brokers()[0]) + fmt.Sprintf("metrics: {listen: %q}\n", addr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmdRun(ctx, []string{"-config", cfg}, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	var st metrics.Status
	deadline := time.Now().Add(8 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/api/status")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && len(st.Routes) == 1 {
			r := st.Routes[0]
			if r.Delivered+r.Volume.Filtered+r.Volume.SampledOut == n {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route did not take all %d events: %+v %v", n, st.Routes, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := st.Routes[0]
	v := r.Volume
	if v.Filtered == 0 || v.SampledOut == 0 || v.Shaped != r.Delivered || v.OutBytes != r.DeliveredBytes ||
		v.InBytes != r.ConsumedBytes || v.SavedBytes != v.InBytes-v.OutBytes || v.SavedBytes <= v.FilteredBytes+v.SampledOutBytes {
		t.Errorf("counters do not add up: delivered %d (%d bytes), consumed %d bytes, volume %+v", r.Delivered, r.DeliveredBytes, r.ConsumedBytes, v)
	}
	code, out, errOut := testRunMain("status", "--config", cfg, "--route", "siem")
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	if want := fmt.Sprintf("  volume: %d filtered (%s), %d sampled out (%s), %d shaped;", v.Filtered, humanBytes(v.FilteredBytes),
		v.SampledOut, humanBytes(v.SampledOutBytes), v.Shaped); !strings.Contains(out, want) {
		t.Errorf("status output lacks %q:\n%s%s", want, out, errOut)
	}
	t.Logf("status:\n%s", out)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/metrics"
)

// TestStatusDaemonCounters: status takes a route's volume counters from
// the daemon's /api/status and prints them in one line; without a daemon
// it says why and prints the offsets alone.
func TestStatusDaemonCounters(t *testing.T) {
	vol := bridge.VolumeStats{Filtered: 300, FilteredBytes: 210 << 10, SampledOut: 450, SampledOutBytes: 315 << 10,
		Shaped: 250, NotJSON: 2, InBytes: 700 << 10, OutBytes: 100 << 10, SavedBytes: 600 << 10}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/status" {
			http.NotFound(w, r)
			return
		}
		st := metrics.Status{Routes: []metrics.RouteStatus{{RouteStats: bridge.RouteStats{Name: "dns", Volume: vol}}}}
		if err := json.NewEncoder(w).Encode(st); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")

	routes := []routeStatus{{Route: "dns", Group: "g"}, {Route: "other", Group: "g2"}}
	var stderr bytes.Buffer
	addDaemonCounters(context.Background(), listen, routes, &stderr)
	if stderr.Len() > 0 || routes[0].Volume == nil || *routes[0].Volume != vol || routes[1].Volume != nil {
		t.Fatalf("counters %+v %+v, stderr %q", routes[0].Volume, routes[1].Volume, stderr.String())
	}
	var out bytes.Buffer
	writeStatusTable(&out, routes[:1])
	want := "  volume: 300 filtered (210.0KiB), 450 sampled out (315.0KiB), 250 shaped, 2 not JSON; 700.0KiB in, 100.0KiB out, 600.0KiB saved (85.7%)\n"
	if !strings.Contains(out.String(), "\n"+want) {
		t.Errorf("table:\n%s\nwant the line\n%s", out.String(), want)
	}

	srv.Close()
	routes = []routeStatus{{Route: "dns"}}
	stderr.Reset()
	addDaemonCounters(context.Background(), listen, routes, &stderr)
	if routes[0].Volume != nil || !strings.Contains(stderr.String(), "not available") {
		t.Errorf("without a daemon: %+v, stderr %q", routes[0].Volume, stderr.String())
	}
	if volumeLine(&bridge.VolumeStats{}) != "" {
		t.Error("a route without volume settings printed a volume line")
	}
}

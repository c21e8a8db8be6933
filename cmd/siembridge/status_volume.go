package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/metrics"
)

// daemonTimeout bounds status's request to the running daemon.
const daemonTimeout = 2 * time.Second

// daemonRoutes asks the daemon listening on listen (metrics.listen) for
// its /api/status and returns its routes by name: the counters only the
// running process knows (filtered, sampled out, shaped, bytes saved).
func daemonRoutes(ctx context.Context, listen string) (map[string]bridge.RouteStats, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // a bare :port binds loopback; 0.0.0.0 includes it
	}
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/api/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/api/status answered %s", resp.Status)
	}
	var st metrics.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("/api/status: %w", err)
	}
	out := make(map[string]bridge.RouteStats, len(st.Routes))
	for _, r := range st.Routes {
		out[r.Name] = r.RouteStats
	}
	return out, nil
}

// addDaemonCounters fills in each route's counters from the daemon, or
// says on stderr why it cannot.
func addDaemonCounters(ctx context.Context, listen string, routes []routeStatus, stderr io.Writer) {
	if listen == "" {
		return
	}
	byName, err := daemonRoutes(ctx, listen)
	if err != nil {
		fmt.Fprintf(stderr, "status: the daemon's counters (metrics.listen %s) are not available: %v\n", listen, err)
		return
	}
	for i := range routes {
		if r, ok := byName[routes[i].Route]; ok {
			v := r.Volume
			routes[i].Volume = &v
			routes[i].Budget = r.Budget
		}
	}
}

// volumeLine is a route's volume counters in one line, "" when the route
// filters, samples and shapes nothing.
func volumeLine(v *bridge.VolumeStats) string {
	if v == nil || v.InBytes == 0 {
		return ""
	}
	pct := 100 * float64(v.SavedBytes) / float64(v.InBytes)
	s := fmt.Sprintf("  volume: %d filtered (%s), %d sampled out (%s), %d shaped", v.Filtered, humanBytes(v.FilteredBytes),
		v.SampledOut, humanBytes(v.SampledOutBytes), v.Shaped)
	if v.NotJSON > 0 {
		s += fmt.Sprintf(", %d not JSON", v.NotJSON)
	}
	if v.RenameErrors > 0 {
		s += fmt.Sprintf(", %d rename errors", v.RenameErrors)
	}
	return s + fmt.Sprintf("; %s in, %s out, %s saved (%.1f%%)", humanBytes(v.InBytes), humanBytes(v.OutBytes), humanBytes(v.SavedBytes), pct)
}

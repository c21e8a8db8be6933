package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves src on a free loopback port; the server is closed at
// cleanup.
func startServer(t *testing.T, src Source, routes []config.Route) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	h.OnDelivered("elastic", 8000, 4<<20)
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Routes: routes, Version: "v1.2.3"}, src, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, reg
}

// get returns the status, Content-Type and body of a GET.
func get(t *testing.T, srv *Server, path string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + srv.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Idle keep-alive connections would outlive the test (goleak).
	c.CloseIdleConnections()
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestHealthz(t *testing.T) {
	src := &fakeSource{st: sampleStats()}
	srv, _ := startServer(t, src, nil)
	code, _, body := get(t, srv, "/healthz")
	if code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	// A route that cannot run fails /healthz: a restart may help.
	src.set(func(st *bridge.Stats) { st.Routes[1].RunError = "cannot create consumer group g2: out of brokers" })
	code, _, body = get(t, srv, "/healthz")
	if want := "route hec cannot run: cannot create consumer group g2: out of brokers\n"; code != http.StatusServiceUnavailable || body != want {
		t.Errorf("route cannot run: /healthz = %d %q, want 503 %q", code, body, want)
	}
}

func TestReadyz(t *testing.T) {
	src := &fakeSource{st: sampleStats()}
	srv, _ := startServer(t, src, nil)
	src.set(func(st *bridge.Stats) { st.Routes[1].SinkState = "up" })

	code, _, body := get(t, srv, "/readyz")
	if code != 200 || body != "ready\n" {
		t.Errorf("ready: /readyz = %d %q, want 200 ready", code, body)
	}
	for _, c := range []struct {
		name   string
		change func(*bridge.Stats)
		reason string
	}{
		{"sink down", func(st *bridge.Stats) { st.Routes[1].SinkState = "down" }, "route hec: sink splunk_hec is down\n"},
		{"sink degraded", func(st *bridge.Stats) {
			st.Routes[0].SinkState, st.Routes[0].SinkReason = "degraded", "status 403: security_exception: unauthorized"
		}, "route elastic: sink elasticsearch is degraded (status 403: security_exception: unauthorized)\n"},
		{"not joined", func(st *bridge.Stats) { st.Routes[0].Joined = false }, "route elastic: not a member of consumer group siembridge-elastic\n"},
		{"not running", func(st *bridge.Stats) { st.Running = false; st.Routes[1].SinkState = "down" }, "bridge not running: connecting to Kafka or shutting down\n"},
	} {
		src.set(func(st *bridge.Stats) {
			*st = sampleStats()
			st.Ready = false
			st.Routes[1].SinkState = "up"
			c.change(st)
		})
		code, _, body := get(t, srv, "/readyz")
		if code != http.StatusServiceUnavailable || body != c.reason {
			t.Errorf("%s: /readyz = %d %q, want 503 %q", c.name, code, body, c.reason)
		}
		if strings.Count(body, "\n") != 1 {
			t.Errorf("%s: reason is not one line: %q", c.name, body)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	cfg := parse(t, `
kafka: {brokers: ["localhost:9092"]}
routes:
  - name: elastic
    topics: [events, more-events]
    sink: {type: "null"}
    rate: {events_per_second: 2000, catchup_events_per_second: 4000, catchup_lag: 3000}
    batch: {max_events: 500, max_wait: 200ms}
    buffer: {max_events: 5000, max_bytes: 8MiB}
`)
	srv, _ := startServer(t, &fakeSource{st: sampleStats()}, cfg.Routes)
	before := time.Now().Add(-time.Second)
	code, ctype, body := get(t, srv, "/api/status")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("/api/status = %d %s", code, ctype)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decoding: %v\n%s", err, body)
	}
	if st.Version != "v1.2.3" || st.Time.Before(before) || st.Started.IsZero() || !st.Ready || st.NotReady != "" {
		t.Errorf("header fields: %+v", st)
	}
	if len(st.Routes) != 2 {
		t.Fatalf("routes: %d, want 2", len(st.Routes))
	}
	r := st.Routes[0]
	if r.Name != "elastic" || r.Delivered != 8000 || r.Lag != 7000 || r.Mode != "catch-up" || len(r.Partitions) != 2 ||
		!r.Partitions[0].OldestPending.Equal(statsNow.Add(-90*time.Second)) {
		t.Errorf("route stats: %+v", r.RouteStats)
	}
	want := Limits{
		Topics: []string{"events", "more-events"}, EventsPerSecond: 2000, CatchupEventsPerSecond: 4000, CatchupLag: 3000,
		Adaptive: true, BatchMaxEvents: 500, BatchMaxWaitSeconds: 0.2, BufferMaxEvents: 5000, BufferMaxBytes: 8 << 20,
	}
	if r.Limits == nil {
		t.Fatal("no limits for the configured route")
	}
	got := *r.Limits
	// Defaults the config fills in are not this test's business.
	got.Burst, got.BatchMaxBytes, got.Workers, got.AdaptiveFloor, got.BytesPerSecond, got.CatchupBytesPerSecond = 0, 0, 0, 0, 0, 0
	if gj, wj := mustJSON(t, got), mustJSON(t, want); gj != wj {
		t.Errorf("limits:\n got %s\nwant %s", gj, wj)
	}
	if st.Routes[1].Limits != nil {
		t.Errorf("route hec has no configuration, yet limits %+v", st.Routes[1].Limits)
	}

	// The raw shape: snake_case keys the page reads.
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "started", "version", "ready", "routes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/api/status lacks %q", k)
		}
	}
	route := raw["routes"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "sink_state", "mode", "effective_rate", "configured_rate", "adaptive", "delivered",
		"buffered_events", "buffer_max_events", "lag", "paused", "partitions", "limits"} {
		if _, ok := route[k]; !ok {
			t.Errorf("/api/status routes[0] lacks %q", k)
		}
	}
	part := route["partitions"].([]any)[0].(map[string]any)
	for _, k := range []string{"topic", "partition", "next", "log_end", "lag", "oldest_pending"} {
		if _, ok := part[k]; !ok {
			t.Errorf("/api/status partitions[0] lacks %q", k)
		}
	}
}

func TestHistory(t *testing.T) {
	src := &fakeSource{st: sampleStats()}
	srv, _ := startServer(t, src, nil)
	code, _, body := get(t, srv, "/api/history")
	if code != 200 {
		t.Fatalf("/api/history = %d", code)
	}
	var h History
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	s := h.Routes["elastic"]
	if len(s) == 0 || s[0].Delivered != 8000 || s[0].Lag != 7000 || s[0].Rate != 1500 {
		t.Errorf("history: %+v", h)
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		h.add(t0.Add(time.Duration(i)*time.Second), bridge.Stats{Routes: []bridge.RouteStats{{Name: "r", Delivered: int64(i)}}})
	}
	s := h.snapshot().Routes["r"]
	if len(s) != 3 || s[0].Delivered != 2 || s[2].Delivered != 4 || s[2].T != 1004000 {
		t.Errorf("ring keeps the last 3 samples oldest first, got %+v", s)
	}
}

func TestPage(t *testing.T) {
	srv, _ := startServer(t, &fakeSource{}, nil)
	code, ctype, body := get(t, srv, "/")
	if code != 200 || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("/ = %d %s", code, ctype)
	}
	for _, want := range []string{"<svg", "/api/status", "/api/history", `id="conn"`, "data-route"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: no other origin, no external file.
	for _, bad := range []string{`src="http`, `href="http`, "@import", "url(", `<script src`, `<link`} {
		if strings.Contains(body, bad) {
			t.Errorf("page refers to an external resource: %q", bad)
		}
	}
	if code, _, _ := get(t, srv, "/nope"); code != 404 {
		t.Errorf("/nope = %d, want 404", code)
	}
}

func TestPageCSP(t *testing.T) {
	srv, _ := startServer(t, &fakeSource{}, nil)
	resp, err := http.Get("http://" + srv.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Count(csp, "'sha256-") != 2 || !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q: want hashes of the inline script and style, and no unsafe-inline", csp)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv, _ := startServer(t, &fakeSource{}, nil)
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Post("http://"+srv.Addr()+"/api/status", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/status = %d, want 405", resp.StatusCode)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	srv, _ := startServer(t, &fakeSource{st: sampleStats()}, nil)
	code, _, body := get(t, srv, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`siembridge_events_delivered_total{route="elastic"} 8000`,
		`siembridge_consumer_lag_events{partition="0",route="elastic",topic="events"} 4000`,
		`siembridge_sink_up{route="hec"} 0`,
		`siembridge_rate_mode{mode="catch-up",route="elastic"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestListenAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{":9108", "127.0.0.1:9108"},
		{"127.0.0.1:9108", "127.0.0.1:9108"},
		{"0.0.0.0:9108", "0.0.0.0:9108"},
		{"[::1]:9108", "[::1]:9108"},
		{"localhost:0", "localhost:0"},
	} {
		got, err := ListenAddr(c.in)
		if err != nil || got != c.want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := ListenAddr("9108"); err == nil {
		t.Error(`ListenAddr("9108"): want an error`)
	}
}

func TestDefaultLoopback(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := NewServer(ServerConfig{Listen: ":0"}, &fakeSource{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	host, _, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("Listen :0 bound %s, want 127.0.0.1", srv.Addr())
	}
}

func TestAddressInUse(t *testing.T) {
	srv, _ := startServer(t, &fakeSource{}, nil)
	_, err := NewServer(ServerConfig{Listen: srv.Addr()}, &fakeSource{}, prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("second server on %s: err %v, want a metrics.listen error", srv.Addr(), err)
	}
}

// TestCloseBounded holds a request in flight: Close returns when its
// context ends, and every goroutine is gone once the request finishes.
func TestCloseBounded(t *testing.T) {
	src := &fakeSource{st: sampleStats()}
	reg := prometheus.NewRegistry()
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0"}, src, reg)
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	src.set(func(*bridge.Stats) {})
	src.mu.Lock()
	src.block = block
	src.mu.Unlock()

	c := &http.Client{Timeout: 10 * time.Second}
	reqDone := make(chan error, 1)
	go func() {
		resp, err := c.Get("http://" + srv.Addr() + "/api/status")
		if err == nil {
			resp.Body.Close()
		}
		reqDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // the request reaches Stats

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = srv.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a request in flight: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s despite a 100ms context", d)
	}
	if again := srv.Close(context.Background()); !errors.Is(again, context.DeadlineExceeded) {
		t.Errorf("second Close: %v, want the first result", again)
	}
	close(block)
	<-reqDone
	c.CloseIdleConnections()
}

func TestNewServerErrors(t *testing.T) {
	if _, err := NewServer(ServerConfig{Listen: "127.0.0.1:0"}, nil, prometheus.NewRegistry()); err == nil {
		t.Error("nil source: want an error")
	}
	if _, err := NewServer(ServerConfig{Listen: "nope"}, &fakeSource{}, prometheus.NewRegistry()); err == nil {
		t.Error("bad address: want an error")
	}
	// The collector is registered once per registry.
	reg := prometheus.NewRegistry()
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0"}, &fakeSource{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if _, err := NewServer(ServerConfig{Listen: "127.0.0.1:0"}, &fakeSource{}, reg); err == nil {
		t.Error("second server on one registry: want an error")
	}
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

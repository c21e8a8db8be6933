package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/internal/demo"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/metrics"
	"github.com/siembridge/siembridge/web"
)

// chromiumBinary returns Debian's chromium. Without it the test is skipped,
// except in CI (CI=true), where it fails: the CI image must have it.
func chromiumBinary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium) and CI=true: the browser tests must run in CI")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// chromium runs the headless browser on url with extra flags and returns
// its standard output.
func chromium(t testing.TB, url string, extra ...string) string {
	t.Helper()
	bin := chromiumBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\nstderr:\n%s", err, tail(stderr.String(), 2000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// domElement returns the first start tag in dom that carries attr="value".
func domElement(dom, attr, value string) (string, bool) {
	i := strings.Index(dom, attr+`="`+value+`"`)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndex(dom[:i], "<")
	end := strings.Index(dom[i:], ">")
	if start < 0 || end < 0 {
		return "", false
	}
	return dom[start : i+end+1], true
}

var attrRE = regexp.MustCompile(`([a-zA-Z-]+)="([^"]*)"`)

// attr returns an attribute of a start tag.
func attr(tag, name string) string {
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

// routeSection returns the markup of the route's <section>.
func routeSection(t testing.TB, dom, route string) string {
	t.Helper()
	i := strings.Index(dom, `data-route="`+route+`"`)
	if i < 0 {
		t.Fatalf("the page shows no route %q:\n%s", route, tail(dom, 3000))
	}
	s := dom[strings.LastIndex(dom[:i], "<"):]
	if end := strings.Index(s, "</section>"); end >= 0 {
		s = s[:end]
	}
	return s
}

// fieldValue returns the data-value of the element with data-field=field.
func fieldValue(t testing.TB, section, field string) string {
	t.Helper()
	tag, ok := domElement(section, "data-field", field)
	if !ok {
		t.Fatalf("no data-field=%q on the page", field)
	}
	return attr(tag, "data-value")
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func getText(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatusPageInBrowser runs Kafka, a SIEM, the bridge and the metrics
// server, delivers a known number of events, and checks that the page a
// real browser renders shows what /api/status says.
func TestStatusPageInBrowser(t *testing.T) {
	chromiumBinary(t)
	const (
		topic      = "events"
		partitions = 3
		n          = 3000
	)
	cluster := startCluster(t, partitions, topic, "events-dlq")
	es := startES(t, esfake.Options{})
	produceSeq(t, cluster.Brokers(), topic, partitions, 1, n, nil)

	cfg := parseConfig(t, routeYAML(cluster.Brokers(), topic, es.URL(), "events-dlq",
		"    rate: {events_per_second: 20000, catchup_lag: 100000}"))
	reg := metrics.NewRegistry()
	hooks, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runBridge(t, cfg, bridge.WithHooks(hooks))
	srv, err := metrics.NewServer(metrics.ServerConfig{Listen: "127.0.0.1:0", Routes: cfg.Routes, Version: "v0.0.0-test"}, b, reg,
		metrics.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("closing the metrics server: %v", err)
		}
	})
	base := "http://" + srv.Addr()

	waitFor(t, 60*time.Second, "every event delivered, lag 0 on every partition", func() bool {
		st := b.Stats()
		rs := st.Routes[0]
		if !st.Ready || rs.Delivered < n || len(rs.Partitions) != partitions {
			return false
		}
		for _, p := range rs.Partitions {
			if p.LogEnd == 0 || p.Lag != 0 {
				return false
			}
		}
		return true
	})

	var st metrics.Status
	getJSON(t, base+"/api/status", &st)
	api := st.Routes[0]
	if api.Delivered != n {
		t.Fatalf("/api/status delivered %d, want %d", api.Delivered, n)
	}

	dom := chromium(t, base+"/", "--dump-dom")
	if tag, _ := domElement(dom, "id", "conn"); attr(tag, "data-state") != "ok" {
		t.Errorf("connection indicator %q, want data-state ok", tag)
	}
	if tag, _ := domElement(dom, "id", "ready"); attr(tag, "data-value") != "true" {
		t.Errorf("ready badge %q, want data-value true", tag)
	}
	sec := routeSection(t, dom, "elastic")
	for field, want := range map[string]string{
		"name":          "elastic",
		"delivered":     strconv.FormatInt(api.Delivered, 10),
		"dead_lettered": strconv.FormatInt(api.DeadLettered, 10),
		"consumed":      strconv.FormatInt(api.Consumed, 10),
		"lag":           "0",
		"sink_state":    api.SinkState,
		"mode":          api.Mode,
		"rate_text":     strconv.FormatFloat(api.EffectiveRate, 'f', -1, 64),
		// the adaptive concurrency beside the rate (issue 14)
		"concurrency_text": strconv.Itoa(api.Concurrency.Limit),
	} {
		if got := fieldValue(t, sec, field); got != want {
			t.Errorf("page %s = %q, /api/status says %q", field, got, want)
		}
	}
	if api.SinkState != "up" || api.Mode != "live" {
		t.Errorf("/api/status: sink %s mode %s, want up and live", api.SinkState, api.Mode)
	}
	// The human text matches too, not only the data attributes.
	if tag, _ := domElement(sec, "data-field", "delivered"); !strings.Contains(sec, tag+"3,000<") {
		t.Errorf("delivered is not shown as 3,000: %s", tag)
	}
	for _, p := range api.Partitions {
		row, ok := domElement(sec, "data-partition", strconv.Itoa(int(p.Partition)))
		if !ok || attr(row, "data-topic") != p.Topic {
			t.Errorf("no row for %s/%d", p.Topic, p.Partition)
			continue
		}
		i := strings.Index(sec, row)
		tr := sec[i : i+strings.Index(sec[i:], "</tr>")]
		for field, want := range map[string]int64{"next": p.Next, "log_end": p.LogEnd, "lag": p.Lag} {
			if got := fieldValue(t, tr, field); got != strconv.FormatInt(want, 10) {
				t.Errorf("partition %d %s: page %s, /api/status %d", p.Partition, field, got, want)
			}
		}
	}
	for _, chart := range []string{"throughput", "lag"} {
		if _, ok := domElement(sec, "data-chart", chart); !ok {
			t.Errorf("no %s chart", chart)
		}
	}
	if !strings.Contains(sec, `<path class="lag"`) {
		t.Errorf("the lag chart has no line")
	}

	// The same bridge through Prometheus: hooks and the Stats collector.
	text := getText(t, base+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`siembridge_events_delivered_total{route="elastic"} %d`, n),
		fmt.Sprintf(`siembridge_events_consumed_total{route="elastic"} %d`, n),
		`siembridge_sink_up{route="elastic"} 1`,
		`siembridge_ready 1`,
		`siembridge_rate_mode{mode="live",route="elastic"} 1`,
		`siembridge_consumer_lag_events{partition="2",route="elastic",topic="events"} 0`,
		`siembridge_committed_offset{partition="0",route="elastic",topic="events"} 1000`,
		`siembridge_sink_request_duration_seconds_count{outcome="ok",route="elastic"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := getStatus(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d with the group joined and the sink up", code)
	}
}

func getStatus(t testing.TB, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestStatusPageAPIUnreachable serves the page next to an API that fails:
// the page must say so rather than show numbers.
func TestStatusPageAPIUnreachable(t *testing.T) {
	chromiumBinary(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", web.Handler())
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bridge gone", http.StatusBadGateway)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()

	dom := chromium(t, ts.URL+"/", "--dump-dom")
	if tag, _ := domElement(dom, "id", "conn"); attr(tag, "data-state") != "unreachable" {
		t.Errorf("connection indicator %q, want data-state unreachable", tag)
	}
	banner, ok := domElement(dom, "id", "banner")
	if !ok || strings.Contains(banner, "hidden") {
		t.Fatalf("the unreachable banner is not shown: %q", banner)
	}
	if !strings.Contains(dom, "Status API unreachable (HTTP 502)") {
		t.Errorf("the banner does not say why:\n%s", tail(dom, 2000))
	}
	if regexp.MustCompile(`<section[^>]*data-route=`).MatchString(dom) {
		t.Errorf("a route is shown without data")
	}
}

// TestStatusPageScreenshot regenerates docs/status-page.png from a demo run
// with an outage and the catch-up after it. It runs only when asked:
//
//	SIEMBRIDGE_SCREENSHOT=$PWD/docs/status-page.png go test ./integration -run Screenshot -v -timeout 10m
func TestStatusPageScreenshot(t *testing.T) {
	out := os.Getenv("SIEMBRIDGE_SCREENSHOT")
	if out == "" {
		t.Skip("set SIEMBRIDGE_SCREENSHOT=<png path> to take the screenshot")
	}
	chromiumBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := demo.Run(ctx, demo.Options{Duration: 180 * time.Second, Outage: 30 * time.Second, Listen: addr}, io.Discard)
		done <- err
	}()
	base := "http://" + addr
	// After the outage (54s to 84s): catching up, lag shrinking.
	var st metrics.Status
	waitFor(t, 150*time.Second, "catching up after the outage", func() bool {
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v", err)
		default:
		}
		c := &http.Client{Timeout: time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Get(base + "/api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Routes) == 0 {
			return false
		}
		r := st.Routes[0]
		return time.Since(st.Started) > 95*time.Second && r.SinkState == "up" && r.Lag > 0
	})
	chromium(t, base+"/", "--window-size=1280,900", "--screenshot="+out)
	t.Logf("wrote %s (lag %d, mode %s)", out, st.Routes[0].Lag, st.Routes[0].Mode)
	cancel()
	<-done
}

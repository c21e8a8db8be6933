package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/metrics"
	"github.com/siembridge/siembridge/web"
)

// TestStatusPageVolume: a route that filters, samples and shapes shows
// the bytes it saved, with the share and the counts, in its Saved tile; a
// route without volume settings shows a dash.
func TestStatusPageVolume(t *testing.T) {
	chromiumBinary(t)
	now := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	st := metrics.Status{Time: now, Started: now.Add(-time.Hour), Version: "v0.0.0-test", Ready: true, Routes: []metrics.RouteStatus{
		{RouteStats: bridge.RouteStats{Name: "trimmed", SinkState: "up", Mode: "live", Joined: true, Volume: bridge.VolumeStats{
			Filtered: 1983, FilteredBytes: 1 << 20, SampledOut: 4617, SampledOutBytes: 3 << 20, Shaped: 13400, NotJSON: 5,
			InBytes: 14 << 20, OutBytes: 7 << 20, SavedBytes: 7 << 20,
		}}},
		{RouteStats: bridge.RouteStats{Name: "plain", SinkState: "up", Mode: "live", Joined: true}},
	}}
	dom := staticStatusDOM(t, st)
	trimmed := routeSection(t, dom, "trimmed")
	if v := fieldValue(t, trimmed, "saved_bytes"); v != "7340032" {
		t.Errorf("saved_bytes value %q, want 7340032", v)
	}
	for _, want := range []string{"7 MiB (50%)", "1,983 filtered, 4,617 sampled out, 13,400 shaped, 5 not JSON"} {
		if !strings.Contains(trimmed, want) {
			t.Errorf("the trimmed route lacks %q:\n%s", want, around(trimmed, "Saved", 600))
		}
	}
	plain := routeSection(t, dom, "plain")
	if tag, _ := domElement(plain, "data-field", "saved_bytes"); !strings.Contains(plain, tag+"—<") {
		t.Errorf("a route without volume settings shows savings:\n%s", around(plain, "Saved", 600))
	}
}

// staticStatusDOM serves the status page beside an API that answers st
// (and 404 for the rest), loads the page in chromium and returns its DOM.
func staticStatusDOM(t *testing.T, st metrics.Status) string {
	t.Helper()
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", web.Handler())
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) })
	ts := httptest.NewServer(mux)
	defer ts.Close()
	return chromium(t, ts.URL+"/", "--dump-dom")
}

// around is the text of s from marker on, at most n bytes.
func around(s, marker string, n int) string {
	i := max(0, strings.Index(s, marker))
	return s[i:min(len(s), i+n)]
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/replay"
)

// TestReplayFilterFlag: --filter compiles with the route filter language
// into replay.Options.Filter; a bad expression is a usage error naming
// --filter and the position, before Kafka is contacted.
func TestReplayFilterFlag(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "siembridge.yaml")
	if err := os.WriteFile(cfg, []byte(replayTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"replay", "--config", cfg, "--route", "elastic", "--from", "-1h", "--to", "now",
		"--checkpoint", filepath.Join(dir, "cp.json")}

	var stdout, stderr bytes.Buffer
	code := realMain(append(args, "--filter", `host.name == "a" && cidr_match(source.ip, "10.0.0.0/8")`), &stdout, &stderr)
	want := `siembridge replay: --filter: line 1, column 21: undeclared reference to 'cidr_match'`
	if code != exitUsage || lastLine(stderr.String()) != want {
		t.Fatalf("exit %d, last line %q; want %d, %q", code, lastLine(stderr.String()), exitUsage, want)
	}

	r, err := newReplayRun(append(args[1:], "--filter", `host.name == "web-01" || cidr(source.ip, "10.0.0.0/8")`), &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if r.opts.Filter == nil {
		t.Fatal("--filter set no replay.Options.Filter")
	}
	for doc, want := range map[string]bool{
		`{"host":{"name":"web-01"}}`:                             true,
		`{"host":{"name":"web-02"},"source":{"ip":"10.9.8.7"}}`:  true,
		`{"host":{"name":"web-02"},"source":{"ip":"192.0.2.1"}}`: false,
		`not json`: false,
	} {
		if got := r.opts.Filter(event.New("events", 0, 0, time.Time{}, nil, []byte(doc))); got != want {
			t.Errorf("filter(%s) = %v, want %v", doc, got, want)
		}
	}

	r, err = newReplayRun(args[1:], &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if r.opts.Filter != nil {
		t.Error("no --filter, yet a replay.Options.Filter")
	}
}

// TestReplayFilterSummary: with a filter the summary counts the events
// read, matched (delivered or dead-lettered) and filtered out.
func TestReplayFilterSummary(t *testing.T) {
	r := &replayRun{route: "elastic", opts: replay.Options{Filter: func(*event.Event) bool { return true }}}
	var out bytes.Buffer
	r.printComplete(&out, replay.Result{Progress: replay.Progress{Delivered: 38, DeadLettered: 2, Filtered: 960}, Complete: true})
	if want := "complete: 1000 events read, 40 matched, 960 filtered out; 38 events delivered, 2 dead-lettered,"; !strings.Contains(out.String(), want) {
		t.Errorf("summary %q does not contain %q", out.String(), want)
	}
	r.opts.Filter = nil
	out.Reset()
	r.printComplete(&out, replay.Result{Progress: replay.Progress{Delivered: 38}, Complete: true})
	if strings.Contains(out.String(), "matched") {
		t.Errorf("summary without a filter counts matches: %q", out.String())
	}
}

// TestBadRouteFilterExpression: a route filter that does not compile
// stops run, check and replay at load time with one line naming the field
// and the position, exit 2.
func TestBadRouteFilterExpression(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "siembridge.yaml")
	body := strings.Replace(replayTestConfig, "    topics: [events]\n    sink:\n      type: file",
		"    topics: [events]\n    filter: 'event.action == \"deny\" && cidr_match(source.ip, \"10.0.0.0/8\")'\n    sink:\n      type: file", 1)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `routes[1].filter: line 1, column 27: undeclared reference to 'cidr_match'`
	for _, args := range [][]string{
		{"run", "--config", cfg},
		{"check", "--config", cfg},
		{"replay", "--config", cfg, "--route", "archive", "--from", "-1h", "--to", "now"},
	} {
		var stdout, stderr bytes.Buffer
		code := realMain(args, &stdout, &stderr)
		if last := lastLine(stderr.String() + stdout.String()); code != exitUsage || !strings.Contains(stderr.String()+stdout.String(), want) {
			t.Errorf("%s: exit %d, last line %q; want %d and %q", args[0], code, last, exitUsage, want)
		}
	}
}

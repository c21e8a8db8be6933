package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/preview"
	"github.com/siembridge/siembridge/replay"
)

// previewYAML is the README's "Cutting SIEM volume" route, on the topic
// the test generates.
const previewYAML = `kafka:
  brokers: [%q]
routes:
  - name: siem
    topics: [gen]
    filter: >-
      event.module in ["windows", "auditd"] ||
      ("denied" in event.type && network.direction == "inbound") ||
      event.dataset == "network_traffic.dns"
    sample:
      rate: 0.1
      key: source.ip
      when: 'event.dataset == "network_traffic.dns"'
    drop_fields: [agent, ecs, host.os, winlog.logon.failure, observer.ingress]
    sink: {type: "null"}
`

// TestPreviewCommand: generate the demo's events into a kfake topic, then
// preview the README's route on them: the table's rows add up with the
// JSON report, the examples are shaped, and nothing is committed.
func TestPreviewCommand(t *testing.T) {
	k := testKafkaCluster(t, 1, nil)
	const n = 3000
	if code, out, errOut := testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "gen", "--rate", "0",
		"--count", fmt.Sprint(n), "--partitions", "2"); code != exitOK {
		t.Fatalf("generate: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(previewYAML, k.Brokers()[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := testRunMain("preview", "--config", cfg, "--route", "siem", "--from", "-10m", "--to", "now", "--show", "2")
	if code != exitOK {
		t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
	}
	code, js, errOut := testRunMain("preview", "--config", cfg, "--from", "-10m", "--to", "now", "--json")
	if code != exitOK {
		t.Fatalf("preview --json: exit %d\n%s%s", code, js, errOut)
	}
	var rep preview.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Read.Events != n || !rep.Complete || rep.Partitions != 2 {
		t.Fatalf("read %d events of %d partitions (complete %v), want %d of 2", rep.Read.Events, rep.Partitions, rep.Complete, n)
	}
	if !(rep.AfterFilter.Events < rep.Read.Events && rep.AfterSample.Events < rep.AfterFilter.Events &&
		rep.Sent.Events == rep.AfterSample.Events && rep.Sent.Bytes < rep.AfterSample.Bytes && rep.Shaped == rep.Sent.Events) {
		t.Errorf("steps do not each cut: %+v", rep)
	}
	for _, row := range []struct {
		name string
		c    preview.Count
	}{{"read", rep.Read}, {"filter", rep.AfterFilter}, {"sample", rep.AfterSample}, {"shape", rep.Sent}, {"sent", rep.Sent}} {
		re := regexp.MustCompile(`(?m)^\s*` + row.name + `\s+` + fmt.Sprint(row.c.Events) + `\s+` + regexp.QuoteMeta(humanBytes(row.c.Bytes)) + `\s`)
		if !re.MatchString(out) {
			t.Errorf("no row %q with %d events and %s in\n%s", row.name, row.c.Events, humanBytes(row.c.Bytes), out)
		}
	}
	examples := regexp.MustCompile(`(?m)^gen\+\d\+\d+  \{.*\}$`).FindAllString(out, -1)
	if len(examples) != 2 {
		t.Fatalf("%d example lines, want 2:\n%s", len(examples), out)
	}
	for _, ex := range examples {
		if strings.Contains(ex, `"agent"`) || strings.Contains(ex, `"ecs"`) || !strings.Contains(ex, `"@timestamp"`) {
			t.Errorf("example not shaped: %s", ex)
		}
	}
	if !strings.Contains(out, "nothing was sent") || !strings.Contains(out, fmt.Sprintf("saved: %d of %d events", n-rep.Sent.Events, n)) {
		t.Errorf("output:\n%s", out)
	}
	if code, _, errOut := testRunMain("preview", "--config", cfg, "--limit", "0"); code != exitUsage || !strings.Contains(errOut, "--limit") {
		t.Errorf("--limit 0: exit %d, %s", code, errOut)
	}
	t.Logf("preview output:\n%s", out)
}

// TestReplaySampledSummary: a replay of a sampling route counts the events
// its sampling left out in the summary.
func TestReplaySampledSummary(t *testing.T) {
	r := &replayRun{route: "dns"}
	var out bytes.Buffer
	r.printComplete(&out, replay.Result{Progress: replay.Progress{Delivered: 100, Filtered: 300, SampledOut: 600}, Complete: true})
	if want := "complete: 1000 events read, 100 matched, 300 filtered out, 600 sampled out; 100 events delivered"; !strings.Contains(out.String(), want) {
		t.Errorf("summary %q does not contain %q", out.String(), want)
	}
}

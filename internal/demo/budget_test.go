package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
)

// The budget clock's first day ends at 55 % of the run, at midnight UTC.
func TestBudgetClock(t *testing.T) {
	start := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	clk, dayEnds := budgetClock(start, 60*time.Second)
	if want := start.Add(33 * time.Second); !dayEnds.Equal(want) {
		t.Fatalf("day ends at %v, want %v", dayEnds, want)
	}
	if at := dayEnds.Add(clk.off); !at.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("on the budget clock the day ends at %v, not midnight", at)
	}
	cfg, err := config.Parse([]byte(`kafka: {brokers: ["k:9092"]}
routes:
  - name: r
    topics: [t]
    sink: {type: "null"}
` + budgetBlock(20*config.MiB)))
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Routes[0].Budget; b == nil || b.BytesPerDay != 20*config.MiB || b.Priority != budgetPriority {
		t.Fatalf("budget block parsed to %+v", b)
	}
}

// TestDemoBudget: the budget runs out, failed logons still flow, the rest
// waits in Kafka; at the new day it drains until the budget runs out
// again. At the end every event is delivered, dead-lettered or still
// waiting in Kafka after its partition's commit — none lost.
func TestDemoBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for up to 5 s")
	}
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{
		Duration: 5 * time.Second, Rate: 600, Outage: -1, BadEvery: 100, Budget: 400 * config.KiB,
	}, &out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if sum.Lost != 0 || sum.Duplicates != 0 || sum.Waiting == 0 {
		t.Fatalf("lost %d, duplicates %d, waiting %d\n%s", sum.Lost, sum.Duplicates, sum.Waiting, out.String())
	}
	if sum.Delivered+sum.DeadLettered+sum.Waiting != sum.Produced {
		t.Fatalf("delivered %d + dead-lettered %d + waiting %d != produced %d", sum.Delivered, sum.DeadLettered, sum.Waiting, sum.Produced)
	}
	s := out.String()
	day1, day2, ok := strings.Cut(s, "a new budget day")
	if !ok {
		t.Fatalf("no new budget day:\n%s", s)
	}
	if !strings.Contains(day1, "spent, ") || !strings.Contains(day1, "waiting in Kafka") {
		t.Errorf("the budget did not run out on the first day:\n%s", s)
	}
	// The next day starts with budget left (a live line without "spent"),
	// and the deferred events drain until it runs out again.
	open := false
	for line := range strings.Lines(day2) {
		open = open || (strings.Contains(line, "| budget ") && !strings.Contains(line, "spent"))
	}
	if !open || !strings.Contains(day2, "still waiting in Kafka for the next day") {
		t.Errorf("no drain on the second day:\n%s", s)
	}
}

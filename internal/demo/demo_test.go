package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs a short demo: the SIEM goes down in the middle, events are
// rejected by its mapping, and at the end every produced event is in the
// SIEM or the dead-letter topic, once.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for up to 25 s")
	}
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{
		Duration: 25 * time.Second,
		Rate:     1000,
		Outage:   3 * time.Second,
		BadEvery: 100,
	}, &out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if sum.Produced < 5000 {
		t.Fatalf("produced only %d events\n%s", sum.Produced, out.String())
	}
	if sum.Lost != 0 || sum.Duplicates != 0 {
		t.Fatalf("lost %d, duplicates %d\n%s", sum.Lost, sum.Duplicates, out.String())
	}
	if sum.Delivered+sum.DeadLettered != sum.Produced {
		t.Fatalf("delivered %d + dead-lettered %d != produced %d", sum.Delivered, sum.DeadLettered, sum.Produced)
	}
	// Every 200th event is rejected by the SIEM's mapping.
	if want := sum.Produced / 200; sum.DeadLettered != want {
		t.Errorf("dead-lettered %d, want %d", sum.DeadLettered, want)
	}
	s := out.String()
	for _, want := range []string{"SIEM down for maintenance", "sink down", "SIEM back", "summary: produced", "lost 0"} {
		if !strings.Contains(s, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, s)
		}
	}
	if sum.MaxLag == 0 {
		t.Errorf("max lag 0: the outage held nothing back")
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/budget"
)

func TestBudgetLines(t *testing.T) {
	now := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		b    *bridge.BudgetStats
		want []string
	}{
		{"none", nil, nil},
		{"running out", &bridge.BudgetStats{Stats: budget.Stats{LimitBytes: 400 << 30, SpentBytes: 300 << 30, NextReset: reset,
			ExhaustsAt: now.Add(90 * time.Minute)}},
			[]string{"  budget: 300.0GiB of 400.0GiB (75%); runs out in 1h30m0s (21:30:00Z) at the current rate, resets in 4h0m0s (00:00:00Z)"}},
		{"lasting", &bridge.BudgetStats{Stats: budget.Stats{LimitEvents: 1000, SpentEvents: 10, NextReset: reset}},
			[]string{"  budget: 10 of 1000 events (1%); lasts the day at the current rate, resets in 4h0m0s (00:00:00Z)"}},
		{"spent, deferring, near retention", &bridge.BudgetStats{
			Stats: budget.Stats{LimitBytes: 1 << 30, SpentBytes: 1 << 30, Spent: true, SpentAt: now.Add(-time.Hour), NextReset: reset,
				Deferred: 5000, Dropped: 0},
			Pending: 4000, PendingBytes: 3 << 20, OldestDeferred: now.Add(-time.Hour), NearRetention: 2},
			[]string{
				"  budget: 1.0GiB of 1.0GiB (100%); SPENT at 19:00:00Z, resets in 4h0m0s (00:00:00Z)",
				"  budget: 4000 events (3.0MiB) waiting in Kafka, oldest " + fmtBehind(3600) + " old; 5000 deferred, 0 dropped since start",
				"  WARNING: deferred events of 2 partitions are within 20% of the topic's retention and may be deleted before they are sent",
			}},
	}
	for _, tt := range tests {
		got := budgetLines(tt.b, now)
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

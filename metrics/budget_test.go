package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/budget"
)

// A route with a budget has its series, with remaining and limit only
// for the caps it sets; a route without one has none.
func TestBudgetSeries(t *testing.T) {
	st := bridge.Stats{Routes: []bridge.RouteStats{{
		Name: "capped", Mode: "live",
		Budget: &bridge.BudgetStats{
			Stats: budget.Stats{
				LimitBytes: 1000, SpentBytes: 1000, RemainingBytes: 0, RemainingEvents: -1, SpentEvents: 10,
				Spent: true, NextReset: statsNow.Add(2 * time.Hour),
				Deferred: 40, DeferredBytes: 4000, Dropped: 0,
			},
			Pending: 30, PendingBytes: 3000, OldestDeferred: statsNow.Add(-time.Minute), NearRetention: 1,
		},
	}, {Name: "plain", Mode: "live"}}}
	c := NewCollector(&fakeSource{st: st})
	c.now = func() time.Time { return statsNow }
	got := collect(t, c)
	want := map[string]float64{
		"siembridge_budget_limit_bytes":                  1000,
		"siembridge_budget_remaining_bytes":              0,
		"siembridge_budget_spent_bytes":                  1000,
		"siembridge_budget_spent_events":                 10,
		"siembridge_budget_spent":                        1,
		"siembridge_budget_exhaustion_timestamp_seconds": 0,
		"siembridge_budget_next_reset_timestamp_seconds": float64(statsNow.Add(2 * time.Hour).Unix()),
		"siembridge_budget_deferred_events_total":        40,
		"siembridge_budget_deferred_bytes_total":         4000,
		"siembridge_budget_dropped_events_total":         0,
		"siembridge_budget_dropped_bytes_total":          0,
		"siembridge_budget_pending_events":               30,
		"siembridge_budget_pending_bytes":                3000,
		"siembridge_budget_oldest_deferred_age_seconds":  60,
		"siembridge_budget_near_retention_partitions":    1,
	}
	n := 0
	for k, v := range got {
		if !strings.HasPrefix(k, "siembridge_budget_") {
			continue
		}
		n++
		name, labels, _ := strings.Cut(k, "{")
		if labels != `route="capped"}` {
			t.Errorf("%s: a series for another route", k)
		}
		if w, ok := want[name]; !ok || w != v {
			t.Errorf("%s = %v, want %v (listed: %v)", k, v, w, ok)
		}
	}
	if n != len(want) {
		t.Errorf("%d budget series, want %d", n, len(want))
	}
}

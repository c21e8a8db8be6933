package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/budget"
	"github.com/siembridge/siembridge/metrics"
)

// TestStatusPageBudget: a route with a spent budget and deferred events
// near retention shows the budget bar (spent, reset, waiting in Kafka)
// and the retention badge; a route without a budget shows neither.
func TestStatusPageBudget(t *testing.T) {
	chromiumBinary(t)
	now := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	st := metrics.Status{Time: now, Started: now.Add(-time.Hour), Version: "v0.0.0-test", Ready: true, Routes: []metrics.RouteStatus{
		{RouteStats: bridge.RouteStats{Name: "capped", SinkState: "up", Mode: "live", Joined: true, Budget: &bridge.BudgetStats{
			Stats: budget.Stats{LimitBytes: 400 << 30, SpentBytes: 410 << 30, Spent: true, NextReset: now.Add(4 * time.Hour),
				DayStart: now.Add(-20 * time.Hour), RemainingBytes: 0, RemainingEvents: -1, Deferred: 1200},
			Pending: 1200, PendingBytes: 1 << 20, OldestDeferred: now.Add(-90 * time.Minute), NearRetention: 2,
		}}},
		{RouteStats: bridge.RouteStats{Name: "free", SinkState: "up", Mode: "live", Joined: true}},
	}}
	dom := staticStatusDOM(t, st)
	capped := routeSection(t, dom, "capped")
	if row, _ := domElement(capped, "data-field", "budget_row"); strings.Contains(row, "hidden") {
		t.Errorf("the budget row of a route with a budget is hidden: %q", row)
	}
	text := fieldValue(t, capped, "budget_text")
	if text == "" || text[0] != '1' { // data-value: the share spent, 410/400
		t.Errorf("budget_text value %q, want the share spent (1.025)", text)
	}
	for _, want := range []string{"410 GiB / 400 GiB (102%)", "spent, resets", "1,200 waiting in Kafka", "oldest 1.5 h", "deferred near retention: 2"} {
		if !strings.Contains(capped, want) {
			t.Errorf("the capped route lacks %q:\n%s", want, tail(capped, 3000))
		}
	}
	free := routeSection(t, dom, "free")
	if row, _ := domElement(free, "data-field", "budget_row"); !strings.Contains(row, "hidden") {
		t.Errorf("the budget row of a route without a budget is shown: %q", row)
	}
	if warn, _ := domElement(free, "data-field", "budget_warn"); !strings.Contains(warn, "hidden") {
		t.Errorf("the retention badge of a route without a budget is shown: %q", warn)
	}
}

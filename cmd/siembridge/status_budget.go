package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/siembridge/siembridge/bridge"
)

// budgetLines is a route's daily budget in `siembridge status`: what was
// spent of it, when it runs out or resets, and what waits in Kafka; none
// without a budget. now is the time the "in" durations count from.
func budgetLines(b *bridge.BudgetStats, now time.Time) []string {
	if b == nil {
		return nil
	}
	var caps []string
	if b.LimitBytes > 0 {
		caps = append(caps, fmt.Sprintf("%s of %s (%s)", humanBytes(b.SpentBytes), humanBytes(b.LimitBytes), budgetPct(b.SpentBytes, b.LimitBytes)))
	}
	if b.LimitEvents > 0 {
		caps = append(caps, fmt.Sprintf("%d of %d events (%s)", b.SpentEvents, b.LimitEvents, budgetPct(b.SpentEvents, b.LimitEvents)))
	}
	line := "  budget: " + strings.Join(caps, ", ")
	switch {
	case b.Spent:
		line += fmt.Sprintf("; SPENT at %s, resets %s", clockTime(b.SpentAt), in(now, b.NextReset))
	case !b.ExhaustsAt.IsZero():
		line += fmt.Sprintf("; runs out %s at the current rate, resets %s", in(now, b.ExhaustsAt), in(now, b.NextReset))
	default:
		line += "; lasts the day at the current rate, resets " + in(now, b.NextReset)
	}
	out := []string{line}
	if b.Pending > 0 || b.Deferred > 0 || b.Dropped > 0 {
		s := fmt.Sprintf("  budget: %d events (%s) waiting in Kafka", b.Pending, humanBytes(b.PendingBytes))
		if !b.OldestDeferred.IsZero() {
			s += ", oldest " + fmtBehind(now.Sub(b.OldestDeferred).Seconds()) + " old"
		}
		s += fmt.Sprintf("; %d deferred, %d dropped since start", b.Deferred, b.Dropped)
		out = append(out, s)
	}
	if b.NearRetention > 0 {
		out = append(out, fmt.Sprintf("  WARNING: deferred events of %d partition%s are within 20%% of the topic's retention and may be deleted before they are sent",
			b.NearRetention, pluralS(int(b.NearRetention))))
	}
	return out
}

func budgetPct(n, of int64) string { return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of)) }

func clockTime(t time.Time) string { return t.UTC().Format("15:04:05Z") }

// in says when t is, from now: "in 2h05m (23:00:00Z)".
func in(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("in %s (%s)", t.Sub(now).Round(time.Minute), clockTime(t))
}

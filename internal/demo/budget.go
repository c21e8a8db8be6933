package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// With Options.Budget the demo's route gets a daily budget
// (routes[].budget) in which failed logons have priority, and a budget
// clock on which the day ends at budgetDayEnds of the run: the budget runs
// out on the first day, the surplus waits in Kafka, and the next day it
// drains at the catch-up rate.
const (
	budgetDayEnds  = 0.55
	budgetPriority = `"authentication" in event.category`
)

// offsetClock is the system clock moved by a fixed offset.
type offsetClock struct{ off time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.off) }

func (c offsetClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// budgetClock returns a clock on which the first budget day (reset at
// 00:00 UTC) ends at budgetDayEnds of a run that started at start, and
// when that is in real time.
func budgetClock(start time.Time, run time.Duration) (offsetClock, time.Time) {
	dayEnds := start.Add(time.Duration(float64(run) * budgetDayEnds))
	midnight := dayEnds.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return offsetClock{off: midnight.Sub(dayEnds)}, dayEnds
}

// budgetBlock is the route's budget configuration, "" without one.
func budgetBlock(b config.ByteSize) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("    budget: {bytes_per_day: %d, priority: %q}\n", int64(b), budgetPriority)
}

// scheduleBudgetDay announces the new budget day on out when it comes;
// the returned function cancels the announcement.
func (d *demo) scheduleBudgetDay(at time.Time) (stop func()) {
	t := time.AfterFunc(time.Until(at), func() {
		fmt.Fprintf(d.out, "  -- a new budget day: the deferred events drain --\n")
	})
	return func() { t.Stop() }
}

// budgetText is the budget part of a live line, "" without a budget.
func budgetText(b *bridge.BudgetStats) string {
	if b == nil {
		return ""
	}
	s := fmt.Sprintf(" | budget %s of %s", mib(b.SpentBytes), mib(b.LimitBytes))
	if b.Spent {
		s += " spent"
	}
	if b.Pending > 0 {
		s += fmt.Sprintf(", %d waiting in Kafka", b.Pending)
	}
	return s
}

// countWaiting splits the events produced but neither delivered nor
// dead-lettered (unseen, by sequence number) into those still in Kafka at
// or after their partition's committed offset — deferred by the budget,
// to be sent later — and those lost (behind the commit).
func countWaiting(ctx context.Context, brokers []string, group string, unseen map[int64]bool) (waiting, lost int64, err error) {
	if len(unseen) == 0 {
		return 0, 0, nil
	}
	committed, err := kafkatest.Committed(brokers, group, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the committed offsets: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	recs, err := kafkatest.ReadAll(rctx, brokers, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the topic: %w", err)
	}
	for _, m := range recs {
		s, ok := seqOf(m.Value)
		if !ok || !unseen[s] {
			continue
		}
		delete(unseen, s)
		if c, ok := committed[m.Partition]; ok && c >= 0 && m.Offset < c {
			lost++
		} else {
			waiting++
		}
	}
	return waiting, lost + int64(len(unseen)), nil
}

// bridgeGroup is the demo route's consumer group.
func (d *demo) bridgeGroup() string { return config.DefaultGroupID("elastic") }

// budgetSummary is the budget's line of the summary.
func budgetSummary(st bridge.Stats, waiting int64) string {
	if len(st.Routes) == 0 || st.Routes[0].Budget == nil {
		return ""
	}
	b := st.Routes[0].Budget
	return fmt.Sprintf("budget: %s a day; %d deferrals (%s), %s spent on the last day; %d events still waiting in Kafka for the next day (not lost: uncommitted)",
		mib(b.LimitBytes), b.Deferred, mib(b.DeferredBytes), mib(b.SpentBytes), waiting)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

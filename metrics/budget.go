package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siembridge/siembridge/bridge"
)

// budgetDescs are the series of a route's daily budget (routes[].budget),
// read from bridge.BudgetStats at scrape time; a route without a budget
// has none.
type budgetDescs struct {
	limitBytes, limitEvents         *prometheus.Desc
	spentBytes, spentEvents         *prometheus.Desc
	remainingBytes, remainingEvents *prometheus.Desc
	spent, exhaustsAt, nextReset    *prometheus.Desc
	deferred, deferredBytes         *prometheus.Desc
	dropped, droppedBytes           *prometheus.Desc
	pending, pendingBytes           *prometheus.Desc
	oldestDeferredAge, nearRet      *prometheus.Desc
}

func newBudgetDescs() budgetDescs {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "budget", name), help, []string{"route"}, nil)
	}
	return budgetDescs{
		limitBytes:        d("limit_bytes", "Bytes the route may send per day (routes[].budget.bytes_per_day); absent without a byte cap."),
		limitEvents:       d("limit_events", "Events the route may send per day; absent without an event cap."),
		spentBytes:        d("spent_bytes", "Bytes sent since the day's reset, by every process of the route as far as the ledger told this one."),
		spentEvents:       d("spent_events", "Events sent since the day's reset, by every process of the route."),
		remainingBytes:    d("remaining_bytes", "Bytes left in the day's budget; absent without a byte cap."),
		remainingEvents:   d("remaining_events", "Events left in the day's budget; absent without an event cap."),
		spent:             d("spent", "1 while the day's budget is used up: only priority events are sent."),
		exhaustsAt:        d("exhaustion_timestamp_seconds", "When the budget runs out at the rate of the last five minutes (unix time); 0 when not before the next reset."),
		nextReset:         d("next_reset_timestamp_seconds", "When the next day's budget starts (unix time)."),
		deferred:          d("deferred_events_total", "Events the spent budget held back in Kafka (an event deferred twice counts twice)."),
		deferredBytes:     d("deferred_bytes_total", "Bytes of the events held back in Kafka."),
		dropped:           d("dropped_events_total", "Events the spent budget committed without sending them (when_spent: drop)."),
		droppedBytes:      d("dropped_bytes_total", "Bytes of the events dropped by the spent budget."),
		pending:           d("pending_events", "Events waiting in Kafka now, deferred by this process."),
		pendingBytes:      d("pending_bytes", "Bytes of the events waiting in Kafka now."),
		oldestDeferredAge: d("oldest_deferred_age_seconds", "Age of the oldest deferred event (record time); 0 when none waits."),
		nearRet:           d("near_retention_partitions", "Partitions whose oldest deferred event is within 20 % of its topic's retention."),
	}
}

func (b budgetDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{b.limitBytes, b.limitEvents, b.spentBytes, b.spentEvents, b.remainingBytes, b.remainingEvents,
		b.spent, b.exhaustsAt, b.nextReset, b.deferred, b.deferredBytes, b.dropped, b.droppedBytes,
		b.pending, b.pendingBytes, b.oldestDeferredAge, b.nearRet}
}

// collect sends route r's budget series, none when it has no budget.
func (b budgetDescs) collect(ch chan<- prometheus.Metric, r bridge.RouteStats, now time.Time) {
	s := r.Budget
	if s == nil {
		return
	}
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(d, t, v, r.Name)
	}
	gauge := prometheus.GaugeValue
	if s.LimitBytes > 0 {
		send(b.limitBytes, gauge, float64(s.LimitBytes))
		send(b.remainingBytes, gauge, float64(s.RemainingBytes))
	}
	if s.LimitEvents > 0 {
		send(b.limitEvents, gauge, float64(s.LimitEvents))
		send(b.remainingEvents, gauge, float64(s.RemainingEvents))
	}
	send(b.spentBytes, gauge, float64(s.SpentBytes))
	send(b.spentEvents, gauge, float64(s.SpentEvents))
	send(b.spent, gauge, b2f(s.Spent))
	send(b.exhaustsAt, gauge, unixOrZero(s.ExhaustsAt))
	send(b.nextReset, gauge, unixOrZero(s.NextReset))
	send(b.deferred, prometheus.CounterValue, float64(s.Deferred))
	send(b.deferredBytes, prometheus.CounterValue, float64(s.DeferredBytes))
	send(b.dropped, prometheus.CounterValue, float64(s.Dropped))
	send(b.droppedBytes, prometheus.CounterValue, float64(s.DroppedBytes))
	send(b.pending, gauge, float64(s.Pending))
	send(b.pendingBytes, gauge, float64(s.PendingBytes))
	age := 0.0
	if !s.OldestDeferred.IsZero() {
		age = max(0, now.Sub(s.OldestDeferred).Seconds())
	}
	send(b.oldestDeferredAge, gauge, age)
	send(b.nearRet, gauge, float64(s.NearRetention))
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

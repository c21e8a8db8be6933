package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siembridge/siembridge/bridge"
)

// Source is what the collector and the server read: *bridge.Bridge.
type Source interface {
	// Stats returns a snapshot; it must be safe for concurrent use.
	Stats() bridge.Stats
	// Ready reports whether every route joined its group and no sink is
	// down.
	Ready() bool
}

var _ Source = (*bridge.Bridge)(nil)

// Rate modes, the values of the mode label of siembridge_rate_mode.
var rateModes = []string{"live", "catch-up"}

// Collector turns a bridge.Stats snapshot, taken at scrape time, into
// gauges. Create it with NewCollector and register it on the same registry
// as the Hooks. It is safe for concurrent use.
type Collector struct {
	src Source
	now func() time.Time

	ready, joined, sinkUp, paused           *prometheus.Desc
	sinkDegraded, routeRunning              *prometheus.Desc
	info                                    *prometheus.Desc
	mode, adaptive                          *prometheus.Desc
	rate, configuredRate                    *prometheus.Desc
	bufEvents, bufBytes, bufMaxE, bufMaxB   *prometheus.Desc
	lagRoute, lag, logEnd, oldestPendingAge *prometheus.Desc

	concLimit, concMax, inFlight, rtt, requestEvents, concChanges *prometheus.Desc

	volume volumeDescs
	budget budgetDescs
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector reading src at every scrape.
func NewCollector(src Source) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	part := []string{"route", "topic", "partition"}
	return &Collector{
		src:              src,
		now:              time.Now,
		ready:            d("ready", "1 when every route joined its group and no sink is down (as /readyz)."),
		joined:           d("consumer_group_joined", "1 while the route is a member of its consumer group.", "route"),
		sinkUp:           d("sink_up", "1 while the route's sink is up (degraded included), 0 while the breaker holds it down.", "route"),
		sinkDegraded:     d("sink_degraded", "1 while the route's sink refuses events for a reason of its own (permissions, missing index, read-only cluster); they are held and retried.", "route", "reason"),
		routeRunning:     d("route_running", "1 while the route can run, 0 while its consumer group cannot be created (as /healthz).", "route"),
		paused:           d("paused", "1 while the route's partitions are paused (buffer full or sink down).", "route"),
		info:             d("route_info", "Constant 1, labelled with the route's consumer group and sink type.", "route", "group", "sink"),
		mode:             d("rate_mode", "1 for the rate limiter's current mode (live or catch-up), 0 for the other.", "route", "mode"),
		adaptive:         d("rate_adaptive", "1 while AIMD holds the rate below the configured one.", "route"),
		rate:             d("rate_limit_events_per_second", "Rate limit in effect, events/s; 0 means unlimited.", "route"),
		configuredRate:   d("rate_limit_configured_events_per_second", "Configured rate limit of the current mode, events/s; 0 means unlimited.", "route"),
		bufEvents:        d("buffer_events", "Events consumed and not yet delivered or dead-lettered.", "route"),
		bufBytes:         d("buffer_bytes", "Bytes consumed and not yet delivered or dead-lettered: keys and values plus 192 bytes per event for its bookkeeping.", "route"),
		bufMaxE:          d("buffer_max_events", "Buffer bound in events; at it the route pauses.", "route"),
		bufMaxB:          d("buffer_max_bytes", "Buffer bound in bytes; at it the route pauses.", "route"),
		lagRoute:         d("route_lag_events", "Events between the committable offset and the log end, summed over the route's partitions.", "route"),
		lag:              d("consumer_lag_events", "Events between the committable offset and the log end.", part...),
		logEnd:           d("log_end_offset", "Log-end offset last seen.", part...),
		oldestPendingAge: d("oldest_pending_age_seconds", "Age of the oldest event not yet delivered (record time); 0 when none is pending.", part...),
		concLimit:        d("concurrency_limit", "Requests the route may have in flight now (adaptive concurrency: follows the sink's round-trip time).", "route"),
		concMax:          d("concurrency_max", "Configured bound on requests in flight (routes[].workers).", "route"),
		inFlight:         d("requests_in_flight", "Requests in flight now.", "route"),
		rtt:              d("sink_rtt_seconds", "The sink's base round-trip time as the concurrency controller sees it; 0 before it is known.", "route"),
		requestEvents:    d("request_max_events", "Most events one request carries now: the batch size, or less while the sink answers items 429.", "route"),
		concChanges:      d("concurrency_adjustments_total", "Changes of the adaptive concurrency limit since start, by direction (up, down).", "route", "direction"),
		volume:           newVolumeDescs(),
		budget:           newBudgetDescs(),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.ready, c.joined, c.sinkUp, c.sinkDegraded, c.routeRunning, c.paused, c.info, c.mode, c.adaptive,
		c.rate, c.configuredRate, c.bufEvents, c.bufBytes, c.bufMaxE, c.bufMaxB,
		c.lagRoute, c.lag, c.logEnd, c.oldestPendingAge,
		c.concLimit, c.concMax, c.inFlight, c.rtt, c.requestEvents, c.concChanges,
	} {
		ch <- d
	}
	for _, d := range c.volume.all() {
		ch <- d
	}
	for _, d := range c.budget.all() {
		ch <- d
	}
}

// Collect takes one snapshot and sends the gauges.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.ready, b2f(st.Ready))
	for _, r := range st.Routes {
		gauge(c.info, 1, r.Name, r.Group, r.Sink)
		gauge(c.joined, b2f(r.Joined), r.Name)
		gauge(c.sinkUp, b2f(r.SinkState != "down"), r.Name)
		if r.SinkState == "degraded" {
			gauge(c.sinkDegraded, 1, r.Name, reasonLabel(r.SinkReason))
		} else {
			gauge(c.sinkDegraded, 0, r.Name, "")
		}
		gauge(c.routeRunning, b2f(r.RunError == ""), r.Name)
		gauge(c.paused, b2f(r.Paused), r.Name)
		for _, m := range rateModes {
			gauge(c.mode, b2f(r.Mode == m), r.Name, m)
		}
		gauge(c.adaptive, b2f(r.Adaptive), r.Name)
		gauge(c.rate, r.EffectiveRate, r.Name)
		gauge(c.configuredRate, r.ConfiguredRate, r.Name)
		gauge(c.bufEvents, float64(r.BufferedEvents), r.Name)
		gauge(c.bufBytes, float64(r.BufferedBytes), r.Name)
		gauge(c.bufMaxE, float64(r.BufferMaxEvents), r.Name)
		gauge(c.bufMaxB, float64(r.BufferMaxBytes), r.Name)
		gauge(c.lagRoute, float64(r.Lag), r.Name)
		gauge(c.concLimit, float64(r.Concurrency.Limit), r.Name)
		gauge(c.concMax, float64(r.Concurrency.Max), r.Name)
		gauge(c.inFlight, float64(r.Concurrency.InFlight), r.Name)
		gauge(c.rtt, r.Concurrency.RTTSeconds, r.Name)
		gauge(c.requestEvents, float64(r.Concurrency.RequestEvents), r.Name)
		ch <- prometheus.MustNewConstMetric(c.concChanges, prometheus.CounterValue, float64(r.Concurrency.Increases), r.Name, "up")
		ch <- prometheus.MustNewConstMetric(c.concChanges, prometheus.CounterValue, float64(r.Concurrency.Decreases), r.Name, "down")
		c.volume.collect(ch, r)
		c.budget.collect(ch, r, now)
		for _, p := range r.Partitions {
			part := strconv.FormatInt(int64(p.Partition), 10)
			gauge(c.lag, float64(p.Lag), r.Name, p.Topic, part)
			gauge(c.logEnd, float64(p.LogEnd), r.Name, p.Topic, part)
			age := 0.0
			if !p.OldestPending.IsZero() {
				age = max(0, now.Sub(p.OldestPending).Seconds())
			}
			gauge(c.oldestPendingAge, age, r.Name, p.Topic, part)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reasonLabel keeps a label's cardinality low: the error type of a sink's
// reason ("status 403: security_exception: action [...]" gives
// "security_exception"), at most 64 bytes.
func reasonLabel(reason string) string {
	parts := strings.SplitN(reason, ": ", 3)
	label := parts[0]
	if len(parts) > 1 && strings.HasPrefix(parts[0], "status ") {
		label = parts[1]
	}
	if len(label) > 64 {
		label = strings.ToValidUTF8(label[:64], "")
	}
	return label
}

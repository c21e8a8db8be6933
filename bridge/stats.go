package bridge

import (
	"sort"
	"time"
)

// Stats is a snapshot of the bridge, shared by the CLI, the status page and
// metrics.
type Stats struct {
	Ready bool `json:"ready"`
	// Healthy: every route can run (see RouteStats.RunError).
	Healthy bool `json:"healthy"`
	// Running: Run connected to Kafka and runs the routes (false while
	// connecting and once they stopped).
	Running bool         `json:"running"`
	Routes  []RouteStats `json:"routes"`
}

// RouteStats is one route's snapshot. Counters are totals since start.
type RouteStats struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Sink  string `json:"sink"`
	// SinkState: up, degraded (the sink answers but refuses some events
	// for a reason of its own, which are held and retried) or down.
	SinkState string `json:"sink_state"`
	// SinkReason says why the sink is degraded or down, "" when up.
	SinkReason string `json:"sink_reason,omitempty"`
	// RunError says why the route cannot run (its consumer group cannot
	// be created), "" while it runs. /healthz fails while it is set.
	RunError string `json:"run_error,omitempty"`
	Joined   bool   `json:"joined"`
	Paused   bool   `json:"paused"`
	// PauseReason: "buffer full", "sink down" or "budget spent" while
	// paused.
	PauseReason string `json:"pause_reason,omitempty"`
	// Mode of the rate limiter: live or catch-up.
	Mode string `json:"mode"`
	// EffectiveRate in events/s, 0 when unlimited.
	EffectiveRate float64 `json:"effective_rate"`
	// ConfiguredRate in events/s for the current mode, 0 when unlimited.
	ConfiguredRate float64 `json:"configured_rate"`
	// Adaptive reports whether AIMD currently holds the rate below the
	// configured one.
	Adaptive bool `json:"adaptive"`
	// Concurrency is the bound on the route's requests in flight, beside
	// the rate: the rate reacts to 429s, the concurrency to the sink's
	// round-trip time.
	Concurrency ConcurrencyStats `json:"concurrency"`

	Consumed       int64 `json:"consumed"`
	ConsumedBytes  int64 `json:"consumed_bytes"`
	Delivered      int64 `json:"delivered"`
	DeliveredBytes int64 `json:"delivered_bytes"`
	Retried        int64 `json:"retried"`
	DeadLettered   int64 `json:"dead_lettered"`
	// Filtered events were not for this sink (its filter); they count as
	// done for offsets.
	Filtered       int64 `json:"filtered"`
	Requests       int64 `json:"requests"`
	FailedRequests int64 `json:"failed_requests"`
	BufferedEvents int64 `json:"buffered_events"`
	// BufferedBytes: the held events' keys and values plus EventOverhead
	// each, what the pause at BufferMaxBytes compares.
	BufferedBytes   int64 `json:"buffered_bytes"`
	BufferMaxEvents int64 `json:"buffer_max_events"`
	BufferMaxBytes  int64 `json:"buffer_max_bytes"`
	Lag             int64 `json:"lag"`
	MaxLag          int64 `json:"max_lag"`

	Partitions []PartitionStats `json:"partitions"`
	// Budget is the route's daily budget, nil without one.
	Budget *BudgetStats `json:"budget,omitempty"`
	// Volume is what the route's filter, sampling and shaping did: events
	// filtered, sampled out, shaped, and the bytes saved.
	Volume VolumeStats `json:"volume"`
}

// ConcurrencyStats: the requests of a route in flight (see
// ratelimit.Concurrency) and the size of one request.
type ConcurrencyStats struct {
	Limit    int  `json:"limit"`     // requests allowed in flight now
	Max      int  `json:"max"`       // routes[].workers
	InFlight int  `json:"in_flight"` // requests in flight now
	Adaptive bool `json:"adaptive"`  // the limit follows the round-trip time
	// RTTSeconds is the sink's base round-trip time (the lowest window
	// mean lately), 0 before it is known.
	RTTSeconds float64 `json:"rtt_seconds"`
	// RequestEvents is the most events one request carries now: the
	// batch size, or less while the sink answers items 429.
	RequestEvents int `json:"request_events"`
	// PerPartition is how many batches of one partition may be in flight.
	PerPartition int `json:"per_partition"`
	// Increases and Decreases count the adaptive limit's changes since
	// start: a route whose decreases keep pace with its increases is
	// probing a sink at its capacity.
	Increases int64 `json:"increases"`
	Decreases int64 `json:"decreases"`
}

// PartitionStats is one claimed partition.
type PartitionStats struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Next is the offset that will be committed: everything below it was
	// delivered or dead-lettered.
	Next   int64 `json:"next"`
	LogEnd int64 `json:"log_end"`
	Lag    int64 `json:"lag"`
	// OldestPending is the record time of the oldest event not yet
	// delivered, zero when none.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Stats returns a snapshot. It is safe for concurrent use.
func (b *Bridge) Stats() Stats {
	s := Stats{Ready: b.Ready(), Healthy: b.Healthy(), Running: b.ready.Load()}
	for _, r := range b.routes {
		s.Routes = append(s.Routes, r.snapshot())
	}
	return s
}

func (r *route) snapshot() RouteStats {
	ls := r.lim.Stats()
	c := r.stage.Counters()
	r.pauseMu.Lock()
	reason := r.pauseReason
	r.pauseMu.Unlock()
	rs := RouteStats{
		Name:            r.cfg.Name,
		Group:           r.groupID(),
		Sink:            r.cfg.Sink.Type,
		SinkState:       r.brk.State().String(),
		Joined:          r.joined.Load(),
		Paused:          r.paused.Load(),
		PauseReason:     reason,
		Mode:            ls.Mode.String(),
		EffectiveRate:   ls.EventsPerSecond,
		ConfiguredRate:  ls.ConfiguredEventsPerSecond,
		Adaptive:        ls.AdaptiveCap > 0 && (ls.ConfiguredEventsPerSecond == 0 || ls.AdaptiveCap < ls.ConfiguredEventsPerSecond),
		Consumed:        r.stats.consumed.Load(),
		ConsumedBytes:   r.stats.consumedBytes.Load(),
		Delivered:       c.Delivered.Load(),
		DeliveredBytes:  c.DeliveredBytes.Load(),
		Retried:         c.Retried.Load(),
		DeadLettered:    c.DeadLettered.Load(),
		Filtered:        c.Filtered.Load(),
		Volume:          volumeStats(c),
		Requests:        c.Requests.Load(),
		FailedRequests:  c.FailedRequests.Load(),
		BufferedEvents:  r.bufEvents.Load(),
		BufferedBytes:   r.bufBytes.Load(),
		BufferMaxEvents: int64(r.cfg.Buffer.MaxEvents),
		BufferMaxBytes:  int64(r.cfg.Buffer.MaxBytes),
		Lag:             r.stats.lag.Load(),
		MaxLag:          r.stats.maxLag.Load(),
		Budget:          r.budgetStats(),
	}
	cs := r.stage.Concurrency().Stats()
	rs.Concurrency = ConcurrencyStats{Limit: cs.Limit, Max: cs.Max, InFlight: cs.InFlight, Adaptive: cs.Adaptive,
		RTTSeconds: cs.RTT.Seconds(), RequestEvents: r.stage.RequestEvents(), PerPartition: r.cfg.InFlightPerPartition(),
		Increases: cs.Ups, Decreases: cs.Downs}
	switch {
	case rs.SinkState == "down":
		if err := r.brk.LastError(); err != nil {
			rs.SinkReason = err.Error()
		}
	case r.stage.Degraded() != "":
		rs.SinkState, rs.SinkReason = "degraded", r.stage.Degraded()
	}
	if msg := r.runErr.Load(); msg != nil {
		rs.RunError = *msg
	}
	for _, p := range r.partitions() {
		ps := PartitionStats{Topic: p.topic, Partition: p.partition, Next: p.next.Load(), LogEnd: p.logEnd.Load(), Lag: p.lag()}
		if ms := p.oldest.Load(); ms > 0 {
			ps.OldestPending = time.UnixMilli(ms).UTC()
		}
		rs.Partitions = append(rs.Partitions, ps)
	}
	sort.Slice(rs.Partitions, func(i, j int) bool {
		a, b := rs.Partitions[i], rs.Partitions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return rs
}

package metrics

import (
	"sync"
	"time"

	"github.com/siembridge/siembridge/bridge"
)

// History is the body of /api/history: what the status page draws when it
// opens, so that its charts do not start empty.
type History struct {
	// IntervalSeconds between samples.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Routes maps a route name to its samples, oldest first.
	Routes map[string][]Sample `json:"routes"`
}

// Sample is one route's counters at one time. Rates are left to the reader
// (counter deltas over time deltas).
type Sample struct {
	// T is the unix time in milliseconds.
	T            int64 `json:"t"`
	Delivered    int64 `json:"delivered"`
	DeadLettered int64 `json:"dead_lettered"`
	Consumed     int64 `json:"consumed"`
	Lag          int64 `json:"lag"`
	// Rate is the effective rate limit, events/s, 0 = unlimited.
	Rate float64 `json:"rate"`
}

// history keeps the last n samples per route in rings. Safe for concurrent
// use.
type history struct {
	n      int
	mu     sync.Mutex
	routes map[string]*ring
	order  []string // route names in Stats order
}

type ring struct {
	buf  []Sample
	next int // index of the next write
	full bool
}

func newHistory(n int) *history {
	return &history{n: max(2, n), routes: map[string]*ring{}}
}

func (h *history) add(now time.Time, st bridge.Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range st.Routes {
		rg := h.routes[r.Name]
		if rg == nil {
			rg = &ring{buf: make([]Sample, h.n)}
			h.routes[r.Name] = rg
			h.order = append(h.order, r.Name)
		}
		rg.buf[rg.next] = Sample{
			T: now.UnixMilli(), Delivered: r.Delivered, DeadLettered: r.DeadLettered,
			Consumed: r.Consumed, Lag: r.Lag, Rate: r.EffectiveRate,
		}
		rg.next = (rg.next + 1) % h.n
		if rg.next == 0 {
			rg.full = true
		}
	}
}

func (h *history) snapshot() History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := History{IntervalSeconds: 1, Routes: make(map[string][]Sample, len(h.routes))}
	for _, name := range h.order {
		rg := h.routes[name]
		var s []Sample
		if rg.full {
			s = append(s, rg.buf[rg.next:]...)
		}
		s = append(s, rg.buf[:rg.next]...)
		out.Routes[name] = s
	}
	return out
}

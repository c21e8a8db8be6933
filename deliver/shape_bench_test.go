package deliver

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
	"github.com/siembridge/siembridge/internal/cputime"
	"github.com/siembridge/siembridge/internal/gen"
)

// BenchmarkSelect is the stage's cost per event (op = one event) of a
// route's filter, sampling and shaping, on the events of internal/gen:
// what Deliver spends before the rate limiter.
func BenchmarkSelect(b *testing.B) {
	g := gen.New(1)
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, 1000)
	for i := range evs {
		evs[i] = event.New("t", 0, int64(i), t0, nil, g.Next(int64(i), t0))
	}
	dns := `event.dataset == "network_traffic.dns"`
	for _, c := range []struct {
		name   string
		filter string
		route  config.Route
	}{
		{"filter", `event.module != "auditd"`, config.Route{}},
		{"sample-by-offset", "", config.Route{Sample: &config.Sample{Rate: 0.1}}},
		{"sample-dns-by-ip", "", config.Route{Sample: &config.Sample{Rate: 0.1, Key: "source.ip", When: dns}}},
		{"drop-absent", "", config.Route{DropFields: []string{"nope"}}},
		{"drop-3", "", config.Route{DropFields: []string{"agent", "ecs", "host.os"}}},
		{"readme-route", `event.module in ["windows", "auditd"] || ("denied" in event.type && network.direction == "inbound") || ` + dns,
			config.Route{Sample: &config.Sample{Rate: 0.1, Key: "source.ip", When: dns}, DropFields: []string{"agent", "ecs", "host.os", "winlog.logon.failure", "observer.ingress"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var cfg Config
			if c.filter != "" {
				f, err := filter.Compile(c.filter)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Filter = f.Accepts
			}
			v, err := NewVolume(c.route)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Volume = v
			s := &Stage{cfg: cfg}
			b.ReportAllocs()
			i := 0
			defer cputime.Start(b)()
			for b.Loop() {
				s.selectEvents(evs[i%1000 : i%1000+1])
				i++
			}
		})
	}
}

package integration

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/hecfake"
)

func TestZZDebugHEC(t *testing.T) {
	cluster := startCluster(t, 4, "dbg")
	hec := hecfake.New(hecfake.Options{Ack: true, AckDelay: 30 * time.Millisecond, Indexes: []string{"main"}})
	if err := hec.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hec.Close() })
	produceSeq(t, cluster.Brokers(), "dbg", 4, 1, 20000, nil)
	cfg := parseConfig(t, hecRouteYAML(cluster.Brokers(), "dbg", hec.URL()))
	b, _ := runBridge(t, cfg)
	for i := 0; i < 25; i++ {
		time.Sleep(500*time.Millisecond)
		switch i {
		case 3:
			hec.SetMode(hecfake.Busy)
		case 7:
			hec.SetMode(hecfake.Refuse)
		case 13:
			hec.SetMode(hecfake.Healthy)
		}
		rs := b.Stats().Routes[0]
		t.Logf("%s hec=%d req=%d acks=%d rs: deliv=%d retried=%d reqs=%d failed=%d rate=%v mode=%s state=%s paused=%v %s", hec.Mode(), hec.Len(), hec.Requests(), hec.AckRequests(), rs.Delivered, rs.Retried, rs.Requests, rs.FailedRequests, rs.EffectiveRate, rs.Mode, rs.SinkState, rs.Paused, rs.PauseReason)
	}
}

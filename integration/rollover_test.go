package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/replay"
)

// TestReplayAcrossRolloverDuplicates delivers a topic into a data stream,
// replays a window (absorbed: every create is a 409 in the write index
// that holds the events), rolls the data stream over, and replays the same
// window again: now every event of the window is created a second time, in
// the new backing index. A real cluster does the same, because an _id is
// unique only within one concrete index; docs/guarantees.md says so.
//
// Before esfake modelled data streams, and while seqs merged documents by
// _id across indices, no test could see this: assertExactly would have
// passed.
func TestReplayAcrossRolloverDuplicates(t *testing.T) {
	const stream = "logs-siem-default"
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	first, err := es.CreateDataStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	produceTimed(t, cluster.Brokers(), replayEvents)
	yaml := strings.Replace(routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""),
		`index: "security-%{+yyyy.MM.dd}"`, `index: "`+stream+`"`, 1)
	cfg := parseConfig(t, yaml)
	if got := cfg.Routes[0].Sink.Elasticsearch.Index; got != stream {
		t.Fatalf("route index %q, want %q", got, stream)
	}
	_, stop := runBridge(t, cfg)
	waitFor(t, 60*time.Second, "live delivery of every event", func() bool { return es.Count() >= replayEvents })
	stop()

	const lo, hi = 1000, 2500
	opts := replay.Options{Route: "elastic", From: seqTime(lo), To: seqTime(hi), Rate: 0, Logger: testLogger(t)}
	replay := func(when string) {
		t.Helper()
		res, err := replay.Run(context.Background(), cfg, opts)
		if err != nil || !res.Complete || res.Delivered != hi-lo {
			t.Fatalf("replay %s: %+v, %v", when, res, err)
		}
	}

	dupsBefore := es.Duplicates()
	replay("before the rollover")
	if d := es.Duplicates() - dupsBefore; d != hi-lo {
		t.Errorf("replay before the rollover: %d creates answered 409, want %d", d, hi-lo)
	}
	assertExactly(t, seqs(t, es), 1, replayEvents+1)

	second, err := es.Rollover(stream)
	if err != nil {
		t.Fatal(err)
	}
	replay("after the rollover")
	got := seqs(t, es)
	for s := int64(1); s <= replayEvents; s++ {
		want := 1
		if s >= lo && s < hi {
			want = 2 // one copy in each backing index
		}
		if got[s] != want {
			t.Fatalf("seq %d is in the data stream %d times, want %d", s, got[s], want)
		}
	}
	if n, m := len(es.Docs(first)), len(es.Docs(second)); n != replayEvents || m != hi-lo {
		t.Errorf("%s holds %d documents, %s %d; want %d and %d", first, n, second, m, replayEvents, hi-lo)
	}
	if es.Count()-es.DistinctIDs() != hi-lo {
		t.Errorf("count %d, distinct IDs %d: want %d extra copies", es.Count(), es.DistinctIDs(), hi-lo)
	}
}

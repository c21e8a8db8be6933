package replay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestEstimateDuration: the longer of events at the events rate and
// bytes at the bytes rate; an unlimited rate (0) does not count.
func TestEstimateDuration(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		events, bytes         int64
		eventsRate, bytesRate float64
		want                  time.Duration
	}{
		{"unlimited", 1e6, 1e9, 0, 0, 0},
		{"events bound", 36000, 1 << 20, 10, 0, time.Hour},
		{"bytes bound", 100, 10 << 20, 1000, 1 << 20, 10 * time.Second},
		{"events slower than bytes", 5000, 1 << 20, 1000, 1 << 20, 5 * time.Second},
		{"bytes only", 100, 1500, 0, 1000, 1500 * time.Millisecond},
		{"nothing to read", 0, 0, 10, 10, 0},
		{"overflow capped", 1 << 62, 0, 1e-9, 0, time.Duration(1<<63 - 1)},
	} {
		if got := estimateDuration(tt.events, tt.bytes, tt.eventsRate, tt.bytesRate); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// plantedCluster holds 60 records of 7 bytes on one partition, stamped
// one a minute from base.
func plantedCluster(t *testing.T) (*kafkatest.Cluster, time.Time) {
	t.Helper()
	base := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	return startEvents(t, 1, stamped(1, 60, base, time.Minute)), base
}

// TestPlanOffsetsAndEstimates: a partition is planned from the first
// record at or after From − lateness to the first at or after To +
// lateness; the events are that span, the bytes the span times the
// sampled record size, the duration the slower of the two rates.
func TestPlanOffsetsAndEstimates(t *testing.T) {
	cluster, base := plantedCluster(t)
	cfg := replayTestConfig(t, cluster.Brokers())
	for _, tt := range []struct {
		name              string
		opts              Options
		from, to          int64
		evRate, bytesRate float64
		duration          time.Duration
	}{
		// [01:10, 01:20) ± 5m: offsets 5 to 25; 20 events of 7 bytes.
		{"bytes bound", Options{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute), Lateness: 5 * time.Minute, Rate: 10, RateBytes: 14},
			5, 25, 10, 14, 10 * time.Second},
		{"events bound", Options{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute), Lateness: 5 * time.Minute, Rate: 4, RateBytes: -1},
			5, 25, 4, 0, 5 * time.Second},
		// Default lateness 15m, the route's catch-up rate 200/s; the
		// window reaches past the last record: up to the log end.
		{"to the log end", Options{From: base.Add(50 * time.Minute), To: base.Add(2 * time.Hour), Rate: -1},
			35, 60, 200, 0, 125 * time.Millisecond},
		{"before everything", Options{From: base.Add(-3 * time.Hour), To: base.Add(-2 * time.Hour), Lateness: -1, Rate: 0},
			0, 0, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Route, opts.Logger = "elastic", quiet
			p, err := Plan(context.Background(), cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Partitions) != 1 || len(p.Gaps) != 0 {
				t.Fatalf("plan %+v", p)
			}
			pp := p.Partitions[0]
			n := tt.to - tt.from
			if pp.From != tt.from || pp.To != tt.to || pp.End != 60 || pp.Events != n || pp.Bytes != 7*n || p.Events != n || p.Bytes != 7*n {
				t.Errorf("partition %+v, totals %d events %d bytes; want offsets %d to %d, %d events of 7 bytes", pp, p.Events, p.Bytes, tt.from, tt.to, n)
			}
			if p.EventsPerSecond != tt.evRate || p.BytesPerSecond != tt.bytesRate || p.Duration != tt.duration {
				t.Errorf("rates %v/s %vB/s, duration %s; want %v/s %vB/s, %s", p.EventsPerSecond, p.BytesPerSecond, p.Duration, tt.evRate, tt.bytesRate, tt.duration)
			}
		})
	}
}

// TestPlanRetentionGap: a window that starts before what retention left
// is planned from the log start, its partition marked with the gap, and
// refused with the *RetentionError Run returns — unless AllowPartial.
func TestPlanRetentionGap(t *testing.T) {
	cluster, base := plantedCluster(t)
	deleteRecords(t, cluster, 0, 20) // the oldest record left is stamped 01:20
	cfg := replayTestConfig(t, cluster.Brokers())
	opts := Options{Route: "elastic", From: base, To: base.Add(time.Hour), Rate: 0, Logger: quiet}

	p, err := Plan(context.Background(), cfg, opts)
	var re *RetentionError
	if !errors.As(err, &re) || len(re.Gaps) != 1 || re.Gaps[0].Lost != 20*time.Minute {
		t.Fatalf("error %v, want a *RetentionError with one 20m gap", err)
	}
	if p == nil || len(p.Partitions) != 1 || len(p.Gaps) != 1 {
		t.Fatalf("plan %+v, want it beside the error", p)
	}
	pp := p.Partitions[0]
	if pp.Gap == nil || pp.Gap.LogStart != 20 || pp.From != 20 || pp.To != 60 || pp.Events != 40 {
		t.Errorf("partition %+v (gap %+v), want offsets 20 to 60 cut at 20", pp, pp.Gap)
	}

	opts.AllowPartial = true
	if p, err = Plan(context.Background(), cfg, opts); err != nil || len(p.Gaps) != 1 || p.Events != 40 {
		t.Fatalf("AllowPartial: %+v, %v", p, err)
	}
}

// TestPlanOptionErrors: the options are checked as Run checks them,
// before Kafka is contacted.
func TestPlanOptionErrors(t *testing.T) {
	cfg := replayTestConfig(t, []string{"127.0.0.1:1"})
	from := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, o := range []Options{
		{Route: "nope", From: from, To: from.Add(time.Hour)},
		{Route: "elastic", From: from, To: from},
		{Route: "elastic", From: from, To: from.Add(time.Hour), RateBytes: 0.5},
	} {
		_, err := Plan(context.Background(), cfg, o)
		var oe *OptionError
		if !errors.As(err, &oe) {
			t.Errorf("%+v: %v, want an *OptionError", o, err)
		}
	}
}

// TestPlanResume: a resumed job is planned from each partition's saved
// watermark; a finished partition reads nothing. The checkpoint is left
// as it was.
func TestPlanResume(t *testing.T) {
	cluster, base := startWithRecords(t, 2, 20)
	from, to := base, base.Add(time.Hour)
	cp := filepath.Join(t.TempDir(), "cp.json")
	st := &checkpoint.ReplayState{Route: "elastic", From: from, To: to, Lateness: DefaultLateness, Partitions: []checkpoint.ReplayPartition{
		{Topic: "events", Partition: 0, Start: 0, End: 10, Next: 7},
		{Topic: "events", Partition: 1, Start: 0, End: 10, Next: 10, Done: true},
	}}
	if err := checkpoint.SaveReplay(cp, st); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := replayTestConfig(t, cluster.Brokers())
	p, err := Plan(context.Background(), cfg, Options{Route: "elastic", From: from, To: to, Rate: 0, Logger: quiet, Checkpoint: cp, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Partitions) != 2 || p.Partitions[0].From != 7 || p.Partitions[0].Events != 3 || p.Partitions[1].Events != 0 || p.Events != 3 || p.Bytes != 21 {
		t.Errorf("plan %+v, want 3 events of partition 0 from offset 7", p)
	}
	if after, err := os.ReadFile(cp); err != nil || string(after) != string(before) {
		t.Errorf("the checkpoint changed: %v", err)
	}
}

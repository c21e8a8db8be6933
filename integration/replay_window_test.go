package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestReplayRetentionProcess: "siembridge replay" of a window whose start
// retention deleted from one partition exits 1, naming the lost part (from
// --from to the oldest record's time) and --allow-partial, and delivers
// nothing; with --allow-partial it replays what is left and exits 0,
// saying the replay is partial.
func TestReplayRetentionProcess(t *testing.T) {
	cluster := startCluster(t, replayPartitions, replayTopic, replayDLQ)
	es := startES(t, esfake.Options{})
	produceTimed(t, cluster.Brokers(), replayEvents)
	// Partition 0 holds seq 3, 6, 9, ...: offset o is seq 3(o+1). Its log
	// now starts at offset 500, seq 1503.
	admin, err := sarama.NewClusterAdmin(cluster.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteRecords(replayTopic, map[int32]int64{0: 500}); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	cfgPath := writeConfig(t, routeYAML(cluster.Brokers(), replayTopic, es.URL(), replayDLQ, ""))
	const lo, hi = 100, 3000
	from, to := seqTime(lo).Format(time.RFC3339Nano), seqTime(hi).Format(time.RFC3339Nano)
	dir := t.TempDir()

	code, out := runProcIn(t, dir, "replay", "--config", cfgPath, "--route", "elastic", "--from", from, "--to", to, "--rate", "0")
	if code != 1 {
		t.Fatalf("replay of a window retention cut: exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"retention", "events/0", from, seqTime(1503).Format(time.RFC3339Nano), "2m20.3s", "--allow-partial"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if n := es.Count(); n != 0 {
		t.Fatalf("%d events delivered by the refused replay", n)
	}

	code, out = runProcIn(t, dir, "replay", "--config", cfgPath, "--route", "elastic", "--from", from, "--to", to, "--rate", "0", "--allow-partial")
	if code != 0 || !strings.Contains(out, "PARTIAL") || !strings.Contains(out, "complete") {
		t.Fatalf("--allow-partial: exit %d, want 0 and a partial, complete replay:\n%s", code, out)
	}
	got := seqs(t, es)
	for s := int64(lo); s < hi; s++ {
		want := 1
		if s%replayPartitions == 0 && s < 1503 {
			want = 0 // deleted
		}
		if got[s] != want {
			t.Fatalf("seq %d delivered %d times, want %d", s, got[s], want)
		}
	}
	if len(got) != hi-lo-(1503-lo)/3 {
		t.Fatalf("%d seqs delivered, want %d", len(got), hi-lo-(1503-lo)/3)
	}
	t.Logf("output:\n%s", out)
}

package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	from = time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC)
	to   = time.Date(2024, 5, 1, 14, 0, 0, 0, time.UTC)
)

func sampleState() *ReplayState {
	return &ReplayState{
		Route:    "elastic",
		From:     from,
		To:       to,
		Index:    "forensics-%{+yyyy.MM.dd}",
		Lateness: 15 * time.Minute,
		Partitions: []ReplayPartition{
			{Topic: "events", Partition: 0, Start: 10, End: 100, Next: 50, Skipped: 12},
			{Topic: "events", Partition: 1, Start: 7, End: 7, Next: 7, Done: true},
		},
		Updated: to,
	}
}

func TestReplayRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ReplayFileName("elastic", from, to))
	s := sampleState()
	if err := SaveReplay(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != ReplayVersion || got.Route != "elastic" || !got.From.Equal(from) || !got.To.Equal(to) || got.Index != s.Index || got.Lateness != s.Lateness {
		t.Fatalf("loaded %+v", got)
	}
	if data, err := os.ReadFile(path); err != nil || !strings.Contains(string(data), `"lateness": "15m0s"`) || !strings.Contains(string(data), `"skipped": 12`) {
		t.Errorf("file does not hold the lateness as a duration and the skipped count: %s, %v", data, err)
	}
	if len(got.Partitions) != 2 || got.Partitions[0] != s.Partitions[0] || got.Partitions[1] != s.Partitions[1] {
		t.Fatalf("partitions: %+v", got.Partitions)
	}
	if got.Complete() {
		t.Error("Complete() with an unfinished partition")
	}
	// Overwrite: the new content replaces the old, no temporary file stays.
	s.Partitions[0].Next, s.Partitions[0].Done = 100, true
	if err := SaveReplay(path, s); err != nil {
		t.Fatal(err)
	}
	if got, err = LoadReplay(path); err != nil || !got.Complete() {
		t.Fatalf("after overwrite: %+v, %v", got, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint", len(ents))
	}
	found, err := FindReplayFiles(dir, "elastic")
	if err != nil || len(found) != 1 || found[0] != path {
		t.Errorf("FindReplayFiles = %v, %v", found, err)
	}
	if found, _ := FindReplayFiles(dir, "elas"); len(found) != 0 {
		t.Errorf("FindReplayFiles matched another route's file: %v", found)
	}
	if err := RemoveReplay(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveReplay(path); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	if _, err := LoadReplay(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadReplay of a missing file: %v, want ErrNotExist", err)
	}
}

func TestReplaySaveFailsCleanly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "cp.json")
	if err := SaveReplay(path, sampleState()); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
}

func TestReplayCorrupt(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "unexpected end of JSON input"},
		{"truncated", `{"version":1,"route":"elastic","from":"2024-05-01T13:00:00Z"`, "unexpected end"},
		{"not json", "hello", "invalid character"},
		{"wrong version", `{"version":9,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z"}`, "version 9"},
		{"no route", `{"version":1,"from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z"}`, "no route"},
		{"empty window", `{"version":1,"route":"r","from":"2024-05-01T14:00:00Z","to":"2024-05-01T14:00:00Z"}`, "bad window"},
		{"next beyond end", `{"version":1,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z",
			"partitions":[{"topic":"t","partition":0,"start":0,"end":5,"next":6}]}`, "inconsistent offsets"},
		{"negative lateness", `{"version":2,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z","lateness":"-1m"}`, "negative lateness"},
		{"bad lateness", `{"version":2,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z","lateness":"soon"}`, "lateness"},
		{"skipped beyond next", `{"version":2,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z",
			"partitions":[{"topic":"t","partition":0,"start":0,"end":5,"next":2,"skipped":3}]}`, "3 skipped of 2"},
		{"repeated partition", `{"version":1,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z",
			"partitions":[{"topic":"t","partition":0,"start":0,"end":5,"next":1},{"topic":"t","partition":0,"start":0,"end":5,"next":1}]}`, "repeated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadReplay(path)
			if err == nil {
				t.Fatal("loaded a corrupt checkpoint")
			}
			msg := err.Error()
			for _, want := range []string{path, "corrupt", "delete it to start over", tt.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestReplayCheck(t *testing.T) {
	s := sampleState()
	if err := s.Check("elastic", from, to, s.Index, s.Lateness); err != nil {
		t.Fatalf("matching job: %v", err)
	}
	// The same instants in another zone match.
	if err := s.Check("elastic", from.In(time.FixedZone("", 3600)), to, s.Index, s.Lateness); err != nil {
		t.Errorf("same window in another zone: %v", err)
	}
	for name, err := range map[string]error{
		"route":    s.Check("other", from, to, s.Index, s.Lateness),
		"from":     s.Check("elastic", from.Add(time.Second), to, s.Index, s.Lateness),
		"to":       s.Check("elastic", from, to.Add(time.Second), s.Index, s.Lateness),
		"index":    s.Check("elastic", from, to, "", s.Lateness),
		"lateness": s.Check("elastic", from, to, s.Index, 0),
	} {
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("%s differs: %v, want ErrMismatch", name, err)
		}
	}
}

func TestReplayFileName(t *testing.T) {
	got := ReplayFileName("elastic", from, to.Add(250*time.Millisecond))
	if want := ".siembridge-replay-elastic-20240501T130000Z-20240501T140000.250Z.json"; got != want {
		t.Errorf("ReplayFileName = %s, want %s", got, want)
	}
}

// TestReplayVersion1: a checkpoint written before the lateness bound is
// read as lateness 0, the rule it was made with.
func TestReplayVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	v1 := `{"version":1,"route":"r","from":"2024-05-01T13:00:00Z","to":"2024-05-01T14:00:00Z",
		"partitions":[{"topic":"t","partition":0,"start":0,"end":5,"next":2}]}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadReplay(path)
	if err != nil || s.Lateness != 0 || s.Partitions[0].Skipped != 0 {
		t.Fatalf("version 1: %+v, %v", s, err)
	}
	if err := s.Check("r", from, to, "", 15*time.Minute); !errors.Is(err, ErrMismatch) {
		t.Errorf("version 1 resumed with a lateness: %v, want ErrMismatch", err)
	}
}

package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// ReplayVersion is the format version of a replay checkpoint file written
// now. Version 1 files (no lateness, no skipped counts) are still read: they
// were made by the rule "a partition ends at its first record at or after
// To", which is lateness 0.
const ReplayVersion = 2

// ReplayState is the progress of one replay job: which window of which
// route, and for every partition where it started, where it stops at the
// latest and the next offset not yet delivered. It is what a replay
// checkpoint file holds, as JSON.
type ReplayState struct {
	Version int       `json:"version"`
	Route   string    `json:"route"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Index is the --index override, empty for the route's own.
	Index string `json:"index,omitempty"`
	// Lateness is how far record timestamps may stray from their order:
	// each partition starts at the first record stamped at or after
	// From − Lateness and ends at a record stamped at or after To +
	// Lateness. Written as a Go duration ("15m0s").
	Lateness   time.Duration     `json:"-"`
	Partitions []ReplayPartition `json:"partitions"`
	Updated    time.Time         `json:"updated"`
}

// replayStateJSON is ReplayState on disk: the lateness as a readable
// duration.
type replayStateJSON struct {
	replayStateAlias
	Lateness string `json:"lateness,omitempty"`
}

type replayStateAlias ReplayState

// MarshalJSON writes the lateness as a Go duration string.
func (s ReplayState) MarshalJSON() ([]byte, error) {
	return json.Marshal(replayStateJSON{replayStateAlias(s), s.Lateness.String()})
}

// UnmarshalJSON reads what MarshalJSON writes; no lateness is 0.
func (s *ReplayState) UnmarshalJSON(data []byte) error {
	var j replayStateJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = ReplayState(j.replayStateAlias)
	s.Lateness = 0
	if j.Lateness != "" {
		d, err := time.ParseDuration(j.Lateness)
		if err != nil {
			return fmt.Errorf("lateness: %w", err)
		}
		s.Lateness = d
	}
	return nil
}

// ReplayPartition is one partition of a replay. Offsets in [Start, Next)
// were delivered or dead-lettered, or lie outside the window (Skipped of
// them).
type ReplayPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Start is the first offset with a timestamp at or after From −
	// Lateness (the end offset when there is none).
	Start int64 `json:"start"`
	// End is the log-end offset when the replay first started: the replay
	// never reads at or beyond it.
	End int64 `json:"end"`
	// Next is the first offset not yet delivered.
	Next int64 `json:"next"`
	// Skipped counts the records in [Start, Next) that were read and not
	// delivered because their timestamp is outside [From, To).
	Skipped int64 `json:"skipped,omitempty"`
	// Done is set when the partition reached End or a record at or after
	// To + Lateness, and everything before it was delivered.
	Done bool `json:"done,omitempty"`
}

// Complete reports whether every partition is done.
func (s *ReplayState) Complete() bool {
	for _, p := range s.Partitions {
		if !p.Done {
			return false
		}
	}
	return true
}

// ErrMismatch is wrapped by ReplayState.Check when a checkpoint belongs to
// another job.
var ErrMismatch = errors.New("checkpoint belongs to another replay")

// Check returns an error wrapping ErrMismatch unless the state is for this
// route, window, index and lateness.
func (s *ReplayState) Check(route string, from, to time.Time, index string, lateness time.Duration) error {
	switch {
	case s.Route != route:
		return fmt.Errorf("%w: route %q, not %q", ErrMismatch, s.Route, route)
	case !s.From.Equal(from) || !s.To.Equal(to):
		return fmt.Errorf("%w: window [%s, %s), not [%s, %s)", ErrMismatch,
			s.From.UTC().Format(time.RFC3339Nano), s.To.UTC().Format(time.RFC3339Nano),
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	case s.Index != index:
		return fmt.Errorf("%w: index %q, not %q", ErrMismatch, s.Index, index)
	case s.Lateness != lateness:
		return fmt.Errorf("%w: lateness %s, not %s", ErrMismatch, s.Lateness, lateness)
	}
	return nil
}

// validate checks what a loaded state must satisfy to be resumed from.
func (s *ReplayState) validate() error {
	if s.Version != 1 && s.Version != ReplayVersion {
		return fmt.Errorf("version %d, this siembridge reads versions 1 and %d", s.Version, ReplayVersion)
	}
	if s.Lateness < 0 {
		return fmt.Errorf("negative lateness %s", s.Lateness)
	}
	if s.Route == "" {
		return errors.New("no route")
	}
	if s.From.IsZero() || s.To.IsZero() || !s.From.Before(s.To) {
		return fmt.Errorf("bad window [%v, %v)", s.From, s.To)
	}
	seen := make(map[string]bool, len(s.Partitions))
	for _, p := range s.Partitions {
		k := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
		if p.Topic == "" || p.Partition < 0 || seen[k] {
			return fmt.Errorf("bad or repeated partition %s", k)
		}
		seen[k] = true
		if p.Start < 0 || p.Next < p.Start || p.End < p.Next {
			return fmt.Errorf("partition %s: inconsistent offsets start=%d next=%d end=%d", k, p.Start, p.Next, p.End)
		}
		if p.Skipped < 0 || p.Skipped > p.Next-p.Start {
			return fmt.Errorf("partition %s: %d skipped of %d offsets", k, p.Skipped, p.Next-p.Start)
		}
	}
	return nil
}

// LoadReplay reads a replay checkpoint file. A file that is not a valid
// checkpoint gives an error naming the file and the problem; the error
// wraps fs.ErrNotExist when there is no file.
func LoadReplay(path string) (*ReplayState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay checkpoint: %w", err)
	}
	var s ReplayState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("replay checkpoint %s is corrupt (%v); delete it to start over", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("replay checkpoint %s is corrupt (%v); delete it to start over", path, err)
	}
	return &s, nil
}

// SaveReplay writes s to path atomically: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. A crash
// leaves either the old or the new file, never a mix. Not safe for
// concurrent calls on the same path.
func SaveReplay(path string, s *ReplayState) error {
	s.Version = ReplayVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("replay checkpoint: sync %s: %w", dir, err)
	}
	return nil
}

// RemoveReplay deletes a checkpoint file; a missing file is not an error.
func RemoveReplay(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replay checkpoint: %w", err)
	}
	return nil
}

// ReplayFileName is the default checkpoint file name of a replay:
// .siembridge-replay-<route>-<from>-<to>.json, times in UTC as
// 20240501T130000Z (with milliseconds when they are not zero).
func ReplayFileName(route string, from, to time.Time) string {
	return ".siembridge-replay-" + route + "-" + compactTime(from) + "-" + compactTime(to) + ".json"
}

func compactTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() != 0 {
		return t.Format("20060102T150405.000Z")
	}
	return t.Format("20060102T150405Z")
}

// FindReplayFiles lists the default-named checkpoint files of route in
// dir.
func FindReplayFiles(dir, route string) ([]string, error) {
	re := regexp.MustCompile(`^\.siembridge-replay-` + regexp.QuoteMeta(route) + `-\d{8}T\d{6}(\.\d{3})?Z-\d{8}T\d{6}(\.\d{3})?Z\.json$`)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && re.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// ManifestVersion is the format version of manifest.json written now.
const ManifestVersion = 1

// File names inside an export directory.
const (
	// ManifestName is the manifest of a complete export.
	ManifestName = "manifest.json"
	// StateName is the manifest of an export in progress or interrupted
	// (Complete false): what --resume continues from. It is replaced by
	// ManifestName when the export completes.
	StateName = "export-state.json"
	// CheckpointName is the replay checkpoint of the reading (package
	// replay); deleted when the export completes.
	CheckpointName = "export-checkpoint.json"
	// partialSuffix marks a data file being written; it is renamed
	// without the suffix once complete and synced.
	partialSuffix = ".partial"
)

// Manifest describes an export: what was asked, where it was read from,
// and every file written, with its SHA-256. It is manifest.json, as JSON.
type Manifest struct {
	Version int `json:"version"`
	// Complete is true in manifest.json, false in export-state.json.
	Complete bool `json:"complete"`
	// ToolVersion is the version line of the siembridge that wrote it.
	ToolVersion string `json:"tool_version"`
	// ClusterID is the Kafka cluster id the events were read from (empty
	// when the brokers did not tell).
	ClusterID string   `json:"cluster_id"`
	Route     string   `json:"route"`
	Topics    []string `json:"topics"`
	// From, To: the window of record timestamps, [From, To).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Lateness is the lateness bound the partitions were read with, as a
	// Go duration ("15m0s").
	Lateness string `json:"lateness"`
	// Filter is the --filter expression, empty for none.
	Filter string `json:"filter,omitempty"`
	Format Format `json:"format"`
	// MaxFileSize is the size at which files were rotated.
	MaxFileSize int64 `json:"max_file_size"`
	// Started is when the first run began, Finished when the last one
	// ended (zero until complete); Runs counts the runs (1 + resumes).
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Runs     int       `json:"runs"`
	// Gaps name what retention had deleted of the window (an export run
	// with --allow-partial); empty when nothing was missing.
	Gaps []string `json:"gaps,omitempty"`
	// Totals of the complete export.
	Events   int64 `json:"events"`
	Bytes    int64 `json:"bytes"`
	Skipped  int64 `json:"skipped"`
	Filtered int64 `json:"filtered"`

	Partitions []PartitionEntry `json:"partitions"`
	Files      []FileEntry      `json:"files"`
}

// PartitionEntry is one partition of an export.
type PartitionEntry struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// StartOffset is where reading began (the first record stamped at or
	// after from − lateness), EndOffset the log end captured when the
	// export started: the partition was read in [StartOffset, EndOffset)
	// at most, stopping early at a record stamped at or after to +
	// lateness.
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	// StopOffset is where the reading stopped: EndOffset, or the offset of
	// the first record stamped at or after to + lateness. Every record of
	// [StartOffset, StopOffset) was read.
	StopOffset int64 `json:"stop_offset"`
	// FirstOffset and LastOffset are the first and last offset written,
	// -1 when no event of the partition was written.
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	// Events written; Filtered: events of the window the filter left out;
	// Skipped: records read whose timestamp is outside the window (within
	// the lateness bound) — after a resume an upper bound: the records
	// read again from after the last complete file may count twice.
	Events   int64 `json:"events"`
	Filtered int64 `json:"filtered"`
	Skipped  int64 `json:"skipped"`
}

// FileEntry is one data file of an export.
type FileEntry struct {
	// Name is the file's name inside the export directory.
	Name      string `json:"name"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Index numbers the partition's files from 1, in offset order.
	Index       int    `json:"index"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	Events      int64  `json:"events"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	// Filtered counts the events of the window the filter left out
	// between the previous file's last event and this file's.
	Filtered int64 `json:"filtered,omitempty"`
}

// sortFiles orders files by topic, partition and index.
func sortFiles(fs []FileEntry) {
	sort.Slice(fs, func(a, b int) bool {
		x, y := fs[a], fs[b]
		if x.Topic != y.Topic {
			return x.Topic < y.Topic
		}
		if x.Partition != y.Partition {
			return x.Partition < y.Partition
		}
		return x.Index < y.Index
	})
}

// LoadManifest reads dir's manifest.json.
func LoadManifest(dir string) (*Manifest, error) {
	return loadManifest(filepath.Join(dir, ManifestName))
}

func loadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("%s: version %d, this siembridge reads version %d", path, m.Version, ManifestVersion)
	}
	if _, err := ParseFormat(string(m.Format)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range m.Files {
		if f.Name == "" || filepath.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." {
			return nil, fmt.Errorf("%s: bad file name %q", path, f.Name)
		}
	}
	return &m, nil
}

// writeJSONFile writes v to path atomically: a temporary file, synced,
// renamed over path, and the directory synced.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return errors.Join(err, removeIfExists(tmp))
	}
	return syncDir(filepath.Dir(path))
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

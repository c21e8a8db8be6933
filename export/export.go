// Package export writes a time window of a route's topics to files with a
// manifest that proves what they hold (forensics, legal hold, analysis in
// pandas or DuckDB), and verifies such a directory later: against its
// manifest, and against the Kafka log while it still holds the records.
//
// Reading is package replay's — the same window, lateness and retention
// rules, the same private consumer, checkpoint, rate limit and parallelism
// — with a sink that writes files: each partition to its own files, in
// offset order, rotated by size (TOPIC-pNNNN-NNNNNN.FORMAT). A file is
// written as NAME.partial and renamed once complete and synced; only
// complete files are listed in the manifest, each with its SHA-256, size,
// event count and offset range.
package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/checkpoint"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/replay"
)

// DefaultMaxFileSize is Options.MaxFileSize when it is 0.
const DefaultMaxFileSize = 256 << 20

// Options describe one export.
type Options struct {
	// Route names the route whose topics and Kafka settings are read. Its
	// sink and its routes[].filter play no part: an export takes every
	// record of the window that Filter selects. Required.
	Route string
	// From and To bound the window of record timestamps, [From, To).
	// Required.
	From, To time.Time
	// Lateness is replay.Options.Lateness: 0 the default (15m), negative
	// none.
	Lateness time.Duration
	// Filter selects the events to write; nil: all. FilterText is its
	// source, recorded in the manifest.
	Filter     func(*event.Event) bool
	FilterText string
	// Dir is the export directory, created when missing. Required. A new
	// export refuses a directory that holds one already.
	Dir string
	// Format of the files. Default NDJSON.
	Format Format
	// MaxFileSize: a file is completed and the next one started when it
	// reaches about this size. Default DefaultMaxFileSize (256 MiB).
	MaxFileSize int64
	// Rate and RateBytes limit the events and bytes per second read (of
	// the window's events' documents, as routes[].rate counts them,
	// before Filter: a narrow filter does not make the reading faster),
	// so that reading years of history leaves room for the live
	// consumers. Negative: the route's catch-up rate; 0: unlimited.
	Rate, RateBytes float64
	// Parallel is how many partitions are read at once. Default 4.
	Parallel int
	// Resume continues the interrupted export in Dir (its state file must
	// exist and be for the same route, window, lateness, filter and
	// format).
	Resume bool
	// AllowPartial exports what Kafka still holds when retention deleted
	// part of the window (recorded in Manifest.Gaps); default: a
	// *replay.RetentionError before anything is written.
	AllowPartial bool
	// ToolVersion is recorded in the manifest.
	ToolVersion string
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// OnProgress is called every ProgressInterval (default 500ms) and
	// once at the end, from one goroutine. Optional.
	OnProgress       func(Progress)
	ProgressInterval time.Duration
}

// Progress is a snapshot of an export: the reading's (replay.Progress,
// with Delivered the events written and Filtered those the filter left out,
// in this run) and the files completed.
type Progress struct {
	replay.Progress
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Result is what Run did.
type Result struct {
	Progress
	// Complete: manifest.json was written.
	Complete bool
	// Manifest is the manifest written (Complete) or the state saved for
	// --resume.
	Manifest *Manifest
}

// OptionError reports an unusable option; Option is the command-line
// flag's name.
type OptionError = replay.OptionError

func optErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// Run exports the window. It blocks until the export is complete, ctx
// ends or something fails. On success Dir holds the files and
// manifest.json. Interrupted or failed, Dir keeps the complete files,
// export-state.json and the reading's checkpoint, and a Run with Resume
// continues: a partition is read again from after its last complete file
// (files being written are deleted), so no event is written twice and
// none is missed. Options errors are *OptionError; retention that deleted
// part of the window is a *replay.RetentionError (unless AllowPartial).
func Run(ctx context.Context, cfg *config.Config, opts Options) (Result, error) {
	var res Result
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("job", "export")
	rc, err := checkOptions(cfg, &opts)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return res, optErr("out", "%v", err)
	}
	st, err := startState(opts)
	if err != nil {
		return res, err
	}
	res.Manifest = st
	cp := filepath.Join(opts.Dir, CheckpointName)
	resumeReading, err := rewindCheckpoint(cp, st)
	if err != nil {
		return res, err
	}
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		return res, err
	}
	sc.ClientID += "-export"
	if st.ClusterID, err = clusterID(cfg.Kafka.Brokers, sc, rc.Topics); err != nil {
		return res, err
	}
	j := &job{opts: opts, state: st, statePath: filepath.Join(opts.Dir, StateName), checkpoint: cp}
	if err := j.saveState(); err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	j.w = newWriter(opts.Dir, opts.Format, opts.MaxFileSize, opts.Filter, j.addFile, cancel, st.Files)

	rcfg := exportConfig(cfg, rc, opts)
	rres, runErr := replay.Run(ctx, rcfg, replay.Options{
		Route: rc.Name, From: opts.From, To: opts.To, Lateness: opts.Lateness, AllowPartial: opts.AllowPartial,
		Rate: -1, Checkpoint: cp, Resume: resumeReading, Parallel: opts.Parallel, Logger: log,
		Sink: j.w, OnProgress: j.progress, ProgressInterval: opts.ProgressInterval,
	})
	// replay.Run closed the writer; a file it could not complete fails
	// the export even when the reading finished.
	closeErr := j.w.Close()
	if cause := context.Cause(ctx); runErr != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = fmt.Errorf("export: %w", cause)
	}
	res.Progress = j.lastProgress(rres.Progress)
	for _, g := range rres.Gaps {
		if !slices.Contains(st.Gaps, g.String()) {
			st.Gaps = append(st.Gaps, g.String())
		}
	}
	if runErr == nil && closeErr == nil && rres.Complete {
		err := j.complete(rres)
		res.Complete = err == nil
		if opts.OnProgress != nil {
			opts.OnProgress(res.Progress)
		}
		return res, err
	}
	if err := j.saveState(); err != nil {
		log.Error("cannot save the export's state", "err", err)
	}
	return res, errors.Join(runErr, closeErr)
}

// Plan says what Run would read, without reading or writing anything:
// replay.Plan of the export's window at its rates (the filter is not
// applied to the estimates). opts.Dir is not used; with Resume the plan
// is of a new export of the same window. Errors are as replay.Plan's.
func Plan(ctx context.Context, cfg *config.Config, opts Options) (*replay.PlanResult, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	rc, err := checkOptions(cfg, &opts)
	if err != nil {
		return nil, err
	}
	return replay.Plan(ctx, exportConfig(cfg, rc, opts), replay.Options{Route: rc.Name, From: opts.From, To: opts.To,
		Lateness: opts.Lateness, AllowPartial: opts.AllowPartial, Rate: -1, Parallel: opts.Parallel, Logger: opts.Logger})
}

// checkOptions checks opts and fills in defaults; it returns the route.
func checkOptions(cfg *config.Config, opts *Options) (config.Route, error) {
	var rc config.Route
	i := slices.IndexFunc(cfg.Routes, func(r config.Route) bool { return r.Name == opts.Route })
	if i < 0 {
		return rc, optErr("route", "no route named %q", opts.Route)
	}
	rc = cfg.Routes[i]
	if opts.Dir == "" {
		return rc, optErr("out", "required")
	}
	f, err := ParseFormat(string(opts.Format))
	if err != nil {
		return rc, &OptionError{Option: "format", Err: err}
	}
	opts.Format = f
	switch {
	case opts.MaxFileSize == 0:
		opts.MaxFileSize = DefaultMaxFileSize
	case opts.MaxFileSize < 4096:
		return rc, optErr("max-file-size", "%d bytes is too small (at least 4096)", opts.MaxFileSize)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.From.IsZero() || opts.To.IsZero() || !opts.From.Before(opts.To) {
		return rc, optErr("to", "the window [%s, %s) is empty", opts.From.UTC().Format(time.RFC3339Nano), opts.To.UTC().Format(time.RFC3339Nano))
	}
	return rc, nil
}

// exportConfig is cfg with the route as the export reads it: its rate
// (replay's catch-up rate) set from opts, one delivery slot per partition
// read at once, no routes[].filter and no kafka.headers.
func exportConfig(cfg *config.Config, rc config.Route, opts Options) *config.Config {
	if opts.Rate >= 0 {
		rc.Rate.CatchupEventsPerSecond = opts.Rate
	}
	if opts.RateBytes >= 0 {
		rc.Rate.CatchupBytesPerSecond = config.ByteSize(opts.RateBytes)
	}
	rc.Rate.Burst = 0
	rc.Workers = opts.Parallel
	rc.Filter = nil
	c := *cfg
	// An export keeps each record's value, not the delivered document
	// (see eventJSON): Kafka headers added to the document would reach
	// only the records whose value is not a one-line object.
	c.Kafka.Headers.Include = false
	c.Routes = []config.Route{rc}
	return &c
}

// latenessString is the lateness replay runs with for opts.Lateness.
func latenessString(d time.Duration) string {
	switch {
	case d == 0:
		d = replay.DefaultLateness
	case d < 0:
		d = 0
	}
	return d.String()
}

// startState returns the state of a new export, or the saved one of a
// resumed export (checked against opts, its partial files deleted). A new
// export refuses a directory with a manifest or a state file.
func startState(opts Options) (*Manifest, error) {
	statePath := filepath.Join(opts.Dir, StateName)
	if _, err := os.Stat(filepath.Join(opts.Dir, ManifestName)); err == nil {
		return nil, optErr("out", "%s holds a complete export (%s); choose another directory", opts.Dir, ManifestName)
	}
	if !opts.Resume {
		if _, err := os.Stat(statePath); err == nil {
			return nil, optErr("out", "%s holds an interrupted export (%s): continue it with --resume, or choose another directory", opts.Dir, StateName)
		}
		return &Manifest{Version: ManifestVersion, ToolVersion: opts.ToolVersion, Route: opts.Route,
			From: opts.From.UTC(), To: opts.To.UTC(), Lateness: latenessString(opts.Lateness), Filter: opts.FilterText,
			Format: opts.Format, MaxFileSize: opts.MaxFileSize, Started: time.Now().UTC(), Runs: 1}, nil
	}
	st, err := loadManifest(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, optErr("resume", "no interrupted export in %s (%s missing)", opts.Dir, StateName)
	}
	if err != nil {
		return nil, &OptionError{Option: "resume", Err: err}
	}
	if err := st.matches(opts); err != nil {
		return nil, &OptionError{Option: "resume", Err: err}
	}
	if err := removePartials(opts.Dir); err != nil {
		return nil, err
	}
	st.Runs++
	st.ToolVersion = opts.ToolVersion
	return st, nil
}

// LoadState reads the state of dir's interrupted export, for a command
// that resumes it without repeating its options.
func LoadState(dir string) (*Manifest, error) {
	return loadManifest(filepath.Join(dir, StateName))
}

// matches says how the state of an interrupted export differs from opts.
func (m *Manifest) matches(opts Options) error {
	switch {
	case m.Route != opts.Route:
		return fmt.Errorf("the interrupted export is of route %q, not %q", m.Route, opts.Route)
	case !m.From.Equal(opts.From) || !m.To.Equal(opts.To):
		return fmt.Errorf("the interrupted export is of the window [%s, %s)", m.From.Format(time.RFC3339Nano), m.To.Format(time.RFC3339Nano))
	case m.Lateness != latenessString(opts.Lateness):
		return fmt.Errorf("the interrupted export has lateness %s, not %s", m.Lateness, latenessString(opts.Lateness))
	case m.Filter != opts.FilterText:
		return fmt.Errorf("the interrupted export has filter %q, not %q", m.Filter, opts.FilterText)
	case m.Format != opts.Format:
		return fmt.Errorf("the interrupted export is in format %s, not %s", m.Format, opts.Format)
	case m.MaxFileSize != opts.MaxFileSize:
		return fmt.Errorf("the interrupted export rotates files at %d bytes, not %d", m.MaxFileSize, opts.MaxFileSize)
	}
	return nil
}

// removePartials deletes the files an interrupted run was writing.
func removePartials(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*"+partialSuffix))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil {
			return err
		}
	}
	return nil
}

// rewindCheckpoint moves the reading's checkpoint back to what the
// complete files hold: the checkpoint may be ahead of them (events
// written to a file that was not complete when the run stopped). It
// reports whether there is a checkpoint to resume the reading from.
func rewindCheckpoint(path string, st *Manifest) (bool, error) {
	cp, err := checkpoint.LoadReplay(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		if len(st.Files) == 0 && st.Runs == 1 {
			return false, removeIfExists(path)
		}
		return false, fmt.Errorf("export checkpoint: %w", err)
	}
	if st.Runs == 1 {
		// A leftover of a directory reused by hand: start over.
		return false, removeIfExists(path)
	}
	last := map[partKey]int64{}
	for _, f := range st.Files {
		k := partKey{f.Topic, f.Partition}
		if l, ok := last[k]; !ok || f.LastOffset > l {
			last[k] = f.LastOffset
		}
	}
	for i := range cp.Partitions {
		p := &cp.Partitions[i]
		next := p.Start
		if l, ok := last[partKey{p.Topic, p.Partition}]; ok {
			next = max(p.Start, l+1)
		}
		if p.Next > next {
			p.Next, p.Done = next, false
			p.Skipped = min(p.Skipped, p.Next-p.Start)
		}
	}
	return true, checkpoint.SaveReplay(path, cp)
}

// job is a running export.
type job struct {
	opts       Options
	w          *writer
	statePath  string
	checkpoint string

	mu    sync.Mutex
	state *Manifest
	// plan is the reading's checkpoint as last seen: each partition's
	// offsets read and skipped.
	plan *checkpoint.ReplayState
}

// addFile records a complete file in the state.
func (j *job) addFile(f FileEntry) error {
	j.mu.Lock()
	j.state.Files = append(j.state.Files, f)
	j.mu.Unlock()
	return j.saveState()
}

func (j *job) saveState() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	sortFiles(j.state.Files)
	return writeJSONFile(j.statePath, j.state)
}

// progress is the reading's OnProgress: it keeps the checkpoint's
// per-partition plan (the last call comes after the final save, before a
// complete reading deletes it) and passes the progress on.
func (j *job) progress(p replay.Progress) {
	if plan, err := checkpoint.LoadReplay(j.checkpoint); err == nil {
		j.mu.Lock()
		j.plan = plan
		j.mu.Unlock()
	}
	if j.opts.OnProgress != nil {
		j.opts.OnProgress(j.lastProgress(p))
	}
}

func (j *job) lastProgress(p replay.Progress) Progress {
	bytes, files := j.w.stats()
	p.Delivered, p.Filtered = j.w.written.Load(), j.w.filtered.Load()
	return Progress{Progress: p, Files: files, Bytes: bytes}
}

// complete writes manifest.json and removes the state file.
func (j *job) complete(rres replay.Result) error {
	j.mu.Lock()
	m := j.state
	plan := j.plan
	j.mu.Unlock()
	m.Complete = true
	m.Finished = time.Now().UTC()
	m.Topics = nil
	m.Partitions = nil
	m.Events, m.Bytes = 0, 0
	m.Skipped, m.Filtered = 0, 0
	trailing := j.w.trailing()
	sortFiles(m.Files)
	for _, f := range m.Files {
		m.Events += f.Events
		m.Bytes += f.Size
	}
	if plan == nil {
		return errors.New("export: the reading's plan is unknown (its checkpoint was not readable)")
	}
	for _, p := range plan.Partitions {
		pe := PartitionEntry{Topic: p.Topic, Partition: p.Partition, StartOffset: p.Start, EndOffset: p.End, StopOffset: p.Next,
			FirstOffset: -1, LastOffset: -1, Skipped: p.Skipped, Filtered: trailing[partKey{p.Topic, p.Partition}]}
		for _, f := range m.Files {
			if f.Topic != p.Topic || f.Partition != p.Partition {
				continue
			}
			if pe.FirstOffset < 0 {
				pe.FirstOffset = f.FirstOffset
			}
			pe.LastOffset = f.LastOffset
			pe.Events += f.Events
			pe.Filtered += f.Filtered
		}
		m.Partitions = append(m.Partitions, pe)
		m.Skipped += pe.Skipped
		m.Filtered += pe.Filtered
		if !slices.Contains(m.Topics, p.Topic) {
			m.Topics = append(m.Topics, p.Topic)
		}
	}
	if err := writeJSONFile(filepath.Join(j.opts.Dir, ManifestName), m); err != nil {
		return err
	}
	return errors.Join(removeIfExists(j.statePath), removeIfExists(j.checkpoint))
}

// clusterID asks the brokers for the cluster's id (Metadata v2 and later
// carry it); empty when they do not say.
func clusterID(brokers []string, sc *sarama.Config, topics []string) (string, error) {
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return "", fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	b, err := client.Controller()
	if err != nil {
		return "", fmt.Errorf("kafka: %w", err)
	}
	resp, err := b.GetMetadata(sarama.NewMetadataRequest(sc.Version, topics))
	if err != nil {
		return "", fmt.Errorf("kafka metadata: %w", err)
	}
	if resp.ClusterID == nil {
		return "", nil
	}
	return strings.TrimSpace(*resp.ClusterID), nil
}

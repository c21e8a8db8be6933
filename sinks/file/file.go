// Package file is the siembridge sink that appends events to a local file
// as NDJSON (one JSON document per line), with size-based rotation.
//
// A batch is acknowledged — Send returns nil — only after it was written in
// one write call and the file was fsynced, so the offsets the bridge then
// commits never run ahead of what is on disk. A batch is written completely
// or reported as failed: when a write or fsync fails, the file is truncated
// back to its size before the batch, so the retry does not leave a partial
// or doubled line behind.
//
// Rotation is rename-based: path → path.1 → path.2 … path.<max_files>,
// the oldest deleted. Every step is a rename of a whole file, so a crash
// during rotation loses nothing (a later rotation carries on around a
// missing number) and a restart re-opens path in append mode.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// maxPooledBytes: a write buffer that grew beyond this is dropped after
// use rather than kept.
const maxPooledBytes = 16 << 20

// Option configures a Sink beyond its config: injectables only.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Sink appends batches to a file. It is safe for concurrent use: one mutex
// serialises writes, so lines of different batches never interleave. Close
// must be called to sync and close the file.
type Sink struct {
	path     string
	maxSize  int64
	maxFiles int
	log      *slog.Logger

	mu     sync.Mutex // guards everything below
	f      *os.File   // nil after a failure it could not repair; reopened by the next Send
	size   int64      // bytes in f
	needNL bool       // f does not end with a newline (a torn line from a crash)
	buf    []byte
	closed bool

	// write is (*os.File).Write; tests replace it to fail part-way.
	write func(*os.File, []byte) (int, error)
}

// New opens (creating it and its directory when needed) cfg.Path for
// appending. cfg must have been defaulted and validated by package config
// (config.Load does both); New checks nothing config checks, only what it
// finds on disk.
func New(cfg config.File, opts ...Option) (*Sink, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Sink{path: filepath.Clean(cfg.Path), maxSize: int64(cfg.MaxSize), maxFiles: cfg.MaxFiles, log: o.logger,
		write: (*os.File).Write}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return s, nil
}

// open opens s.path for appending and learns its size and whether it ends
// with a newline. mu must be held (or s not yet shared).
func (s *Sink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size, s.needNL = f, st.Size(), false
	if s.size > 0 {
		s.needNL, err = lacksNewline(s.path, s.size)
		if err != nil {
			f.Close()
			s.f = nil
			return err
		}
	}
	return nil
}

// lacksNewline reports whether the file's last byte is not a newline.
func lacksNewline(path string, size int64) (bool, error) {
	r, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer r.Close()
	var b [1]byte
	if _, err := r.ReadAt(b[:], size-1); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return b[0] != '\n', nil
}

// Send appends every event of batch as one line (its document and "\n"),
// in one write, then fsyncs; it returns nil only once the data is on disk.
// When the file would grow beyond max_size it is rotated first (a batch is
// never split across files, so one batch larger than max_size makes a file
// that large). A failure is a retryable *sinks.RequestError and leaves the
// file as it was before the batch. Safe for concurrent use; blocks while
// another Send writes.
func (s *Sink) Send(ctx context.Context, batch []*event.Event) error {
	if len(batch) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sinks.ErrClosed
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("file: reopen: %w", err)}
		}
	}

	buf := s.buf[:0]
	if s.needNL {
		buf = append(buf, '\n') // end the torn line: it stays one bad line, ours start clean
	}
	for _, e := range batch {
		buf = appendLine(buf, e.Doc)
	}
	if cap(buf) <= maxPooledBytes {
		defer func(b []byte) { s.buf = b[:0] }(buf)
	}

	if s.size > 0 && s.size+int64(len(buf)) > s.maxSize {
		if err := s.rotate(); err != nil {
			return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("file: rotate: %w", err)}
		}
		if s.needNL { // the torn line left with the old file
			buf = buf[1:]
			s.needNL = false
		}
	}
	before := s.size
	n, err := s.write(s.f, buf)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		s.undo(before, int64(n))
		return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("file: write %s: %w", s.path, err)}
	}
	s.size += int64(n)
	s.needNL = false
	return nil
}

// appendLine appends doc and a newline. Doc is one JSON object; a
// pretty-printed one may hold raw newlines, which would split the line. In
// valid JSON a raw newline can only be white space between tokens (inside
// strings it is escaped), so a space replaces it without changing the
// document.
func appendLine(dst, doc []byte) []byte {
	start := len(dst)
	dst = append(dst, doc...)
	for i := bytes.IndexByte(dst[start:], '\n'); i >= 0; i = bytes.IndexByte(dst[start:], '\n') {
		dst[start+i] = ' '
		start += i + 1
	}
	return append(dst, '\n')
}

// undo truncates the file back to before after a failed write of which
// written bytes may have landed. If even that fails the file is closed and
// reopened by the next Send, which then starts its batch on a new line.
func (s *Sink) undo(before, written int64) {
	err := s.f.Truncate(before)
	if err == nil {
		err = s.f.Sync()
	}
	if err == nil {
		return
	}
	s.log.Error("file: cannot truncate after a failed write; a partial line may remain",
		"path", s.path, "size", before, "written", written, "err", err)
	s.f.Close()
	s.f = nil
}

// rotate shifts path.(i) to path.(i+1), dropping path.<maxFiles>, renames
// path to path.1 and opens a new path. mu must be held.
func (s *Sink) rotate() error {
	if err := s.f.Close(); err != nil {
		s.log.Warn("file: close before rotation", "path", s.path, "err", err)
	}
	s.f = nil
	if err := os.Remove(s.numbered(s.maxFiles)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := s.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(s.numbered(i), s.numbered(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(s.path, s.numbered(1)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(s.path), s.log)
	return s.open()
}

func (s *Sink) numbered(i int) string { return s.path + "." + strconv.Itoa(i) }

// syncDir makes the renames in dir durable; a failure only weakens that, so
// it is logged.
func syncDir(dir string, log *slog.Logger) {
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		log.Debug("file: sync directory", "dir", dir, "err", err)
	}
}

// Probe checks that the file's directory is writable by creating and
// removing a temporary file in it. A failure is a retryable
// *sinks.RequestError.
func (s *Sink) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return sinks.ErrClosed
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), ".siembridge-probe-*")
	if err != nil {
		return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("file: directory not writable: %w", err)}
	}
	name := f.Name()
	_, werr := f.Write([]byte("probe\n"))
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("file: probe: %w", err)}
	}
	return nil
}

// Close syncs and closes the file. Send after Close returns
// sinks.ErrClosed; calling Close again is a no-op.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	if err != nil {
		return fmt.Errorf("file: close: %w", err)
	}
	return nil
}

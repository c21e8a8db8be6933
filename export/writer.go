package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/parquet-go/parquet-go"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

// Parquet row groups are cut at this many rows or bytes of events,
// whichever comes first, so that a writer's memory stays bounded.
const (
	rowGroupRows  = 128 << 10
	rowGroupBytes = 64 << 20
)

// writer is the sink of an export: it writes each partition's events, in
// order, to that partition's current file, and rotates files by size. A
// file is written as NAME.partial and renamed to NAME once complete and
// synced to disk; only then is it recorded (onFile). Send is safe for
// concurrent use by one goroutine per partition, as the delivery stage
// calls it.
type writer struct {
	dir     string
	format  Format
	maxSize int64
	// onFile records a complete file (in the export's state file); an
	// error fails the export.
	onFile func(FileEntry) error
	// fail ends the export with the error of a write (a full disk): the
	// delivery stage would retry a failed Send forever.
	fail func(error)
	// filter selects the events to write (nil: all). It is applied here,
	// not by the delivery stage, so that the rate limit paces every event
	// of the window read, not only those written: a narrow filter over
	// years of history must not read at full speed.
	filter func(*event.Event) bool

	written, filtered atomic.Int64 // in this run

	mu    sync.Mutex
	parts map[partKey]*partFile
	// floor, per partition, is the last offset already in a complete
	// file of an earlier run: a resumed export reads again from after the
	// last complete file and drops what it already has.
	floor map[partKey]int64
	// nextIndex is the index of each partition's next file.
	nextIndex map[partKey]int
	closed    bool
	closeErr  error
	bytes     int64 // of complete files
	files     int
}

var _ sinks.Sink = (*writer)(nil)

type partKey struct {
	topic     string
	partition int32
}

// partFile is a partition's file being written; nil f when none is open.
type partFile struct {
	mu    sync.Mutex
	key   partKey
	index int
	f     *os.File
	name  string // final name
	cw    *countWriter
	enc   encoder
	n     int64 // events in the file
	first int64
	last  int64
	// Events the filter left out: inFile up to the file's last event
	// (since the previous file's), pend after the partition's last
	// written event. A resumed export reads again from after the last
	// complete file, so only what precedes a file's last event is final
	// before the reading ends.
	inFile, pend int64
}

func newWriter(dir string, format Format, maxSize int64, filter func(*event.Event) bool, onFile func(FileEntry) error, fail func(error), done []FileEntry) *writer {
	w := &writer{dir: dir, format: format, maxSize: maxSize, filter: filter, onFile: onFile, fail: fail,
		parts: map[partKey]*partFile{}, floor: map[partKey]int64{}, nextIndex: map[partKey]int{}}
	for _, f := range done {
		k := partKey{f.Topic, f.Partition}
		if fl, ok := w.floor[k]; !ok || f.LastOffset > fl {
			w.floor[k] = f.LastOffset
		}
		w.nextIndex[k] = max(w.nextIndex[k], f.Index+1)
		w.bytes += f.Size
		w.files++
	}
	return w
}

// fileName is the name of a partition's index-th file.
func fileName(topic string, partition int32, index int, f Format) string {
	return fmt.Sprintf("%s-p%04d-%06d.%s", topic, partition, index, f)
}

// Send writes batch (events of one partition, in offset order) to the
// partition's file. It blocks for the writes; a failed write fails the
// whole export.
func (w *writer) Send(ctx context.Context, batch []*event.Event) error {
	for len(batch) > 0 {
		k := partKey{batch[0].Topic, batch[0].Partition}
		n := 1
		for n < len(batch) && batch[n].Topic == k.topic && batch[n].Partition == k.partition {
			n++
		}
		p, floor, err := w.part(k)
		if err != nil {
			return err
		}
		if err := p.write(w, batch[:n], floor); err != nil {
			w.fail(err)
			return &sinks.RequestError{Outcome: sinks.Fatal, Err: err}
		}
		batch = batch[n:]
	}
	return ctx.Err()
}

// Probe: a local directory is always there; a write error ends the export.
func (w *writer) Probe(context.Context) error { return nil }

func (w *writer) part(k partKey) (*partFile, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, 0, sinks.ErrClosed
	}
	p := w.parts[k]
	if p == nil {
		p = &partFile{key: k, index: max(1, w.nextIndex[k])}
		w.parts[k] = p
	}
	floor, ok := w.floor[k]
	if !ok {
		floor = -1
	}
	return p, floor, nil
}

// write appends the events of evs the filter selects, dropping those at or
// below floor.
func (p *partFile) write(w *writer, evs []*event.Event, floor int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(evs) > 0 && evs[0].Offset <= floor {
		evs = evs[1:]
	}
	for len(evs) > 0 {
		// The run of selected events up to the next one left out.
		n := 0
		for n < len(evs) && (w.filter == nil || w.filter(evs[n])) {
			n++
		}
		if err := p.append(w, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
		if len(evs) > 0 {
			p.pend++
			w.filtered.Add(1)
			evs = evs[1:]
		}
	}
	return nil
}

// append writes evs, all selected, rotating files by size.
func (p *partFile) append(w *writer, evs []*event.Event) error {
	for len(evs) > 0 {
		if p.f == nil {
			if err := p.open(w); err != nil {
				return err
			}
		}
		// Up to the next size check: every event when the file is far
		// from full, one at a time near the limit.
		n := 1
		if room := w.maxSize - p.size(); room > 0 {
			n = max(1, min(len(evs), int(room/int64(max(1, evs[0].Size())))/2))
		}
		if err := p.enc.write(evs[:n]); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if p.n == 0 {
			p.first = evs[0].Offset
		}
		p.n += int64(n)
		p.last = evs[n-1].Offset
		p.inFile += p.pend
		p.pend = 0
		w.written.Add(int64(n))
		evs = evs[n:]
		if p.size() >= w.maxSize {
			if err := p.finish(w); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *partFile) size() int64 { return p.cw.n + p.enc.buffered() }

// open starts the partition's next file.
func (p *partFile) open(w *writer) error {
	p.name = fileName(p.key.topic, p.key.partition, p.index, w.format)
	f, err := os.OpenFile(filepath.Join(w.dir, p.name+partialSuffix), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	p.f, p.n = f, 0
	p.cw = &countWriter{w: f, h: sha256.New()}
	if w.format == Parquet {
		p.enc = newParquetEncoder(p.cw)
	} else {
		p.enc = newNDJSONEncoder(p.cw)
	}
	return nil
}

// finish completes the partition's open file: the format's trailer, sync,
// rename to its final name, and onFile.
func (p *partFile) finish(w *writer) error {
	if p.f == nil {
		return nil
	}
	f := p.f
	p.f = nil
	err := p.enc.close()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	partial := filepath.Join(w.dir, p.name+partialSuffix)
	if err == nil {
		err = os.Rename(partial, filepath.Join(w.dir, p.name))
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	fe := FileEntry{Name: p.name, Topic: p.key.topic, Partition: p.key.partition, Index: p.index,
		SHA256: hex.EncodeToString(p.cw.h.Sum(nil)), Size: p.cw.n, Events: p.n, FirstOffset: p.first, LastOffset: p.last,
		Filtered: p.inFile}
	p.index++
	p.inFile = 0
	w.mu.Lock()
	w.bytes += fe.Size
	w.files++
	w.mu.Unlock()
	return w.onFile(fe)
}

// Close completes every open file. It is called once the reading ended,
// completely or not: what was written is kept, complete.
func (w *writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.closeErr
	}
	w.closed = true
	parts := make([]*partFile, 0, len(w.parts))
	for _, p := range w.parts {
		parts = append(parts, p)
	}
	w.mu.Unlock()
	var errs []error
	for _, p := range parts {
		p.mu.Lock()
		errs = append(errs, p.finish(w))
		p.mu.Unlock()
	}
	err := errors.Join(errs...)
	w.mu.Lock()
	w.closeErr = err
	w.mu.Unlock()
	return err
}

// trailing returns, per partition, the events the filter left out after
// its last written event: final once the reading is complete.
func (w *writer) trailing() map[partKey]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[partKey]int64, len(w.parts))
	for k, p := range w.parts {
		p.mu.Lock()
		out[k] = p.pend
		p.mu.Unlock()
	}
	return out
}

// stats returns the bytes and the number of complete files.
func (w *writer) stats() (bytes int64, files int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes, w.files
}

// countWriter counts and hashes what goes to the file.
type countWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.h.Write(b[:n])
	c.n += int64(n)
	return n, err
}

// encoder writes events in a file format.
type encoder interface {
	write(evs []*event.Event) error
	// buffered is an estimate of the bytes written and not yet in the
	// file.
	buffered() int64
	// close writes what is buffered and the format's trailer.
	close() error
}

type ndjsonEncoder struct {
	bw      *bufio.Writer
	zw      *gzip.Writer
	line    []byte
	scratch bytes.Buffer
}

func newNDJSONEncoder(w io.Writer) *ndjsonEncoder {
	bw := bufio.NewWriterSize(w, 256<<10)
	return &ndjsonEncoder{bw: bw, zw: gzip.NewWriter(bw)}
}

func (e *ndjsonEncoder) write(evs []*event.Event) error {
	for _, ev := range evs {
		e.line = appendNDJSON(e.line[:0], ev, &e.scratch)
		if _, err := e.zw.Write(e.line); err != nil {
			return err
		}
	}
	return nil
}

func (e *ndjsonEncoder) buffered() int64 { return int64(e.bw.Buffered()) }

func (e *ndjsonEncoder) close() error {
	if err := e.zw.Close(); err != nil {
		return err
	}
	return e.bw.Flush()
}

type parquetEncoder struct {
	bw        *bufio.Writer
	pw        *parquet.GenericWriter[parquetRow]
	rows      []parquetRow
	groupRows int
	groupSize int
	scratch   bytes.Buffer
}

func newParquetEncoder(w io.Writer) *parquetEncoder {
	bw := bufio.NewWriterSize(w, 1<<20)
	return &parquetEncoder{bw: bw, pw: parquet.NewGenericWriter[parquetRow](bw,
		parquet.CreatedBy("siembridge", "", ""))}
}

func (e *parquetEncoder) write(evs []*event.Event) error {
	e.rows = e.rows[:0]
	for _, ev := range evs {
		e.rows = append(e.rows, newParquetRow(ev, &e.scratch))
		e.groupSize += ev.Size()
	}
	if _, err := e.pw.Write(e.rows); err != nil {
		return err
	}
	clear(e.rows)
	e.groupRows += len(evs)
	if e.groupRows >= rowGroupRows || e.groupSize >= rowGroupBytes {
		e.groupRows, e.groupSize = 0, 0
		return e.pw.Flush()
	}
	return nil
}

// buffered: the row group in memory, at the size of its events (the
// columns compress it), and what bufio holds.
func (e *parquetEncoder) buffered() int64 { return int64(e.bw.Buffered()) + int64(e.groupSize)/4 }

func (e *parquetEncoder) close() error {
	if err := e.pw.Close(); err != nil {
		return err
	}
	return e.bw.Flush()
}

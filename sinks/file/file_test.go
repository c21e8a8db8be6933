package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() Option { return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func newSink(t *testing.T, cfg config.File) *Sink {
	t.Helper()
	s, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// doc is a 20-byte document (21 bytes with its newline) for n < 1000.
func doc(n int) []byte { return fmt.Appendf(nil, `{"seq":%03d,"x":"ab"}`, n) }

func batchOf(from, n int) []*event.Event {
	b := make([]*event.Event, n)
	for i := range b {
		b[i] = &event.Event{Doc: doc(from + i)}
	}
	return b
}

// lines reads path's lines; a missing file has none.
func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("%s does not end with a newline", path)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestRotation(t *testing.T) {
	const line = 21 // bytes per event
	tests := []struct {
		name     string
		maxSize  config.ByteSize
		maxFiles int
		batches  []int // events per Send
		// want[i] is the number of lines in path (i=0), path.1, path.2 …;
		// files beyond are checked absent.
		want []int
	}{
		{"no rotation below max", 100, 3, []int{2, 2}, []int{4}},
		{"exactly max stays", 4 * line, 3, []int{2, 2}, []int{4}},
		{"one byte over rotates", 4*line - 1, 3, []int{2, 2}, []int{2, 2}},
		{"shifts", 2 * line, 3, []int{2, 2, 2}, []int{2, 2, 2}},
		{"oldest dropped", 2 * line, 2, []int{2, 2, 2, 2}, []int{2, 2, 2}},
		{"max_files 1", 2 * line, 1, []int{2, 2, 2}, []int{2, 2}},
		{"batch larger than max gets its own file", 2 * line, 3, []int{1, 5, 1}, []int{1, 5, 1}},
		{"first batch larger than max", line, 3, []int{3}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.ndjson")
			s := newSink(t, config.File{Path: path, MaxSize: tt.maxSize, MaxFiles: tt.maxFiles})
			seq := 0
			for _, n := range tt.batches {
				if err := s.Send(context.Background(), batchOf(seq, n)); err != nil {
					t.Fatal(err)
				}
				seq += n
			}
			// Newest events in path, older in path.1 …, in order.
			next := seq
			for i, want := range tt.want {
				p := path
				if i > 0 {
					p = fmt.Sprintf("%s.%d", path, i)
				}
				got := lines(t, p)
				if len(got) != want {
					t.Fatalf("%s: %d lines, want %d", p, len(got), want)
				}
				next -= want
				for j, l := range got {
					if l != string(doc(next+j)) {
						t.Errorf("%s line %d: %s, want %s", p, j, l, doc(next+j))
					}
				}
			}
			extra := fmt.Sprintf("%s.%d", path, len(tt.want))
			if _, err := os.Stat(extra); err == nil {
				t.Errorf("%s exists", extra)
			}
			if len(tt.want)-1 > tt.maxFiles {
				t.Fatalf("bad test: more files than max_files")
			}
		})
	}
}

func TestRestartContinuesAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "out.ndjson") // parent dirs created
	cfg := config.File{Path: path, MaxSize: 5 * 21, MaxFiles: 3}
	s, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), batchOf(0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = newSink(t, cfg)
	if err := s.Send(context.Background(), batchOf(3, 2)); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path); len(got) != 5 || got[4] != string(doc(4)) {
		t.Fatalf("after restart: %q", got)
	}
	// The size learnt at New drives rotation: the next event rotates.
	if err := s.Send(context.Background(), batchOf(5, 1)); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path+".1"); len(got) != 5 {
		t.Errorf("path.1 has %d lines, want 5", len(got))
	}
}

func TestRestartAfterTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	// A crash left half a line behind.
	if err := os.WriteFile(path, []byte(string(doc(0))+"\n"+`{"seq":00`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, config.File{Path: path, MaxSize: config.MiB, MaxFiles: 2})
	if err := s.Send(context.Background(), batchOf(1, 2)); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	want := []string{string(doc(0)), `{"seq":00`, string(doc(1)), string(doc(2))}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q (our lines start clean)", got, want)
	}
}

func TestConcurrentSendsWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	s := newSink(t, config.File{Path: path, MaxSize: 2000, MaxFiles: 1000})
	const writers, perWriter, per = 8, 25, 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				b := make([]*event.Event, per)
				for k := range b {
					b[k] = &event.Event{Doc: fmt.Appendf(nil, "{\"w\":%d,\n \"i\":%d,\"k\":%d}", w, i, k)} // raw newline inside
				}
				if err := s.Send(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, l := range lines(t, f) {
			var m map[string]int
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s: not a whole line: %q", f, l)
			}
			seen[l] = true
		}
		if fi, err := os.Stat(f); err == nil && fi.Size() > 2000 {
			t.Errorf("%s: %d bytes, over max_size", f, fi.Size())
		}
	}
	if len(seen) != writers*perWriter*per {
		t.Errorf("%d distinct lines, want %d", len(seen), writers*perWriter*per)
	}
}

func TestPartialWriteTruncatedBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	s := newSink(t, config.File{Path: path, MaxSize: config.MiB, MaxFiles: 2})
	if err := s.Send(context.Background(), batchOf(0, 2)); err != nil {
		t.Fatal(err)
	}
	s.write = func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:len(b)/2+3]) // half the batch lands, then the disk is full
		return n, errors.New("no space left on device")
	}
	err := s.Send(context.Background(), batchOf(2, 3))
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Retry {
		t.Fatalf("got %v, want a retryable RequestError", err)
	}
	if got := lines(t, path); len(got) != 2 {
		t.Fatalf("after a failed write the file has %q, want the 2 earlier lines", got)
	}
	s.write = (*os.File).Write
	if err := s.Send(context.Background(), batchOf(2, 3)); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	if len(got) != 5 || got[2] != string(doc(2)) {
		t.Errorf("after the retry: %q", got)
	}
}

func TestWriteErrorDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s := newSink(t, config.File{Path: "/dev/full", MaxSize: config.MiB, MaxFiles: 1})
	err := s.Send(context.Background(), batchOf(0, 1))
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Retry || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("got %v, want a retryable ENOSPC", err)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ndjson")
	s := newSink(t, config.File{Path: path, MaxSize: 30, MaxFiles: 2})
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe on a writable dir: %v", err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if err := s.Probe(context.Background()); err == nil || sinks.Of(err) != sinks.Retry {
		t.Errorf("Probe on a read-only dir: %v", err)
	}
	if _, err := New(config.File{Path: filepath.Join(dir, "new.ndjson"), MaxSize: 30, MaxFiles: 2}, quiet()); err == nil {
		t.Error("New in a read-only dir succeeded")
	}
}

func TestProbeMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	s := newSink(t, config.File{Path: filepath.Join(dir, "out"), MaxSize: 30, MaxFiles: 2})
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); err == nil || sinks.Of(err) != sinks.Retry {
		t.Errorf("Probe with the directory gone: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".siembridge-probe-*")); len(matches) != 0 {
		t.Errorf("probe files left: %v", matches)
	}
}

func TestClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	s, err := New(config.File{Path: path, MaxSize: 30, MaxFiles: 2}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Send(context.Background(), batchOf(0, 1)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := s.Probe(context.Background()); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Probe after Close: %v", err)
	}
}

// TestNewErrors: what config.Validate checks (path set, sizes), New does
// not check again; what only the disk can tell is New's to find.
func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []config.File{
		{Path: dir, MaxSize: 1, MaxFiles: 1},                                 // a directory
		{Path: filepath.Join(notDir, "out.ndjson"), MaxSize: 1, MaxFiles: 1}, // under a file
	} {
		if s, err := New(cfg, quiet()); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

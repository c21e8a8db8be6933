package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/kafka"
)

// Verdict is the outcome of a verification; the command's exit codes
// follow it.
type Verdict int

const (
	// Pass: every file matches the manifest (and, checked against Kafka,
	// every event the log).
	Pass Verdict = iota
	// Mismatch: a file or an event differs from the manifest or the log,
	// or is missing.
	Mismatch
	// NotRetained: the files match the manifest and every event Kafka
	// still holds matches, but retention (or compaction) deleted some of
	// the exported records from the log: they could not be compared.
	NotRetained
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Mismatch:
		return "mismatch"
	case NotRetained:
		return "not retained"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Problem is one finding of a verification.
type Problem struct {
	Verdict Verdict // Mismatch or NotRetained
	// File names the file concerned, empty when none.
	File string
	// Topic, Partition and Offset name the record concerned when Offset
	// >= 0.
	Topic     string
	Partition int32
	Offset    int64
	Detail    string
}

func (p Problem) String() string {
	var where []string
	if p.File != "" {
		where = append(where, p.File)
	}
	if p.Offset >= 0 {
		where = append(where, fmt.Sprintf("%s/%d offset %d", p.Topic, p.Partition, p.Offset))
	}
	if len(where) == 0 {
		return p.Detail
	}
	return strings.Join(where, ", ") + ": " + p.Detail
}

// Report is what a verification found.
type Report struct {
	Manifest *Manifest
	Files    int   // files checked
	Events   int64 // events read from the files
	// Compared counts the events compared with the Kafka log
	// (VerifyKafka).
	Compared int64
	// NotRetained counts exported events Kafka no longer holds.
	NotRetained int64
	Problems    []Problem
	// Warnings do not change the verdict (another cluster id: the events
	// decide).
	Warnings []string
}

// Verdict is Mismatch when any problem is one, else NotRetained when any
// is that, else Pass.
func (r *Report) Verdict() Verdict {
	v := Pass
	for _, p := range r.Problems {
		if p.Verdict == Mismatch {
			return Mismatch
		}
		v = NotRetained
	}
	return v
}

// verifyParallel is how many partitions VerifyKafka compares at once.
const verifyParallel = 4

// maxProblems bounds the problems listed per file or partition: one
// damaged file must not flood the report.
const maxProblems = 20

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

// VerifyFiles checks dir against its manifest: every file listed is there
// with its size and SHA-256, reads in its format with the events and
// offsets listed, and no complete-looking data file is left out of the
// manifest. It returns an error only when there is nothing to verify (no
// readable manifest); findings are in the Report.
func VerifyFiles(dir string) (*Report, error) {
	m, err := LoadManifest(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, StateName)); serr == nil {
				return nil, fmt.Errorf("%s holds an interrupted export (%s, no %s): complete it with export --resume", dir, StateName, ManifestName)
			}
		}
		return nil, err
	}
	r := &Report{Manifest: m}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Name] = true
		r.Files++
		if !m.inRange(f) {
			r.add(Problem{Verdict: Mismatch, File: f.Name, Offset: -1, Detail: fmt.Sprintf("offsets [%d, %d] are not inside the range its partition was read in", f.FirstOffset, f.LastOffset)})
			continue
		}
		r.checkFile(dir, m.Format, f)
	}
	// A data file the manifest does not list: added, or the manifest was
	// edited.
	names, err := filepath.Glob(filepath.Join(dir, "*."+string(m.Format)))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if base := filepath.Base(n); !listed[base] {
			r.add(Problem{Verdict: Mismatch, File: base, Offset: -1, Detail: "not listed in the manifest"})
		}
	}
	return r, nil
}

// inRange reports whether f's offsets lie in the range its partition was
// read in, by the manifest.
func (m *Manifest) inRange(f FileEntry) bool {
	for _, p := range m.Partitions {
		if p.Topic == f.Topic && p.Partition == f.Partition {
			return f.FirstOffset >= p.StartOffset && f.FirstOffset <= f.LastOffset && f.LastOffset < p.StopOffset
		}
	}
	return false
}

// checkFile checks one file's size, hash, and content against its entry.
func (r *Report) checkFile(dir string, format Format, f FileEntry) {
	path := filepath.Join(dir, f.Name)
	mismatch := func(detail string, args ...any) {
		r.add(Problem{Verdict: Mismatch, File: f.Name, Offset: -1, Detail: fmt.Sprintf(detail, args...)})
	}
	sum, size, err := hashFile(path)
	switch {
	case err != nil:
		mismatch("%v", err)
		return
	case size != f.Size:
		mismatch("size %d, the manifest says %d", size, f.Size)
		return
	case sum != f.SHA256:
		mismatch("SHA-256 %s, the manifest says %s", sum, f.SHA256)
		return
	}
	var n int64
	prev := int64(-1)
	err = ReadFile(path, format, func(rec Record) error {
		n++
		switch {
		case rec.Topic != f.Topic || rec.Partition != f.Partition:
			return fmt.Errorf("event %d is of %s/%d", n, rec.Topic, rec.Partition)
		case rec.Offset <= prev || rec.Offset < f.FirstOffset || rec.Offset > f.LastOffset:
			return fmt.Errorf("event %d: offset %d out of order or outside [%d, %d]", n, rec.Offset, f.FirstOffset, f.LastOffset)
		case rec.Timestamp.Before(r.Manifest.From) || !rec.Timestamp.Before(r.Manifest.To):
			return fmt.Errorf("offset %d: record time %s outside the window", rec.Offset, rec.Timestamp.Format(time.RFC3339Nano))
		}
		prev = rec.Offset
		return nil
	})
	r.Events += n
	switch {
	case err != nil:
		mismatch("%v", err)
	case n != f.Events:
		mismatch("%d events, the manifest says %d", n, f.Events)
	}
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// VerifyKafka compares every event of the files of r (a VerifyFiles
// report) with the record at its offset in the Kafka log of cfg's
// brokers: key, value and timestamp byte for byte. Events at offsets
// retention or compaction deleted are NotRetained problems, one per run.
// Partitions are compared four at a time. It blocks until done or ctx
// ends; the error is for what prevented the comparison (no connection,
// ctx).
func VerifyKafka(ctx context.Context, cfg *config.Config, dir string, r *Report) error {
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		return err
	}
	sc.ClientID += "-verify"
	sc.Consumer.Return.Errors = true
	m := r.Manifest
	if id, err := clusterID(cfg.Kafka.Brokers, sc, m.Topics); err != nil {
		return err
	} else if id != m.ClusterID {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the export was read from cluster %q, these brokers are cluster %q", m.ClusterID, id))
	}
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()
	// Partitions are compared verifyParallel at a time, each into its own
	// report, merged in the manifest's order.
	subs := make([]*Report, len(m.Partitions))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyParallel)
	for i, p := range m.Partitions {
		if p.Events == 0 {
			continue
		}
		var files []FileEntry
		for _, f := range m.Files {
			if f.Topic == p.Topic && f.Partition == p.Partition {
				files = append(files, f)
			}
		}
		subs[i] = &Report{Manifest: m}
		pv := &partVerify{r: subs[i], client: client, consumer: consumer, dir: dir, format: m.Format, p: p}
		g.Go(func() error { return pv.run(ctx, files) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, sub := range subs {
		if sub != nil {
			r.Compared += sub.Compared
			r.NotRetained += sub.NotRetained
			r.Problems = append(r.Problems, sub.Problems...)
		}
	}
	return nil
}

// partVerify compares one partition's exported events with the log.
type partVerify struct {
	r        *Report
	client   sarama.Client
	consumer sarama.Consumer
	dir      string
	format   Format
	p        PartitionEntry

	pc       sarama.PartitionConsumer
	logStart int64
	logEnd   int64
	problems int
	gone     int64 // exported events not retained, in the current run
	goneFrom int64
}

func (v *partVerify) run(ctx context.Context, files []FileEntry) error {
	p := v.p
	var err error
	if v.logStart, err = v.client.GetOffset(p.Topic, p.Partition, sarama.OffsetOldest); err != nil {
		return fmt.Errorf("log start of %s/%d: %w", p.Topic, p.Partition, err)
	}
	if v.logEnd, err = v.client.GetOffset(p.Topic, p.Partition, sarama.OffsetNewest); err != nil {
		return fmt.Errorf("log end of %s/%d: %w", p.Topic, p.Partition, err)
	}
	from := max(p.FirstOffset, v.logStart)
	if from < v.logEnd && from <= p.LastOffset {
		if v.pc, err = v.consumer.ConsumePartition(p.Topic, p.Partition, from); err != nil {
			return fmt.Errorf("%s/%d at offset %d: %w", p.Topic, p.Partition, from, err)
		}
		defer v.pc.Close()
	}
	var next *sarama.ConsumerMessage
	for _, f := range files {
		err := ReadFile(filepath.Join(v.dir, f.Name), v.format, func(rec Record) error {
			return v.compare(ctx, f.Name, rec, &next)
		})
		if err != nil && !errors.Is(err, errEnough) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if errors.Is(err, errEnough) {
			break
		}
	}
	v.flushGone()
	return nil
}

// errEnough stops reading a partition's files after maxProblems.
var errEnough = errors.New("enough problems")

// compare checks rec against the log; next is the record read ahead.
func (v *partVerify) compare(ctx context.Context, file string, rec Record, next **sarama.ConsumerMessage) error {
	p := v.p
	problem := func(verdict Verdict, detail string, args ...any) error {
		v.r.add(Problem{Verdict: verdict, File: file, Topic: p.Topic, Partition: p.Partition, Offset: rec.Offset, Detail: fmt.Sprintf(detail, args...)})
		v.problems++
		if v.problems >= maxProblems {
			v.r.add(Problem{Verdict: verdict, Topic: p.Topic, Partition: p.Partition, Offset: -1, Detail: fmt.Sprintf("%s/%d: more problems not listed", p.Topic, p.Partition)})
			return errEnough
		}
		return nil
	}
	switch {
	case rec.Offset >= v.logEnd:
		return problem(Mismatch, "the log ends at offset %d: it never held this record", v.logEnd)
	case rec.Offset < v.logStart:
		v.notRetained(rec.Offset)
		return nil
	}
	for *next == nil || (*next).Offset < rec.Offset {
		msg, err := v.read(ctx)
		if err != nil {
			return err
		}
		*next = msg
	}
	msg := *next
	if msg.Offset > rec.Offset {
		// Compaction removed it (the log start is below it).
		v.notRetained(rec.Offset)
		return nil
	}
	v.flushGone()
	v.r.Compared++
	switch {
	case !bytes.Equal(msg.Value, rec.Value):
		return problem(Mismatch, "the value differs from the log's (%d bytes exported, %d in the log)", len(rec.Value), len(msg.Value))
	case !bytes.Equal(msg.Key, rec.Key):
		return problem(Mismatch, "the key differs from the log's")
	case msg.Timestamp.UnixMilli() != rec.Timestamp.UnixMilli():
		return problem(Mismatch, "record time %s, the log's is %s", rec.Timestamp.UTC().Format(time.RFC3339Nano), msg.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (v *partVerify) read(ctx context.Context) (*sarama.ConsumerMessage, error) {
	if v.pc == nil {
		return nil, fmt.Errorf("%s/%d: no record left to read", v.p.Topic, v.p.Partition)
	}
	for {
		select {
		case msg, ok := <-v.pc.Messages():
			if !ok {
				return nil, fmt.Errorf("%s/%d: the consumer stopped", v.p.Topic, v.p.Partition)
			}
			return msg, nil
		case err := <-v.pc.Errors():
			if errors.Is(err, sarama.ErrOffsetOutOfRange) {
				return nil, fmt.Errorf("%s/%d: %w (retention deleted records while verifying; run again)", v.p.Topic, v.p.Partition, err)
			}
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// notRetained counts an exported event at offset that the log no longer
// holds; consecutive ones are reported as one problem.
func (v *partVerify) notRetained(offset int64) {
	if v.gone == 0 {
		v.goneFrom = offset
	}
	v.gone++
	v.r.NotRetained++
}

func (v *partVerify) flushGone() {
	if v.gone == 0 {
		return
	}
	p := v.p
	v.r.add(Problem{Verdict: NotRetained, Topic: p.Topic, Partition: p.Partition, Offset: v.goneFrom,
		Detail: fmt.Sprintf("%d exported events from here are no longer in the log (its start is offset %d): not compared", v.gone, v.logStart)})
	v.gone = 0
}

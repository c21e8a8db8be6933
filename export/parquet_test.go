package export

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// analystRow is what an analyst's reader asks of a Parquet export: a
// few columns by name, of its own types (not the writer's parquetRow).
type analystRow struct {
	Offset    int64     `parquet:"kafka_offset"`
	Partition int32     `parquet:"kafka_partition"`
	Time      time.Time `parquet:"record_timestamp,timestamp(millisecond)"`
	Host      *string   `parquet:"host.name,optional"`
	Action    *string   `parquet:"event.action,optional"`
	SourceIP  *string   `parquet:"source.ip,optional"`
	Event     string    `parquet:"event"`
}

// TestParquetIndependentReader reads a Parquet export with parquet-go's
// own reader and a schema of its own, column by name, and finds the same
// events as the NDJSON export of the same window: the ECS columns, the
// record time as a timestamp, the event as JSON text.
func TestParquetIndependentReader(t *testing.T) {
	cluster := startCluster(t, outOfOrder())
	cfg := testConfig(t, cluster.Brokers())
	pqDir, ndDir := filepath.Join(t.TempDir(), "pq"), filepath.Join(t.TempDir(), "nd")
	runExport(t, cfg, Options{Dir: pqDir, Format: Parquet})
	runExport(t, cfg, Options{Dir: ndDir, Format: NDJSON})
	_, want := readDir(t, ndDir)

	m, err := LoadManifest(pqDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []analystRow
	for _, f := range m.Files {
		file, err := os.Open(filepath.Join(pqDir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := file.Stat()
		pf, err := parquet.OpenFile(file, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kafka_topic", "kafka_offset", "record_timestamp", "@timestamp", "event.action", "host.name", "user.name", "event"} {
			if _, ok := pf.Schema().Lookup(name); !ok {
				t.Errorf("%s: no column %q", f.Name, name)
			}
		}
		rd := parquet.NewGenericReader[analystRow](pf)
		rows := make([]analystRow, 16)
		for {
			n, err := rd.Read(rows)
			got = append(got, rows[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rd.Close()
		file.Close()
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, the NDJSON export has %d events", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Offset != w.Offset || r.Partition != w.Partition || !r.Time.Equal(w.Timestamp) {
			t.Errorf("row %d: %d/%d at %s, want %d/%d at %s", i, r.Partition, r.Offset, r.Time, w.Partition, w.Offset, w.Timestamp)
		}
		if w.Partition == 0 {
			// One-line JSON objects: the event column is the value.
			if r.Event != string(w.Value) || r.Host == nil || r.Action == nil || *r.Action != "login" || r.SourceIP == nil {
				t.Errorf("row %d: event %s host %v action %v source %v", i, r.Event, r.Host, r.Action, r.SourceIP)
			}
		}
	}
	// Partition 1, offset 0 is plain text: the event is its wrapping,
	// with no host; offset 3 has the dotted key "host.name".
	for _, r := range got {
		switch {
		case r.Partition == 1 && r.Offset == 0 && (r.Host != nil || r.Event == ""):
			t.Errorf("text value: host %v event %s", r.Host, r.Event)
		case r.Partition == 1 && r.Offset == 3 && (r.Host == nil || *r.Host != "web-1"):
			t.Errorf("dotted key: host %v", r.Host)
		}
	}
}

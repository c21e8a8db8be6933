package export

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/siembridge/siembridge/event"
)

// Format is the file format of an export.
type Format string

const (
	// NDJSON: gzip-compressed JSON lines, one event a line.
	NDJSON Format = "ndjson.gz"
	// Parquet: one row an event, the ECS fields analysts filter on as
	// columns and the whole event as a JSON string column.
	Parquet Format = "parquet"
)

// ParseFormat returns the Format named s; "" is NDJSON.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", NDJSON:
		return NDJSON, nil
	case Parquet:
		return Parquet, nil
	}
	return "", fmt.Errorf("format %q: want %s or %s", s, NDJSON, Parquet)
}

// Record is one exported event as read back from a file: its Kafka
// coordinates, record timestamp, key and value, byte for byte.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // millisecond precision, as Kafka keeps it
	Key       []byte    // nil when the record had none
	Value     []byte
}

// eventJSON returns what an exported event's "event" field holds and the
// record value when the field is not the value itself. The field is the
// value, verbatim, when the value is a JSON object on one line (by far the
// common case: nothing is copied twice, and the bytes are the log's);
// otherwise it is the document siembridge delivers (the wrapping of a
// value that is not a JSON object, see event.Wrap, or a multi-line object
// made compact) and the value is kept besides it.
func eventJSON(ev *event.Event, buf *bytes.Buffer) (doc, value []byte) {
	v := ev.Value
	if !ev.Wrapped && !ev.Unchecked && len(v) >= 2 && v[0] == '{' && v[len(v)-1] == '}' && bytes.IndexAny(v, "\r\n") < 0 {
		return v, nil
	}
	doc = ev.Doc
	if !ev.Wrapped && bytes.IndexAny(doc, "\r\n") >= 0 {
		buf.Reset()
		if err := json.Compact(buf, doc); err == nil {
			doc = buf.Bytes()
		}
	}
	if v == nil {
		v = []byte{}
	}
	return doc, v
}

// ndjsonLine is one line of an NDJSON export, for reading it back. The
// writer appends the same fields by hand (appendNDJSON).
type ndjsonLine struct {
	Topic       string          `json:"kafka_topic"`
	Partition   int32           `json:"kafka_partition"`
	Offset      int64           `json:"kafka_offset"`
	Timestamp   string          `json:"record_timestamp"`
	Key         *string         `json:"kafka_key"`
	KeyBase64   *string         `json:"kafka_key_base64"`
	ValueBase64 *string         `json:"kafka_value_base64"`
	Event       json.RawMessage `json:"event"`
}

// tsLayout is the record timestamp as written: RFC 3339, milliseconds,
// UTC.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// appendNDJSON appends ev's line:
//
//	{"kafka_topic":..,"kafka_partition":..,"kafka_offset":..,"record_timestamp":"..Z",
//	 ["kafka_key":".." | "kafka_key_base64":"..",] ["kafka_value_base64":"..",] "event":{..}}
func appendNDJSON(b []byte, ev *event.Event, scratch *bytes.Buffer) []byte {
	doc, value := eventJSON(ev, scratch)
	b = append(b, `{"kafka_topic":`...)
	b = strconv.AppendQuote(b, ev.Topic) // topic names are ASCII
	b = append(b, `,"kafka_partition":`...)
	b = strconv.AppendInt(b, int64(ev.Partition), 10)
	b = append(b, `,"kafka_offset":`...)
	b = strconv.AppendInt(b, ev.Offset, 10)
	b = append(b, `,"record_timestamp":"`...)
	b = ev.Timestamp.UTC().AppendFormat(b, tsLayout)
	b = append(b, '"')
	if ev.Key != nil {
		if utf8.Valid(ev.Key) {
			b = append(b, `,"kafka_key":`...)
			b = appendJSONString(b, ev.Key)
		} else {
			b = append(b, `,"kafka_key_base64":"`...)
			b = base64.StdEncoding.AppendEncode(b, ev.Key)
			b = append(b, '"')
		}
	}
	if value != nil {
		b = append(b, `,"kafka_value_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, value)
		b = append(b, '"')
	}
	b = append(b, `,"event":`...)
	b = append(b, doc...)
	return append(b, "}\n"...)
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b, s []byte) []byte {
	q, err := json.Marshal(string(s))
	if err != nil { // cannot happen for a string
		return append(b, `""`...)
	}
	return append(b, q...)
}

// record returns the line as a Record.
func (l *ndjsonLine) record() (Record, error) {
	r := Record{Topic: l.Topic, Partition: l.Partition, Offset: l.Offset}
	ts, err := time.Parse(time.RFC3339Nano, l.Timestamp)
	if err != nil {
		return r, fmt.Errorf("record_timestamp: %w", err)
	}
	r.Timestamp = ts
	switch {
	case l.Key != nil:
		r.Key = []byte(*l.Key)
	case l.KeyBase64 != nil:
		if r.Key, err = base64.StdEncoding.DecodeString(*l.KeyBase64); err != nil {
			return r, fmt.Errorf("kafka_key_base64: %w", err)
		}
	}
	if l.ValueBase64 != nil {
		if r.Value, err = base64.StdEncoding.DecodeString(*l.ValueBase64); err != nil {
			return r, fmt.Errorf("kafka_value_base64: %w", err)
		}
	} else {
		if len(l.Event) == 0 {
			return r, errors.New("no event")
		}
		r.Value = l.Event
	}
	return r, nil
}

// ecsColumns are the ECS fields written as Parquet string columns (absent
// fields are null). A field whose value is an object or an array holds its
// JSON text; a number or boolean its JSON text.
var ecsColumns = [...]string{
	"@timestamp", "message", "tags",
	"event.kind", "event.category", "event.type", "event.action", "event.outcome",
	"event.dataset", "event.module", "event.severity", "event.code",
	"host.name", "host.hostname", "host.ip",
	"source.ip", "source.port", "destination.ip", "destination.port",
	"network.protocol", "network.direction",
	"user.name", "user.domain", "user.id",
	"process.name", "process.pid", "process.command_line",
	"file.path", "file.hash.sha256",
	"url.full", "dns.question.name", "rule.name",
	"observer.name", "agent.type", "log.level", "cloud.account.id",
}

// parquetRow is one row of a Parquet export. The ECS columns follow in
// the order of ecsColumns: Parquet readers find them by name.
type parquetRow struct {
	Topic     string    `parquet:"kafka_topic,dict,zstd"`
	Partition int32     `parquet:"kafka_partition,zstd"`
	Offset    int64     `parquet:"kafka_offset,zstd"`
	Timestamp time.Time `parquet:"record_timestamp,timestamp(millisecond),zstd"`
	Key       []byte    `parquet:"kafka_key,optional,zstd"`
	// Value is the record value when Event is not it (see eventJSON).
	Value []byte `parquet:"kafka_value,optional,zstd"`

	AtTimestamp        *string `parquet:"@timestamp,optional,zstd"`
	Message            *string `parquet:"message,optional,zstd"`
	Tags               *string `parquet:"tags,optional,zstd"`
	EventKind          *string `parquet:"event.kind,optional,dict,zstd"`
	EventCategory      *string `parquet:"event.category,optional,dict,zstd"`
	EventType          *string `parquet:"event.type,optional,dict,zstd"`
	EventAction        *string `parquet:"event.action,optional,dict,zstd"`
	EventOutcome       *string `parquet:"event.outcome,optional,dict,zstd"`
	EventDataset       *string `parquet:"event.dataset,optional,dict,zstd"`
	EventModule        *string `parquet:"event.module,optional,dict,zstd"`
	EventSeverity      *string `parquet:"event.severity,optional,zstd"`
	EventCode          *string `parquet:"event.code,optional,zstd"`
	HostName           *string `parquet:"host.name,optional,dict,zstd"`
	HostHostname       *string `parquet:"host.hostname,optional,dict,zstd"`
	HostIP             *string `parquet:"host.ip,optional,zstd"`
	SourceIP           *string `parquet:"source.ip,optional,zstd"`
	SourcePort         *string `parquet:"source.port,optional,zstd"`
	DestinationIP      *string `parquet:"destination.ip,optional,zstd"`
	DestinationPort    *string `parquet:"destination.port,optional,zstd"`
	NetworkProtocol    *string `parquet:"network.protocol,optional,dict,zstd"`
	NetworkDirection   *string `parquet:"network.direction,optional,dict,zstd"`
	UserName           *string `parquet:"user.name,optional,zstd"`
	UserDomain         *string `parquet:"user.domain,optional,dict,zstd"`
	UserID             *string `parquet:"user.id,optional,zstd"`
	ProcessName        *string `parquet:"process.name,optional,zstd"`
	ProcessPID         *string `parquet:"process.pid,optional,zstd"`
	ProcessCommandLine *string `parquet:"process.command_line,optional,zstd"`
	FilePath           *string `parquet:"file.path,optional,zstd"`
	FileHashSHA256     *string `parquet:"file.hash.sha256,optional,zstd"`
	URLFull            *string `parquet:"url.full,optional,zstd"`
	DNSQuestionName    *string `parquet:"dns.question.name,optional,zstd"`
	RuleName           *string `parquet:"rule.name,optional,dict,zstd"`
	ObserverName       *string `parquet:"observer.name,optional,dict,zstd"`
	AgentType          *string `parquet:"agent.type,optional,dict,zstd"`
	LogLevel           *string `parquet:"log.level,optional,dict,zstd"`
	CloudAccountID     *string `parquet:"cloud.account.id,optional,dict,zstd"`

	// Event is the whole event as JSON (see eventJSON).
	Event string `parquet:"event,zstd"`
}

// ecsFields returns pointers to the row's ECS columns, in the order of
// ecsColumns.
func (r *parquetRow) ecsFields() [len(ecsColumns)]**string {
	return [...]**string{
		&r.AtTimestamp, &r.Message, &r.Tags,
		&r.EventKind, &r.EventCategory, &r.EventType, &r.EventAction, &r.EventOutcome,
		&r.EventDataset, &r.EventModule, &r.EventSeverity, &r.EventCode,
		&r.HostName, &r.HostHostname, &r.HostIP,
		&r.SourceIP, &r.SourcePort, &r.DestinationIP, &r.DestinationPort,
		&r.NetworkProtocol, &r.NetworkDirection,
		&r.UserName, &r.UserDomain, &r.UserID,
		&r.ProcessName, &r.ProcessPID, &r.ProcessCommandLine,
		&r.FilePath, &r.FileHashSHA256,
		&r.URLFull, &r.DNSQuestionName, &r.RuleName,
		&r.ObserverName, &r.AgentType, &r.LogLevel, &r.CloudAccountID,
	}
}

// newParquetRow returns ev's row.
func newParquetRow(ev *event.Event, scratch *bytes.Buffer) parquetRow {
	doc, value := eventJSON(ev, scratch)
	r := parquetRow{Topic: ev.Topic, Partition: ev.Partition, Offset: ev.Offset,
		Timestamp: ev.Timestamp.UTC().Truncate(time.Millisecond), Key: ev.Key, Value: value, Event: string(doc)}
	var vals [len(ecsColumns)]*string
	ecsValues(ev.Doc, &vals)
	for i, p := range r.ecsFields() {
		*p = vals[i]
	}
	return r
}

func (r *parquetRow) record() Record {
	rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
	if rec.Value == nil {
		rec.Value = []byte(r.Event)
	}
	return rec
}

// readBatch is how many Parquet rows ReadFile reads at a time.
const readBatch = 1024

// ReadFile calls fn with every event of the export file at path, in file
// order, until fn returns an error (which ReadFile returns). It fails on a
// file that is not of format f or is damaged, naming the line or row.
func ReadFile(path string, f Format, fn func(Record) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	if f == Parquet {
		return readParquet(file, fn)
	}
	return readNDJSON(file, fn)
}

func readNDJSON(r io.Reader, fn func(Record) error) error {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return err
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<16)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("line %d: no end of line", n)
			}
			return fmt.Errorf("line %d: %w", n, err)
		}
		var l ndjsonLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		rec, err := l.record()
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func readParquet(file *os.File, fn func(Record) error) error {
	st, err := file.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(file, st.Size())
	if err != nil {
		return err
	}
	rd := parquet.NewGenericReader[parquetRow](pf)
	defer rd.Close()
	rows := make([]parquetRow, readBatch)
	for row := int64(0); ; {
		clear(rows) // no buffer of the last rows is reused: fn may keep a Record
		n, err := rd.Read(rows)
		for i := range n {
			if ferr := fn(rows[i].record()); ferr != nil {
				return ferr
			}
		}
		row += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("row %d: %w", row, err)
		}
	}
}

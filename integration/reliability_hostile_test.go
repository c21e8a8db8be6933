package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/deliver"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// hostileSink is the expected outcome "in the sink"; any other outcome is
// the HTTP status the dead-letter record must carry.
const hostileSink = 0

// hostileReject is what a real cluster does with two kinds of valid JSON:
// a duplicate field is a parse error (Jackson's STRICT_DUPLICATE_DETECTION,
// on in Elasticsearch), and a number beyond the double range is not a
// finite value for a numeric field. Both are 400s: permanent, so the events
// belong in the dead-letter topic.
func hostileReject(doc []byte) (int, string, string) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type level struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token of an object is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return 0, "", ""
		}
		if err != nil {
			return 400, "x_content_parse_exception", "[1:1] " + err.Error()
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.key
		if top != nil && top.object {
			top.key = !top.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &level{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &level{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
		case string:
			if isKey {
				if top.keys[v] {
					return 400, "x_content_parse_exception", fmt.Sprintf("Duplicate field '%s'", v)
				}
				top.keys[v] = true
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return 400, "document_parsing_exception", fmt.Sprintf("failed to parse field of type [float]: [%s] supports only finite values", v)
			}
		}
	}
}

func TestHostileRejectOracle(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		status int
	}{
		{`{"a":1,"b":{"a":2}}`, 0},
		{`{"a":1,"a":2}`, 400},
		{`{"x":{"a":[{"a":1,"b":2}],"a":3,"a":4}}`, 400},
		{`[{"a":1},{"a":1}]`, 0},
		{`{"n":123456789012345678901234567890}`, 0},
		{`{"n":1e400}`, 400},
		{`{"n":[-1e400]}`, 400},
	} {
		if st, _, _ := hostileReject([]byte(tc.doc)); st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.doc, st, tc.status)
		}
	}
}

// TestReliabilityHostileInput feeds a topic of valid and hostile records
// through two routes of one bridge process, a lenient one and one whose
// sink takes events of at most 1 MiB. The process survives; every record
// lands, per route, either in Elasticsearch or in the dead-letter topic
// with a status and a reason, as expected for its kind; and no partition
// stalls: both groups commit the log end.
func TestReliabilityHostileInput(t *testing.T) {
	const (
		topic = "hostile"
		parts = 2
		big   = 5 << 20
	)
	cluster, err := kafkatest.Start(parts, []string{topic, "hostile-dlq-lenient", "hostile-dlq-strict"},
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(16 << 20)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.Brokers()
	esLenient := startES(t, esfake.Options{RejectIf: hostileReject})
	esStrict := startES(t, esfake.Options{RejectIf: hostileReject})

	deepObject := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	deepArray := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	bigObject := `{"labels":{"kind":"big"},"pad":"` + strings.Repeat("x", big-40) + `"}`
	bigText := strings.Repeat("A 5 MiB line of plain text. ", big/28+1)[:big]

	type hostileCase struct {
		name            string
		key, value      []byte // value nil: a null value
		lenient, strict int    // hostileSink or the dead-letter status
		wrapped         bool   // delivered as event.Wrap's document
		check           func(doc []byte) error
	}
	cases := []hostileCase{
		{name: "valid JSON", value: []byte(`{"event":{"kind":"alert"},"user":{"name":"alice"}}`)},
		{name: "pretty-printed JSON", value: []byte("{\n  \"event\": {\n    \"kind\": \"alert\"\n  }\r\n}\n")},
		{name: "padded JSON", value: []byte(" \t {\"a\":1} \n ")},
		{name: "JSON nested 10000 deep", value: []byte(deepObject), wrapped: true, check: messagePrefix(`{"a":{"a":{"a":`)},
		{name: "array nested 10000 deep", value: []byte(deepArray), wrapped: true, check: messagePrefix("[[[[")},
		{name: "5 MiB JSON object", value: []byte(bigObject), strict: 413},
		{name: "5 MiB of text", value: []byte(bigText), lenient: 413, strict: 413},
		{name: "empty value", value: []byte{}, wrapped: true, check: messageIs("")},
		{name: "null value", value: nil, wrapped: true, check: messageIs("")},
		{name: "null key", key: nil, value: []byte(`{"key":"none"}`)},
		{name: "binary key", key: []byte{0xff, 0x00, 0xfe}, value: []byte(`{"key":"binary"}`)},
		{name: "invalid UTF-8 text", value: []byte("bad \xff\xfe bytes \xc3\x28 here"), wrapped: true, check: messageContains("\uFFFD")},
		{name: "invalid UTF-8 in JSON", value: []byte("{\"msg\":\"\xff\"}"), wrapped: true, check: messageContains("\uFFFD")},
		{name: "NUL and control bytes", value: []byte("a\x00b\x01c\x1bd\u2028e"), wrapped: true, check: messageIs("a\x00b\x01c\x1bd\u2028e")},
		{name: "CEF", value: []byte(`CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=a\|b\=c`),
			wrapped: true, check: messagePrefix("CEF:0|Security|")},
		{name: "syslog RFC 5424", value: []byte(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event`),
			wrapped: true, check: messagePrefix("<165>1 ")},
		{name: "syslog RFC 3164", value: []byte("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
			wrapped: true, check: messagePrefix("<34>Oct")},
		{name: "duplicate keys", value: []byte(`{"user":"alice","user":"mallory"}`), lenient: 400, strict: 400},
		{name: "number 1e400", value: []byte(`{"bytes":1e400}`), lenient: 400, strict: 400},
		{name: "timestamp 1e400", value: []byte(`{"@timestamp":1e400,"a":1}`), lenient: 400, strict: 400},
		{name: "30-digit integer", value: []byte(`{"n":123456789012345678901234567890}`)},
		{name: "timestamp far future", value: []byte(`{"@timestamp":"9999-12-31T23:59:59.999Z","a":1}`)},
		{name: "timestamp garbage", value: []byte(`{"@timestamp":"yesterday-ish","a":1}`)},
		{name: "lone surrogate escape", value: []byte(`{"s":"\ud800"}`)},
		{name: "JSON array", value: []byte(`[1,2,3]`), wrapped: true, check: messageIs("[1,2,3]")},
		{name: "JSON string", value: []byte(`"just a string"`), wrapped: true, check: messageIs(`"just a string"`)},
		{name: "JSON number", value: []byte(`42`), wrapped: true, check: messageIs("42")},
		{name: "JSON null", value: []byte(`null`), wrapped: true, check: messageIs("null")},
		{name: "truncated JSON", value: []byte(`{"a":`), wrapped: true, check: messageIs(`{"a":`)},
		{name: "white space only", value: []byte(" \n\t "), wrapped: true, check: messageIs(" \n\t ")},
		// Values that look like JSON objects with their time up front are
		// not checked by the bridge on an Elasticsearch route (event.Skim):
		// the cluster rejects the malformed ones, and the sink then sends
		// the wrapping, as for any other malformed value.
		{name: "skimmed, bare word", value: []byte(`{"@timestamp":"2024-01-02T03:04:05Z",bad}`), wrapped: true,
			check: messageIs(`{"@timestamp":"2024-01-02T03:04:05Z",bad}`)},
		{name: "skimmed, trailing comma", value: []byte(`{"@timestamp":"2024-01-02T03:04:05Z","a":1,}`), wrapped: true,
			check: messageIs(`{"@timestamp":"2024-01-02T03:04:05Z","a":1,}`)},
		{name: "skimmed, raw tab in a string", value: []byte("{\"@timestamp\":1704164645000,\"a\":\"x\ty\"}"), wrapped: true,
			check: messageIs("{\"@timestamp\":1704164645000,\"a\":\"x\ty\"}")},
		{name: "skimmed, two objects", value: []byte(`{"@timestamp":"2024-01-02T03:04:05Z"}{"b":1}`), wrapped: true,
			check: messageIs(`{"@timestamp":"2024-01-02T03:04:05Z"}{"b":1}`)},
		{name: "skimmed, duplicate keys", value: []byte(`{"@timestamp":"2024-01-02T03:04:05Z","u":"alice","u":"mallory"}`), lenient: 400, strict: 400},
		{name: "skimmed, valid", value: []byte(`{"@timestamp":"2024-01-02T03:04:05Z","event":{"kind":"alert"}}`)},
	}
	for i := range cases {
		if cases[i].key == nil && cases[i].name != "null key" {
			cases[i].key = []byte("k-" + strconv.Itoa(i))
		}
	}

	// Each hostile record is followed by valid events on both partitions,
	// so a partition stuck behind a hostile record would show.
	rp := newRelProducer(t, brokers, topic, parts, nil)
	g := gen.New(5)
	type placed struct {
		c      *hostileCase // nil for a valid filler event
		p      int32
		offset int64
	}
	var records []placed
	send := func(c *hostileCase, p int32, key, value []byte) {
		t.Helper()
		m := &sarama.ProducerMessage{Topic: topic, Partition: p, Timestamp: time.Now()}
		if key != nil {
			m.Key = sarama.ByteEncoder(key)
		}
		if value != nil {
			m.Value = sarama.ByteEncoder(value)
		}
		part, off, err := rp.p.SendMessage(m)
		if err != nil {
			t.Fatalf("produce %s: %v", c.name, err)
		}
		records = append(records, placed{c, part, off})
	}
	var seq int64
	filler := func() {
		for p := range int32(parts) {
			seq++
			send(&hostileCase{name: "filler"}, p, nil, g.Next(seq, time.Now()))
		}
	}
	filler()
	for i := range cases {
		c := &cases[i]
		send(c, int32(i%parts), c.key, c.value)
		filler()
	}

	cfgPath := writeConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
  session_timeout: %s
  heartbeat_interval: %s
routes:
  - name: lenient
    topics: [%q]
    sink: {type: elasticsearch, urls: [%q], index: "hostile-%%{+yyyy.MM.dd}", timeout: 20s}
    batch: {max_events: 100, max_bytes: 1MiB, max_wait: 100ms}
    dead_letter: {topic: hostile-dlq-lenient}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    commit_interval: 200ms
  - name: strict
    topics: [%q]
    sink: {type: elasticsearch, urls: [%q], index: "hostile-%%{+yyyy.MM.dd}", timeout: 20s, max_event_bytes: 1MiB}
    batch: {max_events: 100, max_bytes: 1MiB, max_wait: 100ms}
    dead_letter: {topic: hostile-dlq-strict}
    retry: {initial_interval: 20ms, max_interval: 500ms}
    commit_interval: 200ms
shutdown_timeout: 10s
`, brokers[0], relSession, relHeartbeat, topic, esLenient.URL(), topic, esStrict.URL()))
	proc := startRelProc(t, "bridge", cfgPath)

	routes := []struct {
		name string
		es   *esfake.Server
		dlq  string
		want func(c *hostileCase) int
	}{
		{"lenient", esLenient, "hostile-dlq-lenient", func(c *hostileCase) int { return c.lenient }},
		{"strict", esStrict, "hostile-dlq-strict", func(c *hostileCase) int { return c.strict }},
	}
	for _, r := range routes {
		group := "siembridge-" + r.name
		waitFor(t, 90*time.Second, r.name+": every partition committed at the log end", func() bool {
			if proc.exited() {
				return true
			}
			ends, err1 := kafkatest.EndOffsets(brokers, topic)
			committed, err2 := kafkatest.Committed(brokers, group, topic)
			if err1 != nil || err2 != nil {
				return false
			}
			for p, end := range ends {
				if committed[p] != end {
					return false
				}
			}
			return true
		})
		if proc.exited() {
			t.Fatalf("the bridge exited: %s", proc.out.String())
		}
	}

	for _, r := range routes {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		dlq, err := kafkatest.ReadAll(ctx, brokers, r.dlq)
		cancel()
		if err != nil {
			t.Fatalf("%s: read %s: %v", r.name, r.dlq, err)
		}
		type po struct {
			p int32
			o int64
		}
		dead := map[po][]*sarama.ConsumerMessage{}
		for _, m := range dlq {
			h := map[string]string{}
			for _, rh := range m.Headers {
				h[string(rh.Key)] = string(rh.Value)
			}
			p, err1 := strconv.ParseInt(h[deliver.HeaderPartition], 10, 32)
			o, err2 := strconv.ParseInt(h[deliver.HeaderOffset], 10, 64)
			if err1 != nil || err2 != nil || h[deliver.HeaderTopic] != topic || h[deliver.HeaderRoute] != r.name {
				t.Errorf("%s: dead-letter record with bad headers: %v", r.name, h)
				continue
			}
			dead[po{int32(p), o}] = append(dead[po{int32(p), o}], m)
		}
		docs := r.es.All()
		expectDead := 0
		for _, rec := range records {
			c := rec.c
			id := event.ID(topic, rec.p, rec.offset)
			doc, inSink := docs[id]
			msgs := dead[po{rec.p, rec.offset}]
			want := r.want(c)
			if want == hostileSink {
				if !inSink {
					t.Errorf("%s: %s (%s) is not in the sink", r.name, c.name, id)
					continue
				}
				if len(msgs) > 0 {
					t.Errorf("%s: %s (%s) is in the sink and in the dead-letter topic", r.name, c.name, id)
				}
				if err := checkHostileDoc(c.wrapped, c.value, doc, rec.offset); err != nil {
					t.Errorf("%s: %s: %v: %.300s", r.name, c.name, err, doc)
				} else if c.check != nil {
					if err := c.check(doc); err != nil {
						t.Errorf("%s: %s: %v", r.name, c.name, err)
					}
				}
				continue
			}
			expectDead++
			if inSink {
				t.Errorf("%s: %s (%s) is in the sink, want it dead-lettered with %d", r.name, c.name, id, want)
			}
			if len(msgs) == 0 {
				t.Errorf("%s: %s (%s) is neither in the sink nor in the dead-letter topic", r.name, c.name, id)
				continue
			}
			for _, m := range msgs {
				h := map[string]string{}
				for _, rh := range m.Headers {
					h[string(rh.Key)] = string(rh.Value)
				}
				if h[deliver.HeaderStatus] != strconv.Itoa(want) {
					t.Errorf("%s: %s: dead-letter status %q, want %d (reason %q)", r.name, c.name, h[deliver.HeaderStatus], want, h[deliver.HeaderReason])
				}
				if strings.TrimSpace(h[deliver.HeaderReason]) == "" {
					t.Errorf("%s: %s: dead-letter record without a reason", r.name, c.name)
				}
				if _, omitted := h[deliver.HeaderValueOmitted]; !omitted && !bytes.Equal(m.Value, c.value) {
					t.Errorf("%s: %s: the dead-letter value (%d bytes) is not the original (%d bytes)", r.name, c.name, len(m.Value), len(c.value))
				}
				t.Logf("%s: %-22s -> dead letter, status %s: %.120s", r.name, c.name, h[deliver.HeaderStatus], h[deliver.HeaderReason])
			}
		}
		if len(dead) != expectDead {
			t.Errorf("%s: %d records dead-lettered, want %d", r.name, len(dead), expectDead)
		}
		if len(dlq) != len(dead) {
			t.Logf("%s: %d dead-letter records for %d events (a retried dead-letter write)", r.name, len(dlq), len(dead))
		}
	}

	if code := proc.signal(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
	proc.assertCleanOutput(t)
}

// checkHostileDoc checks the delivered document of one record: the value
// itself (newlines turned into spaces for NDJSON) or its wrapping.
func checkHostileDoc(wrapped bool, value, doc []byte, offset int64) error {
	if !json.Valid(doc) {
		return errors.New("the delivered document is not valid JSON")
	}
	if !wrapped {
		if value == nil {
			return nil // a filler: generated, valid JSON
		}
		want := bytes.TrimSpace(bytes.ReplaceAll(value, []byte("\n"), []byte(" ")))
		if !bytes.Equal(bytes.TrimSpace(doc), want) {
			return errors.New("the document is not the value as produced")
		}
		return nil
	}
	if off, ok := event.Field(doc, "kafka.offset"); !ok || off != strconv.FormatInt(offset, 10) {
		return fmt.Errorf("wrapped document has kafka.offset %q, want %d", off, offset)
	}
	orig, ok1 := event.Field(doc, "event.original")
	msg, ok2 := event.Field(doc, "message")
	if !ok1 || !ok2 || orig != msg {
		return errors.New("wrapped document lacks message or event.original, or they differ")
	}
	return nil
}

func messageIs(want string) func([]byte) error {
	return func(doc []byte) error {
		if msg, _ := event.Field(doc, "message"); msg != want {
			return fmt.Errorf("message %q, want %q", msg, want)
		}
		return nil
	}
}

func messagePrefix(want string) func([]byte) error {
	return func(doc []byte) error {
		if msg, _ := event.Field(doc, "message"); !strings.HasPrefix(msg, want) {
			return fmt.Errorf("message %.60q, want it to start with %q", msg, want)
		}
		return nil
	}
}

func messageContains(want string) func([]byte) error {
	return func(doc []byte) error {
		if msg, _ := event.Field(doc, "message"); !strings.Contains(msg, want) {
			return fmt.Errorf("message %q does not contain %q", msg, want)
		}
		return nil
	}
}

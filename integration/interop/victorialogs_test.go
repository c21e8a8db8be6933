package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestVictoriaLogs: the Elasticsearch sink into VictoriaLogs' _bulk
// endpoint, a real implementation of the bulk protocol other than
// Elasticsearch's own. Every event is stored once, and every scalar field
// of the document is stored with its value.
func TestVictoriaLogs(t *testing.T) {
	enabled(t)
	addr := startVictoriaLogs(t)
	k := startKafka(t, 3000, escapingEvents...)
	siembridgeBinary(t)
	started := time.Now()
	sb := runSiembridge(t, routeYAML(k, `      type: elasticsearch
      urls: ["http://`+addr+`/insert/elasticsearch"]
      index: interop
      timeout: 5s
      headers: {VL-Time-Field: "@timestamp", VL-Msg-Field: message}
`))
	var docs []map[string]string
	waitFor(t, 60*time.Second, "every event searchable in VictoriaLogs", func() bool {
		if sb.exited() {
			t.Fatalf("siembridge exited: %s", sb.out)
		}
		docs = queryVictoriaLogs(t, addr)
		return len(docs) >= len(k.docs)
	})
	stopSiembridge(t, sb)
	checkStored(t, k, docs)
	t.Logf("%d events stored in VictoriaLogs and checked field by field in %s", len(docs), time.Since(started).Round(time.Millisecond))
}

// startVictoriaLogs starts VictoriaLogs on a free loopback port and
// returns its address. Entries are searchable a second after ingestion;
// the retention takes the escaping events' fixed 2026 dates.
func startVictoriaLogs(t *testing.T) string {
	t.Helper()
	bin := tool(t, "bin/victoria-logs", "victorialogs")
	addr := "127.0.0.1:" + itoa(freePort(t))
	vl := start(t, nil, bin, "-storageDataPath="+t.TempDir(), "-httpListenAddr="+addr,
		"-retentionPeriod=5y", "-inmemoryDataFlushInterval=1s", "-loggerLevel=WARN")
	waitPort(t, addr, vl)
	return addr
}

// queryVictoriaLogs returns every stored log entry, its fields by name.
func queryVictoriaLogs(t *testing.T, addr string) []map[string]string {
	t.Helper()
	resp, err := http.PostForm("http://"+addr+"/select/logsql/query", url.Values{"query": {"*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("query: %s: %s", resp.Status, b)
	}
	var out []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("query answer line %q: %v", sc.Bytes(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStored checks that every produced document is stored exactly once
// (a clean run retries nothing, and VictoriaLogs, unlike Elasticsearch,
// would keep a re-sent copy) with each of its scalar fields. The sink's
// headers told VictoriaLogs to take @timestamp as the entry's time and
// message as its text, as its documentation asks of Elasticsearch
// shippers. Entries are
// matched to documents by labels.seq, or by @timestamp for the documents
// without one.
func checkStored(t *testing.T, k *corpus, stored []map[string]string) {
	t.Helper()
	bySeq := make(map[string]int, len(k.docs))
	want := make([]map[string]string, len(k.docs))
	for seq, doc := range k.docs {
		want[seq] = scalarFields(t, doc)
		bySeq[matchKey(want[seq])] = seq
	}
	seen := make([]int, len(k.docs))
	for i, got := range stored {
		// VictoriaLogs keeps @timestamp as _time.
		ts, err := time.Parse(time.RFC3339Nano, got["_time"])
		if err != nil {
			t.Fatalf("stored entry %d: _time %q: %v", i, got["_time"], err)
		}
		got["@timestamp"] = ts.UTC().Format("2006-01-02T15:04:05.000Z")
		if _, ok := got["message"]; !ok { // and message, when there is one, as _msg
			got["message"] = got["_msg"]
		}
		seq, ok := bySeq[matchKey(got)]
		if !ok {
			t.Fatalf("stored entry %d is no produced event: %v", i, got)
		}
		for name, v := range want[seq] {
			if got[name] != v {
				t.Fatalf("event %d: field %s stored as %q, want %q\nstored: %v", seq, name, got[name], v, got)
			}
		}
		seen[seq]++
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("event %d stored %d times, want once: %s", seq, n, k.docs[seq])
		}
	}
}

func matchKey(f map[string]string) string {
	if s, ok := f["labels.seq"]; ok {
		return "seq " + s
	}
	return "time " + f["@timestamp"]
}

// scalarFields flattens doc's strings, numbers and booleans to dotted
// names, as VictoriaLogs stores them; arrays and nulls are left out.
func scalarFields(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("produced document %s: %v", doc, err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, c)
			}
		case string:
			out[prefix] = x
		case json.Number:
			out[prefix] = x.String()
		case bool:
			out[prefix] = strconv.FormatBool(x)
		}
	}
	walk("", v)
	return out
}

// TestVictoriaLogsHEC: the Splunk HEC sink into VictoriaLogs' HEC endpoint
// (/services/collector/event), a real HEC receiver: every event stored
// once, with the envelope the sink promises — time = @timestamp, host from
// host_field, index, sourcetype _json, the indexed fields kafka_topic,
// kafka_partition and kafka_offset naming the event — and the document
// under event.
func TestVictoriaLogsHEC(t *testing.T) {
	enabled(t)
	addr := startVictoriaLogs(t)
	k := startKafka(t, 3000, escapingEvents...)
	siembridgeBinary(t)
	started := time.Now()
	sb := runSiembridge(t, routeYAML(k, `      type: splunk_hec
      url: "http://`+addr+`"
      token: interop-token
      index: security
      host_field: host.name
      timeout: 5s
`))
	var stored []map[string]string
	waitFor(t, 60*time.Second, "every event searchable in VictoriaLogs", func() bool {
		if sb.exited() {
			t.Fatalf("siembridge exited: %s", sb.out)
		}
		stored = queryVictoriaLogs(t, addr)
		return len(stored) >= len(k.docs)
	})
	stopSiembridge(t, sb)
	checkHECStored(t, k, stored)
	t.Logf("%d events stored through HEC and checked field by field in %s", len(stored), time.Since(started).Round(time.Millisecond))
}

// checkHECStored checks that every produced event is stored exactly once
// with the HEC envelope the sink promises and its document under event.
func checkHECStored(t *testing.T, k *corpus, stored []map[string]string) {
	t.Helper()
	seen := make([]int, len(k.docs))
	for i, got := range stored {
		p, err1 := strconv.ParseInt(got["fields.kafka_partition"], 10, 32)
		o, err2 := strconv.ParseInt(got["fields.kafka_offset"], 10, 64)
		seq := locate(int32(p), o)
		if err1 != nil || err2 != nil || got["fields.kafka_topic"] != topic || seq < 0 || seq >= len(k.docs) {
			t.Fatalf("stored entry %d: indexed fields name no produced event: %v", i, got)
		}
		want := scalarFields(t, k.docs[seq])
		ts, err := time.Parse(time.RFC3339Nano, got["_time"])
		if err != nil || !ts.Equal(mustTime(t, want["@timestamp"])) {
			t.Fatalf("event %d: time %q, want @timestamp %q", seq, got["_time"], want["@timestamp"])
		}
		if got["host"] != want["host.name"] || got["index"] != "security" || got["sourcetype"] != "_json" {
			t.Fatalf("event %d: host %q index %q sourcetype %q, want %q security _json", seq, got["host"], got["index"], got["sourcetype"], want["host.name"])
		}
		for name, v := range want {
			stored, ok := got["event."+name]
			if name == "message" { // VictoriaLogs keeps event.message as the entry's _msg
				stored, ok = got["_msg"]
			}
			if !ok || stored != v {
				t.Fatalf("event %d: field %s stored as %q, want %q\nstored: %v", seq, name, stored, v, got)
			}
		}
		seen[seq]++
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("event %d stored %d times, want once: %s", seq, n, k.docs[seq])
		}
	}
}

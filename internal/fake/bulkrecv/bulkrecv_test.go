package bulkrecv

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/filterpath"
	"github.com/siembridge/siembridge/sinks/elasticsearch"
)

type bulkResponse struct {
	Took   int                                     `json:"took"`
	Errors bool                                    `json:"errors"`
	Items  []map[string]map[string]json.RawMessage `json:"items"`
}

func post(t *testing.T, h http.Handler, path, body string, gz bool) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader = bytes.NewBufferString(body)
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write([]byte(body))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		rd = &zb
	}
	req := httptest.NewRequest(http.MethodPost, path, rd)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestBulkShape(t *testing.T) {
	rc := new(Receiver)
	body := `{"create":{"_index":"logs-1","_id":"t+0+1"}}
{"a":1}

{ "index" : { "_id" : "t+0+2" } }
{"b":"x\ny"}
{"delete":{"_index":"logs-1","_id":"gone"}}
`
	for _, gz := range []bool{false, true} {
		res, b := post(t, rc, "/dflt/_bulk", body, gz)
		if res.StatusCode != 200 || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
		}
		var br bulkResponse
		if err := json.Unmarshal(b, &br); err != nil {
			t.Fatalf("response is not JSON: %v\n%s", err, b)
		}
		if br.Errors || len(br.Items) != 3 {
			t.Fatalf("errors %v, %d items: %s", br.Errors, len(br.Items), b)
		}
		want := []struct{ action, index, id, status string }{
			{"create", `"logs-1"`, `"t+0+1"`, "201"},
			{"index", `"dflt"`, `"t+0+2"`, "201"},
			{"delete", `"logs-1"`, `"gone"`, "404"},
		}
		for i, w := range want {
			it := br.Items[i][w.action]
			if it == nil || string(it["_index"]) != w.index || string(it["_id"]) != w.id || string(it["status"]) != w.status {
				t.Errorf("item %d: %s", i, b)
			}
		}
	}
	if st := rc.Stats(); st.Requests != 2 || st.Items != 6 || st.Bytes != int64(2*len(body)) {
		t.Errorf("stats %+v", st)
	}
}

func TestBulkErrors(t *testing.T) {
	rc := new(Receiver)
	res, b := post(t, rc, "/_bulk", "{\"create\":{\"_id\":\"1\"}}\n{}\n", false)
	var br bulkResponse
	if err := json.Unmarshal(b, &br); err != nil || res.StatusCode != 200 || !br.Errors {
		t.Fatalf("missing index: status %d, err %v: %s", res.StatusCode, err, b)
	}
	if s := string(br.Items[0]["create"]["status"]); s != "400" {
		t.Errorf("missing index: item status %s", s)
	}
	for _, body := range []string{"", "{\"create\":{}}\n{}", "[1]\n{}\n", "{\"create\":{\"_index\":\"i\"}}\n"} {
		res, b := post(t, rc, "/_bulk", body, false)
		if res.StatusCode != 400 || !json.Valid(b) {
			t.Errorf("%q: status %d: %s", body, res.StatusCode, b)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	rc.ServeHTTP(rec, req)
	if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("GET /: %d %s", rec.Code, rec.Body)
	}
}

// The Elasticsearch sink accepts its answers: probe and a batch.
func TestWithSink(t *testing.T) {
	srv, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, gz := range []bool{false, true} {
		s, err := elasticsearch.New(config.Elasticsearch{
			URLs: []string{srv.URL()}, Index: "bench-%{+yyyy.MM.dd}", Action: "create",
			Timeout: 5 * time.Second, MaxEventBytes: 1 << 20, Gzip: gz,
		}, elasticsearch.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.Probe(ctx); err != nil {
			t.Fatalf("probe: %v", err)
		}
		batch := make([]*event.Event, 100)
		for i := range batch {
			batch[i] = event.New("t", 0, int64(i), time.Now(), nil, []byte(`{"message":"hello"}`))
		}
		if err := s.Send(ctx, batch); err != nil {
			t.Fatalf("send (gzip %v): %v", gz, err)
		}
		s.Close()
	}
	if st := srv.Stats(); st.Items != 200 {
		t.Errorf("stats %+v", st)
	}
}

// planBody has every kind of item the receiver answers: each action, with
// an index from the line or the URL, and without any (an item error).
const planBody = `{"create":{"_index":"logs-1","_id":"t+0+1"}}
{"a":1}
{"index":{"_id":"t+0+2"}}
{"b":2}
{"update":{"_index":"logs-1","_id":"u\"1"}}
{"doc":{}}
{"delete":{"_index":"logs-1","_id":"gone"}}
{"create":{}}
{}
{"delete":{"_index":"logs-1"}}
{"index":{"_index":"logs-2","_id":"t+0+3"}}
{"c":3}
`

// filtered returns the receiver's answer to planBody under filter, with
// the URL index dflt, compacted (the "errors" patch may leave a space).
func filtered(t *testing.T, rc *Receiver, dflt, filter string) []byte {
	t.Helper()
	path := "/" + dflt + "/_bulk"
	if dflt == "" {
		path = "/_bulk"
	}
	if filter != "" {
		path += "?filter_path=" + url.QueryEscape(filter)
	}
	res, b := post(t, rc, path, planBody, false)
	if res.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", filter, res.StatusCode, b)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatalf("%s: %v: %s", filter, err, b)
	}
	return c.Bytes()
}

// The plan writes what internal/filterpath keeps of the full answer.
func TestFilterPlanMatchesFilter(t *testing.T) {
	rc := new(Receiver)
	for _, dflt := range []string{"", "dflt"} {
		full := filtered(t, rc, dflt, "")
		for _, filter := range []string{
			"errors,items.*.status,items.*.error.type,items.*.error.reason,error",
			"errors,items.*.error,items.*.status",
			"took", "errors", "items", "nothing", "items.nothing", "took.x,errors.x,items.*._id.x",
			"items.create", "items.delete.status", "items.*._index", "items.*._id", "items.*._seq_no,items.*.result",
			"items.*._shards.failed", "items.*._shards", "items.*.error.reason", "**.type", "**.status", "items.**",
			"*", "*.*", "*.*.*", "*.*.*.*", "it*.*e*.*s*", `items.index.status,items.update\.x`, "took,items.update",
		} {
			f, err := filterpath.Parse(filter)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.Append(nil, full)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second answer comes from the cached plan.
			for range 2 {
				if got := filtered(t, rc, dflt, filter); !bytes.Equal(got, want) {
					t.Errorf("%s (index %q):\n got %s\nwant %s", filter, dflt, got, want)
				}
			}
		}
	}
}

// What the Elasticsearch sink asks for: the action and status of each
// item, and the error's type and reason.
func TestSinkFilterShape(t *testing.T) {
	rc := new(Receiver)
	got := filtered(t, rc, "", "errors,items.*.status,items.*.error.type,items.*.error.reason,error")
	want := `{"errors":true,"items":[{"create":{"status":201}},{"index":{"status":400,"error":{"type":"action_request_validation_exception","reason":"Validation Failed: 1: index is missing;"}}},` +
		`{"update":{"status":200}},{"delete":{"status":404}},{"create":{"status":400,"error":{"type":"action_request_validation_exception","reason":"Validation Failed: 1: index is missing;"}}},` +
		`{"delete":{"status":404}},{"index":{"status":201}}]}`
	if string(got) != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if st := rc.Stats(); st.Items != 7 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}
	res, b := post(t, rc, "/_bulk?filter_path=-took", planBody, false)
	if res.StatusCode != 400 || !json.Valid(b) {
		t.Errorf("exclusion: %d %s", res.StatusCode, b)
	}
	// Error responses are not filtered, as in Elasticsearch.
	res, b = post(t, rc, "/_bulk?filter_path=errors", "{\"create\":{}}\n{}", false)
	if res.StatusCode != 400 || !bytes.Contains(b, []byte(`"root_cause"`)) || !bytes.Contains(b, []byte(`"status":400`)) {
		t.Errorf("error response: %d %s", res.StatusCode, b)
	}
	req := httptest.NewRequest(http.MethodGet, "/?filter_path=version.number", nil)
	rec := httptest.NewRecorder()
	rc.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != `{"version":{"number":"8.15.0"}}` {
		t.Errorf("GET /: %d %s", rec.Code, rec.Body)
	}
}

// FuzzFilterPlan: for any filter_path, the plan writes exactly what
// internal/filterpath keeps of the full answer.
func FuzzFilterPlan(f *testing.F) {
	for _, s := range []string{
		"errors,items.*.status,items.*.error.type,items.*.error.reason,error",
		"items.*._shards.failed", "**.type", "*.*.*.*", "it*.*e*.*s*", `a\.b`, "-x", "",
	} {
		f.Add(s)
	}
	pl, err := fullPlan()
	if err != nil {
		f.Fatal(err)
	}
	resp, _, _, problem := appendResponse(nil, []byte(planBody), "", pl)
	var full bytes.Buffer
	if err := json.Compact(&full, resp); err != nil || problem != "" {
		f.Fatal(err, problem)
	}
	rc := new(Receiver)
	f.Fuzz(func(t *testing.T, filter string) {
		flt, err := filterpath.Parse(filter)
		if err != nil {
			return
		}
		want, err := flt.Append(nil, full.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got := filtered(t, rc, "", filter); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", filter, got, want)
		}
	})
}

// BenchmarkAppendResponse: 1000 create actions answered in full and as
// the Elasticsearch sink asks.
func BenchmarkAppendResponse(b *testing.B) {
	var body []byte
	for i := range 1000 {
		body = fmt.Appendf(body, "{\"create\":{\"_index\":\"logs-2025.03.14\",\"_id\":\"t+0+%d\"}}\n{\"message\":\"m\"}\n", i)
	}
	for _, tc := range []struct{ name, filter string }{
		{"full", ""},
		{"filtered", "errors,items.*.status,items.*.error.type,items.*.error.reason,error"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := filterpath.Parse(tc.filter)
			if err != nil {
				b.Fatal(err)
			}
			pl, err := compile(f)
			if err != nil {
				b.Fatal(err)
			}
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var n int
				var problem string
				out, n, _, problem = appendResponse(out[:0], body, "", pl)
				if n != 1000 || problem != "" {
					b.Fatal(n, problem)
				}
			}
			b.ReportMetric(float64(len(out)), "resp-bytes")
		})
	}
}

package bulkrecv

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
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

package esfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request on a fresh connection (no keep-alive, so goleak and
// mode switches see no idle connections).
func do(t *testing.T, method, url string, body []byte, hdr map[string]string) (resp, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}, err
}

func bulk(t *testing.T, s *Server, body string) resp {
	t.Helper()
	r, err := do(t, http.MethodPost, s.URL()+"/_bulk", []byte(body), map[string]string{"Content-Type": "application/x-ndjson"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type bulkResp struct {
	Took   *int `json:"took"`
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Index   string `json:"_index"`
		ID      string `json:"_id"`
		Version int64  `json:"_version"`
		Result  string `json:"result"`
		Status  int    `json:"status"`
		Error   *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

func decode(t *testing.T, r resp) bulkResp {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var br bulkResp
	if err := json.Unmarshal(r.body, &br); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if br.Took == nil {
		t.Errorf("no took in %s", r.body)
	}
	return br
}

func statuses(br bulkResp) []int {
	var out []int
	for _, it := range br.Items {
		for _, v := range it {
			out = append(out, v.Status)
		}
	}
	return out
}

func TestInfoAndProductHeader(t *testing.T) {
	s := start(t, Options{})
	r, err := do(t, http.MethodGet, s.URL()+"/", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 200 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("status %d, header %q", r.status, r.header.Get("X-Elastic-Product"))
	}
	var info struct {
		Version struct{ Number string } `json:"version"`
		Tagline string                  `json:"tagline"`
	}
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Version.Number != "8.15.0" || info.Tagline != "You Know, for Search" {
		t.Errorf("info = %+v", info)
	}
	// Errors carry the header too.
	r, _ = do(t, http.MethodGet, s.URL()+"/nope", nil, nil)
	if r.status != 400 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("unknown path: status %d header %q", r.status, r.header.Get("X-Elastic-Product"))
	}
}

func TestBulkResponseShape(t *testing.T) {
	s := start(t, Options{})
	r := bulk(t, s, `{"create":{"_index":"logs","_id":"a"}}
{"msg":"hello"}
`)
	want := `{"create":{"_index":"logs","_id":"a","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}`
	if !bytes.Contains(r.body, []byte(`"errors":false,"items":[`+want+`]}`)) {
		t.Errorf("body = %s\nwant item %s", r.body, want)
	}
	if !bytes.HasPrefix(r.body, []byte(`{"took":`)) {
		t.Errorf("body does not start with took: %s", r.body)
	}
	if got := s.Docs("logs")["a"]; string(got) != `{"msg":"hello"}` {
		t.Errorf("stored %q", got)
	}
}

func TestDuplicateCreateIs409AndIndexOverwrites(t *testing.T) {
	s := start(t, Options{})
	body := `{"create":{"_index":"logs","_id":"a"}}
{"n":1}
`
	decode(t, bulk(t, s, body))
	br := decode(t, bulk(t, s, body))
	it := br.Items[0]["create"]
	if !br.Errors || it.Status != 409 || it.Error == nil || it.Error.Type != "version_conflict_engine_exception" ||
		!strings.Contains(it.Error.Reason, "document already exists (current version [1])") {
		t.Fatalf("second create: %+v errors=%v", it, br.Errors)
	}
	br = decode(t, bulk(t, s, `{"index":{"_index":"logs","_id":"a"}}
{"n":2}
`))
	it = br.Items[0]["index"]
	if br.Errors || it.Status != 200 || it.Result != "updated" || it.Version != 2 {
		t.Fatalf("index overwrite: %+v", it)
	}
	if s.Duplicates() != 2 || s.Count() != 1 || s.Accepted() != 2 || s.Rejected()[409] != 1 {
		t.Errorf("dups %d count %d accepted %d rejected %v", s.Duplicates(), s.Count(), s.Accepted(), s.Rejected())
	}
	if string(s.Docs("logs")["a"]) != `{"n":2}` || s.Version("logs", "a") != 2 {
		t.Errorf("doc %s version %d", s.Docs("logs")["a"], s.Version("logs", "a"))
	}
}

func TestItemErrors(t *testing.T) {
	s := start(t, Options{RejectIf: func(doc []byte) (int, string, string) {
		if bytes.Contains(doc, []byte(`"bad"`)) {
			return 400, "mapper_parsing_exception", "failed to parse field [bad] of type [long]"
		}
		return 0, "", ""
	}})
	br := decode(t, bulk(t, s, `{"create":{"_index":"logs","_id":"1"}}
{"ok":true}
{"create":{"_index":"logs","_id":"2"}}
{not json
{"create":{"_index":"logs","_id":"3"}}
{"bad":"x"}
{"create":{"_index":"Logs","_id":"4"}}
{"ok":true}
{"create":{"_index":"logs","_id":"5"}}
[1,2]
`))
	got := statuses(br)
	want := []int{201, 400, 400, 400, 400}
	if !br.Errors || len(got) != len(want) {
		t.Fatalf("statuses %v errors %v", got, br.Errors)
	}
	types := []string{"", "document_parsing_exception", "mapper_parsing_exception", "invalid_index_name_exception", "document_parsing_exception"}
	for i, it := range br.Items {
		v := it["create"]
		if v.Status != want[i] {
			t.Errorf("item %d status %d want %d", i, v.Status, want[i])
		}
		if types[i] != "" && (v.Error == nil || v.Error.Type != types[i]) {
			t.Errorf("item %d error %+v want %s", i, v.Error, types[i])
		}
	}
	if s.Count() != 1 || s.Rejected()[400] != 4 {
		t.Errorf("count %d rejected %v", s.Count(), s.Rejected())
	}
}

func TestWholeRequestErrors(t *testing.T) {
	s := start(t, Options{MaxContentLength: 100})
	for name, tc := range map[string]struct {
		body   string
		status int
		typ    string
	}{
		"no trailing newline": {`{"create":{"_index":"a","_id":"1"}}` + "\n{}", 400, "illegal_argument_exception"},
		"unknown action":      {`{"upsert":{"_index":"a","_id":"1"}}` + "\n{}\n", 400, "illegal_argument_exception"},
		"no index":            {`{"create":{"_id":"1"}}` + "\n{}\n", 400, "action_request_validation_exception"},
		"too large":           {`{"create":{"_index":"a","_id":"1"}}` + "\n{\"x\":\"" + strings.Repeat("y", 100) + "\"}\n", 413, "content_too_long_exception"},
	} {
		t.Run(name, func(t *testing.T) {
			r := bulk(t, s, tc.body)
			var e struct {
				Error  struct{ Type, Reason string } `json:"error"`
				Status int                           `json:"status"`
			}
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("%s: %v", r.body, err)
			}
			if r.status != tc.status || e.Status != tc.status || e.Error.Type != tc.typ {
				t.Errorf("status %d body %s", r.status, r.body)
			}
		})
	}
}

func TestPathIndexUpdateDelete(t *testing.T) {
	s := start(t, Options{})
	r, err := do(t, http.MethodPost, s.URL()+"/logs/_bulk", []byte(`{"index":{"_id":"a"}}
{"x":1,"y":1}
{"update":{"_id":"a"}}
{"doc":{"y":2}}
{"update":{"_id":"b"}}
{"doc":{"z":1}}
{"update":{"_id":"c"}}
{"doc":{"z":1},"doc_as_upsert":true}
{"delete":{"_id":"c"}}
{"delete":{"_id":"zz"}}
{"create":{}}
{"auto":true}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	br := decode(t, r)
	if got, want := statuses(br), []int{201, 200, 404, 201, 200, 404, 201}; !equalInts(got, want) {
		t.Fatalf("statuses %v want %v: %s", got, want, r.body)
	}
	var d map[string]int
	if err := json.Unmarshal(s.Docs("logs")["a"], &d); err != nil || d["x"] != 1 || d["y"] != 2 {
		t.Errorf("merged doc %s", s.Docs("logs")["a"])
	}
	if s.Count() != 2 {
		t.Errorf("count %d: %v", s.Count(), s.IDs())
	}
	if br.Items[5]["delete"].Result != "not_found" || br.Items[5]["delete"].Error != nil {
		t.Errorf("delete of missing: %+v", br.Items[5]["delete"])
	}
	if br.Items[2]["update"].Error.Type != "document_missing_exception" {
		t.Errorf("update of missing: %+v", br.Items[2]["update"])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGzipRequest(t *testing.T) {
	s := start(t, Options{})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte("{\"create\":{\"_index\":\"z\",\"_id\":\"1\"}}\n{\"a\":1}\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := do(t, http.MethodPost, s.URL()+"/_bulk", buf.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if err != nil {
		t.Fatal(err)
	}
	if br := decode(t, r); br.Errors || s.Count() != 1 {
		t.Errorf("errors %v count %d", br.Errors, s.Count())
	}
}

func TestAuth(t *testing.T) {
	s := start(t, Options{APIKey: "k3y", Username: "elastic", Password: "pw"})
	body := []byte("{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n")
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"none", nil, 401},
		{"wrong key", map[string]string{"Authorization": "ApiKey nope"}, 401},
		{"api key", map[string]string{"Authorization": "ApiKey k3y"}, 200},
		{"api key, go client's case", map[string]string{"Authorization": "APIKey k3y"}, 200},
		{"basic", map[string]string{"Authorization": "Basic ZWxhc3RpYzpwdw=="}, 200},
		{"wrong basic", map[string]string{"Authorization": "Basic ZWxhc3RpYzpwdXg="}, 401},
	} {
		r, err := do(t, http.MethodPost, s.URL()+"/_bulk", body, tc.hdr)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != tc.status {
			t.Errorf("%s: status %d want %d: %s", tc.name, r.status, tc.status, r.body)
		}
		if r.status == 401 && !bytes.Contains(r.body, []byte(`"type":"security_exception"`)) {
			t.Errorf("%s: body %s", tc.name, r.body)
		}
	}
}

func TestItem429RateIsDeterministic(t *testing.T) {
	var body strings.Builder
	for i := range 200 {
		body.WriteString(`{"index":{"_index":"a","_id":"` + string(rune('a'+i%26)) + `"}}` + "\n{}\n")
	}
	run := func() []int {
		s := start(t, Options{Item429Rate: 0.3, Seed: 7})
		return statuses(decode(t, bulk(t, s, body.String())))
	}
	a, b := run(), run()
	if !equalInts(a, b) {
		t.Fatal("same seed, different answers")
	}
	n := 0
	for _, st := range a {
		if st == 429 {
			n++
		}
	}
	if n < 30 || n > 90 {
		t.Errorf("%d of 200 items got 429 at rate 0.3", n)
	}
}

// fakeClock is a settable clock for capacity tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCapacity(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := start(t, Options{Capacity: 10, Now: clk.Now})
	batch := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString("{\"create\":{\"_index\":\"a\"}}\n{}\n")
		}
		return b.String()
	}
	count := func(st []int, want int) int {
		n := 0
		for _, v := range st {
			if v == want {
				n++
			}
		}
		return n
	}
	st := statuses(decode(t, bulk(t, s, batch(25))))
	if count(st, 201) != 10 || count(st, 429) != 15 {
		t.Fatalf("first second: %v", st)
	}
	clk.Add(500 * time.Millisecond)
	st = statuses(decode(t, bulk(t, s, batch(10))))
	if count(st, 201) != 5 {
		t.Fatalf("after 0.5s: %v", st)
	}
	clk.Add(2 * time.Second) // refill is capped at the burst
	st = statuses(decode(t, bulk(t, s, batch(30))))
	if count(st, 201) != 10 {
		t.Fatalf("after 2s: %v", st)
	}
	if got := s.PerSecond(); !equalInts(got, []int{15, 0, 10}) {
		t.Errorf("PerSecond = %v", got)
	}
	if s.Rejected()[429] != 40 || s.Accepted() != 25 {
		t.Errorf("rejected %v accepted %d", s.Rejected(), s.Accepted())
	}
}

func TestModes(t *testing.T) {
	s := start(t, Options{RetryAfter: 1500 * time.Millisecond})
	body := "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"
	post := func() (resp, error) {
		return do(t, http.MethodPost, s.URL()+"/_bulk", []byte(body), nil)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(s.SetMode(Fail503))
	r, err := post()
	if err != nil || r.status != 503 || r.header.Get("Retry-After") != "2" ||
		r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("fail503: %v %d %v", err, r.status, r.header)
	}
	must(s.SetMode(Fail429))
	if r, err = post(); err != nil || r.status != 429 {
		t.Errorf("fail429: %v %d", err, r.status)
	}

	must(s.SetMode(Reset))
	if _, err = post(); err == nil {
		t.Error("reset: no error")
	}

	must(s.SetMode(Refuse))
	if _, err = post(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refuse: err = %v, want connection refused", err)
	}

	must(s.SetMode(Slow(200 * time.Millisecond)))
	t0 := time.Now()
	if r, err = post(); err != nil || r.status != 200 {
		t.Fatalf("slow: %v %d", err, r.status)
	}
	if el := time.Since(t0); el < 200*time.Millisecond {
		t.Errorf("slow answered in %v", el)
	}

	must(s.SetMode(Healthy))
	if r, err = post(); err != nil || r.status != 200 {
		t.Fatalf("healthy: %v %d", err, r.status)
	}
	if s.Count() != 1 || s.Requests() != 5 {
		t.Errorf("count %d requests %d", s.Count(), s.Requests())
	}
}

func TestCloseWhileSlowAndRefused(t *testing.T) {
	s := New(Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(Slow(time.Hour)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = do(t, http.MethodGet, s.URL()+"/", nil, nil)
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done

	s = New(Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(Refuse); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDiscardSources(t *testing.T) {
	s := start(t, Options{DiscardSources: true})
	decode(t, bulk(t, s, "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"big\":1}\n"))
	if d, ok := s.All()["1"]; !ok || d != nil || s.Count() != 1 {
		t.Errorf("all = %v", s.All())
	}
}

// filterBody is a bulk request with one item of every kind the fake
// answers: created, updated, a 409 version conflict (an engine error with
// index_uuid, shard and index), a mapping reject, an invalid index name,
// an update of a missing document, a delete of a missing one (404 without
// error) and a delete.
const filterBody = `{"create":{"_index":"logs","_id":"a"}}
{"n":1}
{"create":{"_index":"logs","_id":"a"}}
{"n":1}
{"index":{"_index":"logs","_id":"a"}}
{"n":2}
{"create":{"_index":"logs","_id":"b"}}
{"bad":true}
{"create":{"_index":"Logs","_id":"c"}}
{}
{"update":{"_index":"logs","_id":"zz"}}
{"doc":{"x":1}}
{"delete":{"_index":"logs","_id":"nope"}}
{"delete":{"_index":"logs","_id":"a"}}
{"create":{"_index":"logs","_id":"d"}}
{"n":4}
`

func bulkQuery(t *testing.T, s *Server, query, body string) resp {
	t.Helper()
	r, err := do(t, http.MethodPost, s.URL()+"/_bulk?"+query, []byte(body), map[string]string{"Content-Type": "application/x-ndjson"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFilterPathBulk: the filtered answer is the unfiltered one with the
// other fields removed, built here from the decoded full answer (not with
// internal/filterpath), for the filter the Elasticsearch sink sends and
// Logstash's.
func TestFilterPathBulk(t *testing.T) {
	reject := func(doc []byte) (int, string, string) {
		if bytes.Contains(doc, []byte(`"bad"`)) {
			return 400, "mapper_parsing_exception", `failed to parse field [bad] of type [long] in "doc"`
		}
		return 0, "", ""
	}
	for _, tc := range []struct {
		filter string
		item   func(status, errObj json.RawMessage) string // nil errObj: no error
	}{
		{"errors,items.*.status,items.*.error.type,items.*.error.reason,error", func(status, errObj json.RawMessage) string {
			if errObj == nil {
				return `{"status":` + string(status) + `}`
			}
			var e map[string]json.RawMessage
			if err := json.Unmarshal(errObj, &e); err != nil {
				t.Fatal(err)
			}
			return `{"status":` + string(status) + `,"error":{"type":` + string(e["type"]) + `,"reason":` + string(e["reason"]) + `}}`
		}},
		{"errors,items.*.error,items.*.status", func(status, errObj json.RawMessage) string {
			if errObj == nil {
				return `{"status":` + string(status) + `}`
			}
			return `{"status":` + string(status) + `,"error":` + string(errObj) + `}`
		}},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			opts := Options{RejectIf: reject, Item429Rate: 0.2, Seed: 3}
			full, filtered := start(t, opts), start(t, opts)
			var fullBody, got string
			for round := range 2 { // the second round adds 409s for "a", "d"
				fullBody = string(bulk(t, full, filterBody).body)
				r := bulkQuery(t, filtered, "filter_path="+url.QueryEscape(tc.filter), filterBody)
				if r.status != 200 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
					t.Fatalf("round %d: status %d %v", round, r.status, r.header)
				}
				got = string(r.body)
			}
			var fr struct {
				Errors json.RawMessage                         `json:"errors"`
				Items  []map[string]map[string]json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal([]byte(fullBody), &fr); err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			want.WriteString(`{"errors":` + string(fr.Errors) + `,"items":[`)
			seen := map[string]bool{}
			for i, it := range fr.Items {
				if i > 0 {
					want.WriteByte(',')
				}
				for action, fields := range it {
					want.WriteString(`{"` + action + `":` + tc.item(fields["status"], fields["error"]) + `}`)
					seen[string(fields["status"])] = true
				}
			}
			want.WriteString(`]}`)
			if got != want.String() {
				t.Errorf("filtered\n got %s\nwant %s\nfull %s", got, want.String(), fullBody)
			}
			for _, st := range []string{"201", "200", "409", "400", "404", "429"} {
				if !seen[st] {
					t.Errorf("no item answered %s: %s", st, fullBody)
				}
			}
			if !strings.Contains(fullBody, `"index_uuid"`) || strings.Contains(got, `"_index"`) {
				t.Errorf("full %s\nfiltered %s", fullBody, got)
			}
		})
	}
}

func TestFilterPathOtherShapes(t *testing.T) {
	s := start(t, Options{})
	one := "{\"create\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{}\n"
	for _, tc := range []struct {
		query, want string
	}{
		{"filter_path=nothing", `{}`},
		{"filter_path=took.x", `{}`},
		{"filter_path=", `{"took":`}, // prefix: no filter at all
		{"filter_path=%20,%20", `{"took":`},
		{"filter_path=items.*._id,items.*._shards.failed", `{"items":[{"create":{"_id":"1","_shards":{"failed":0}}}]}`},
		{"filter_path=**.result", `{"items":[{"create":{"result":"created"}}]}`},
		{"filter_path=errors&pretty=false", `{"errors":false}`},
	} {
		s.Reset()
		r := bulkQuery(t, s, tc.query, one)
		if r.status != 200 || !strings.HasPrefix(string(r.body), tc.want) || (!strings.HasSuffix(tc.want, ":") && string(r.body) != tc.want) {
			t.Errorf("%s: %d %s, want %s", tc.query, r.status, r.body, tc.want)
		}
	}
	r, err := do(t, http.MethodGet, s.URL()+"/?filter_path=version.number,tagline", nil, nil)
	if err != nil || r.status != 200 || string(r.body) != `{"version":{"number":"8.15.0"},"tagline":"You Know, for Search"}` {
		t.Errorf("GET /: %v %d %s", err, r.status, r.body)
	}
	before := s.Count()
	r = bulkQuery(t, s, "filter_path=-took", "{\"create\":{\"_index\":\"logs\",\"_id\":\"x\"}}\n{}\n")
	if r.status != 400 || !bytes.Contains(r.body, []byte("exclusion")) || s.Count() != before {
		t.Errorf("exclusion: %d %s, count %d", r.status, r.body, s.Count())
	}

	ign := start(t, Options{IgnoreFilterPath: true})
	r = bulkQuery(t, ign, "filter_path=errors", one)
	if br := decode(t, r); len(br.Items) != 1 || !bytes.Contains(r.body, []byte(`"_seq_no"`)) {
		t.Errorf("IgnoreFilterPath: %s", r.body)
	}
}

// TestFilterPathErrorsUnfiltered: as in Elasticsearch, error responses are
// whole whatever filter_path says.
func TestFilterPathErrorsUnfiltered(t *testing.T) {
	s := start(t, Options{MaxContentLength: 100, APIKey: "k"})
	auth := map[string]string{"Authorization": "ApiKey k"}
	q := "/_bulk?filter_path=errors,items.*.status"
	check := func(name string, r resp, err error, status int, typ string) {
		t.Helper()
		var e struct {
			Error struct {
				RootCause []json.RawMessage `json:"root_cause"`
				Type      string            `json:"type"`
				Reason    string            `json:"reason"`
			} `json:"error"`
			Status int `json:"status"`
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if jerr := json.Unmarshal(r.body, &e); jerr != nil || r.status != status || e.Status != status ||
			e.Error.Type != typ || e.Error.Reason == "" || len(e.Error.RootCause) != 1 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	r, err := do(t, http.MethodPost, s.URL()+q, []byte("{\"create\":{\"_index\":\"a\"}}\n{}\n"), nil)
	check("401", r, err, 401, "security_exception")
	r, err = do(t, http.MethodPost, s.URL()+q, []byte("{\"create\":{\"_index\":\"a\"}}\n{\"x\":\""+strings.Repeat("y", 100)+"\"}\n"), auth)
	check("413", r, err, 413, "content_too_long_exception")
	r, err = do(t, http.MethodPost, s.URL()+q, []byte("{\"create\":{\"_index\":\"a\"}}\n{}"), auth)
	check("400", r, err, 400, "illegal_argument_exception")
	for _, m := range []Mode{Fail503, Fail429} {
		if err := s.SetMode(m); err != nil {
			t.Fatal(err)
		}
		r, err = do(t, http.MethodPost, s.URL()+q, []byte("{\"create\":{\"_index\":\"a\"}}\n{}\n"), auth)
		st, typ := 503, "unavailable_shards_exception"
		if m == Fail429 {
			st, typ = 429, "es_rejected_execution_exception"
		}
		check(m.String(), r, err, st, typ)
	}
}

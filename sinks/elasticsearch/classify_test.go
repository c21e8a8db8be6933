package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

func TestClassifyItem(t *testing.T) {
	for _, tc := range []struct {
		status  int
		errType string
		create  bool
		want    sinks.Outcome
		reason  string
	}{
		{200, "", true, sinks.Delivered, ""},
		{201, "", true, sinks.Delivered, ""},
		{409, "version_conflict_engine_exception", true, sinks.Delivered, ""},
		{409, "version_conflict_engine_exception", false, sinks.Retry, ""},
		{409, "something_else", true, sinks.Retry, ""},
		{429, "es_rejected_execution_exception", true, sinks.Throttled, ""},
		{503, "unavailable_shards_exception", true, sinks.Throttled, ""},
		{500, "null_pointer_exception", true, sinks.Retry, ""},
		{502, "", true, sinks.Retry, ""},
		{408, "", true, sinks.Retry, ""},
		{400, "mapper_parsing_exception", true, sinks.Reject, ""},
		{400, "document_parsing_exception", true, sinks.Reject, ""},
		{400, "illegal_argument_exception", true, sinks.Reject, ""},
		{400, "invalid_index_name_exception", true, sinks.Reject, ""},
		{413, "", true, sinks.Reject, ""},
		// Problems of the cluster or of our access: held, never
		// dead-lettered.
		{404, "index_not_found_exception", true, sinks.Blocked, "no such index [logs-x] and [action.auto_create_index] ([false]) doesn't match"},
		{403, "security_exception", true, sinks.Blocked, "action [indices:data/write/bulk[s]] is unauthorized for API key id [k1] of user [u] on indices [logs-x]"},
		{401, "security_exception", true, sinks.Blocked, "unable to authenticate"},
		{403, "cluster_block_exception", true, sinks.Blocked, "index [logs-x] blocked by: [FORBIDDEN/8/index write (api)];"},
		{429, "cluster_block_exception", true, sinks.Blocked, "index [logs-x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"},
		{400, "index_closed_exception", true, sinks.Blocked, "closed"},
		{403, "", true, sinks.Blocked, ""},
		{400, "illegal_argument_exception", false, sinks.Blocked, "only write ops with an op_type of create are allowed in data streams"},
		{0, "", true, sinks.Retry, ""},
		{302, "", true, sinks.Retry, ""},
	} {
		if got := classifyItem(tc.status, []byte(tc.errType), []byte(tc.reason), tc.create); got != tc.want {
			t.Errorf("%d %s create=%v: %v, want %v", tc.status, tc.errType, tc.create, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	for _, tc := range []struct {
		status, sent   int
		retryAfter     string
		want           sinks.Outcome
		wantRetryAfter time.Duration
	}{
		{status: 401, sent: 10, want: sinks.Fatal},
		{status: 403, sent: 10, want: sinks.Fatal},
		{status: 429, sent: 10, retryAfter: "7", want: sinks.Throttled, wantRetryAfter: 7 * time.Second},
		{status: 503, sent: 10, retryAfter: "2", want: sinks.Unavailable, wantRetryAfter: 2 * time.Second},
		{status: 500, sent: 10, want: sinks.Retry},
		{status: 504, sent: 10, want: sinks.Retry},
		{status: 408, sent: 10, want: sinks.Retry},
		{status: 413, sent: 10, want: sinks.TooLarge},
		{status: 413, sent: 1, want: sinks.Reject},
		{status: 400, sent: 10, want: sinks.Fatal},
		{status: 404, sent: 10, want: sinks.Fatal},
		{status: 405, sent: 10, want: sinks.Fatal},
		{status: 301, sent: 10, want: sinks.Fatal},
	} {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		re := statusError(tc.status, tc.sent, h, []byte(`{"error":"no handler found"}`))
		if re.Status != tc.status || re.Outcome != tc.want || sinks.Of(re) != tc.want || re.RetryAfter != tc.wantRetryAfter {
			t.Errorf("%d/%d: %+v, want %v", tc.status, tc.sent, re, tc.want)
		}
		if re.Err == nil || re.Error() == "" {
			t.Errorf("%d: no message", tc.status)
		}
	}
}

func TestTransportError(t *testing.T) {
	bg := context.Background()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	for _, tc := range []struct {
		name   string
		parent context.Context
		err    error
		want   sinks.Outcome
	}{
		{"refused", bg, &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, sinks.Retry},
		{"reset", bg, &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, sinks.Retry},
		{"eof", bg, io.ErrUnexpectedEOF, sinks.Retry},
		{"our timeout", bg, context.DeadlineExceeded, sinks.Unavailable},
		{"header timeout", bg, timeoutErr{}, sinks.Unavailable},
		{"caller gave up", canceled, context.Canceled, sinks.Retry},
		{"product check", bg, errors.New("the client noticed that the server is not Elasticsearch and we do not support this unknown product"), sinks.Fatal},
	} {
		re := transportError(tc.parent, tc.err)
		if re.Status != 0 || re.Outcome != tc.want {
			t.Errorf("%s: %+v, want %v", tc.name, re, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool { return true }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"5", 5 * time.Second}, {" 12 ", 12 * time.Second},
		{"999999999", time.Hour}, {"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := sinks.ParseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("%q: %v want %v", tc.v, got, tc.want)
		}
	}
}

func TestParseBulkResponse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		errors   bool
		statuses []int // nil: count-only items
		n        int
		bad      bool
	}{
		{name: "fast path", body: `{"errors":false,"took":3,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`, n: 2},
		{name: "took first", body: `{"took":3,"errors":false,"items":[{"create":{"_index":"a","_id":"x\"}","status":201}}]}`, n: 1},
		{name: "items before errors", body: `{"items":[{"index":{"status":200}}],"errors":false}`, statuses: []int{200}, n: 1},
		{name: "errors", errors: true, n: 3, statuses: []int{201, 409, 429},
			body: `{"took":3,"errors":true,"items":[{"create":{"status":201,"_shards":{"total":2}}},` +
				`{"create":{"_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: exists","caused_by":{"type":"x","reason":"y"}}}},` +
				` { "create" : { "status" : 429 , "error" : "rejected" } } ]}`},
		{name: "empty items", body: `{"errors":false,"items":[]}`, n: 0},
		{name: "whitespace", body: " {\n \"errors\" : false ,\n \"items\" : [ { \"create\" : { \"status\" : 201 } } ] }\n", n: 1},
		{name: "garbage", body: `nope`, bad: true},
		{name: "empty", body: ``, bad: true},
		{name: "no items", body: `{"errors":false}`, bad: true},
		{name: "no errors", body: `{"items":[]}`, bad: true},
		{name: "truncated", body: `{"errors":true,"items":[{"create":{"status":20`, bad: true},
		{name: "status not a number", body: `{"errors":true,"items":[{"create":{"status":"201"}}]}`, bad: true},
		{name: "item not an object", body: `{"errors":true,"items":[5]}`, bad: true},
		{name: "items twice", body: `{"errors":false,"items":[],"items":[]}`, bad: true},
		// Filtered (bulkFilterPath) shapes.
		{name: "filtered success", body: `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}},{"index":{"status":200}}]}`, n: 3},
		{name: "filtered errors", errors: true, n: 4, statuses: []int{201, 409, 429, 400},
			body: `{"errors":true,"items":[{"create":{"status":201}},` +
				`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: exists"}}},` +
				`{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}},` +
				`{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:2] failed to parse"}}}]}`},
		{name: "filtered, nothing matched", body: `{}`, bad: true},
		{name: "filtered, no items matched", body: `{"errors":false}`, bad: true},
		{name: "filtered, truncated", body: `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":20`, bad: true},
		{name: "filtered, then garbage", body: `{"errors":false,"items":[{"create":{"status":201}},5]}`, bad: true},
		{name: "filtered, status not a number", body: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":"201"}}]}`, bad: true},
	} {
		hasErrors, items, err := parseBulkResponse([]byte(tc.body), nil)
		if (err != nil) != tc.bad {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if tc.bad {
			continue
		}
		if hasErrors != tc.errors || len(items) != tc.n {
			t.Errorf("%s: errors %v, %d items", tc.name, hasErrors, len(items))
		}
		for i, st := range tc.statuses {
			if items[i].status != st {
				t.Errorf("%s: item %d status %d want %d", tc.name, i, items[i].status, st)
			}
		}
		if tc.name == "errors" || tc.name == "filtered errors" {
			it := items[1]
			if string(it.action) != "create" || string(it.errType) != "version_conflict_engine_exception" || string(it.errReason) != "[1]: exists" {
				t.Errorf("%s: item 1 = %q %q %q", tc.name, it.action, it.errType, it.errReason)
			}
			if string(items[2].errReason) != "rejected" {
				t.Errorf("%s: item 2 reason = %q", tc.name, items[2].errReason)
			}
		}
	}
}

func TestUnquote(t *testing.T) {
	if got := unquote([]byte(`a\"b\u00e9\n`), 100); got != "a\"bé\n" {
		t.Errorf("unquote = %q", got)
	}
	if got := unquote([]byte(`bad \x escape`), 100); got != `bad \x escape` {
		t.Errorf("unquote invalid = %q", got)
	}
}

// FuzzParseBulkResponse: a decode error is a valid outcome; a panic is not.
// When parsing succeeds the items must be consistent with the input.
func FuzzParseBulkResponse(f *testing.F) {
	for _, s := range []string{
		`{"errors":false,"took":3,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
		`{"took":3,"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"r"}}}]}`,
		`{"errors":true,"items":[{"index":{"status":429,"error":"x"}}]}`,
		`{"items":[{"index":{"status":200}}],"errors":false}`,
		`{"errors":true,"items":[[[[[{"a":"\"\\"}]]]]]}`,
		`{"error":{"type":"x","reason":"y"},"status":400}`,
		``, `{`, `"`, `{"errors":tru`,
		`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}},{"index":{"status":200}}]}`,
		`{"errors":false,"items":[ {"create":{"status":201}} , { "create" : { "status" : 201 } }]}`,
		`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201,"x":1}}]}`,
		`{"errors":true,"items":[{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"r"}}}]}`,
		`{"errors":false}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scratch := make([]bulkItem, 0, 2)
		p := parser{b: data}
		hasErrors, items, err := p.response(scratch)
		// The filtered count is exact: it agrees with reading every item.
		exact := parser{b: data, exact: true}
		xErrors, xItems, xerr := exact.response(nil)
		if p.counted == countedFiltered && ((err == nil) != (xerr == nil) || err == nil && (xErrors != hasErrors || len(xItems) != len(items))) {
			t.Fatalf("filtered count: %v %d %v; item by item: %v %d %v", hasErrors, len(items), err, xErrors, len(xItems), xerr)
		}
		if xerr == nil && (err != nil || hasErrors != xErrors) {
			t.Fatalf("item by item: %v %d; with shortcuts: %v %v", xErrors, len(xItems), hasErrors, err)
		}
		if err != nil {
			return
		}
		for _, it := range items {
			if it.status < 0 || it.status > 999999999 {
				t.Fatalf("status %d", it.status)
			}
			_ = itemReason(&it)
			_ = classifyItem(it.status, it.errType, it.errReason, true)
		}
		_ = hasErrors
		_ = describeErrorBody(data)
		_ = fmt.Sprint(len(items))
	})
}

// The count-only fast path ("errors":false) counts the same items as the
// full parse, and falls back to it when the shape is not the plain one.
func TestParseBulkResponseCountOnly(t *testing.T) {
	item := `{"create":{"_index":"security-2026.11.26","_id":"events+0+%d","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`
	var items []string
	for i := range 500 {
		items = append(items, fmt.Sprintf(item, i, i))
	}
	body := `{"took":12,"errors":false,"items":[` + strings.Join(items, ",") + "]}\n"
	// The same items with "errors" last take the full parse.
	full := `{"took":12,"items":[` + strings.Join(items, ",") + `],"errors":false}`
	filtered := `{"errors":false,"items":[` + strings.Repeat(`{"create":{"status":201}},`, 499) + `{"create":{"status":201}}]}`
	tests := []struct {
		name string
		body string
		want int
		err  bool
		by   countPath // how the items are counted without "exact"
	}{
		{"fast path", body, 500, false, countedStatuses},
		{"full parse", full, 500, false, countedNone},
		{"pretty printed", strings.ReplaceAll(body, ",", ",\n  "), 500, false, countedStatuses},
		{"escaped string: full parse", `{"errors":false,"items":[{"create":{"_id":"a\"status\":","status":201}}]}`, 1, false, countedNone},
		{"truncated", body[:len(body)/2], 0, true, countedNone},
		{"empty items", `{"errors":false,"items":[]}`, 0, false, countedStatuses},
		{"filtered", filtered, 500, false, countedFiltered},
		{"filtered, pretty printed", strings.ReplaceAll(strings.ReplaceAll(filtered, ",", ",\n  "), ":", " : "), 500, false, countedFiltered},
		{"filtered, statuses and actions vary", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":200}},` +
			`{"index":{"status":200}},{"index":{"status":200}},{"delete":{"status":404}},{"create":{"status":201}}]}`, 6, false, countedFiltered},
		// A response that starts filtered and changes shape is read item
		// by item, not by counting "status" keys.
		{"filtered, then a full item", `{"errors":false,"items":[{"create":{"status":201}},` + fmt.Sprintf(item, 1, 1) + `]}`, 2, false, countedNone},
		{"filtered, then an object", `{"errors":false,"items":[{"create":{"status":201}},{}]}`, 2, false, countedNone},
		{"filtered, then a status string", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":"201"}}]}`, 2, false, countedNone},
		{"filtered, then a scalar", `{"errors":false,"items":[{"create":{"status":201}},5]}`, 0, true, countedNone},
		{"filtered, truncated", filtered[:len(filtered)/2], 0, true, countedNone},
		{"filtered, an item prefix", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}`, 0, true, countedNone},
		{"filtered, an item missing a brace", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}]}`, 0, true, countedNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, exact := range []bool{false, true} {
				p := parser{b: []byte(tt.body), exact: exact}
				hasErrors, out, err := p.response(nil)
				if (err != nil) != tt.err {
					t.Fatalf("exact %v: err = %v, want error %v", exact, err, tt.err)
				}
				if err == nil && (hasErrors || len(out) != tt.want) {
					t.Fatalf("exact %v: errors %v, %d items; want false, %d", exact, hasErrors, len(out), tt.want)
				}
				if want := tt.by; exact && p.counted != countedNone || !exact && !tt.err && p.counted != want {
					t.Errorf("exact %v: counted by %v, want %v", exact, p.counted, want)
				}
			}
		})
	}
}

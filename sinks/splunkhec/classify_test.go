package splunkhec

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type want struct {
		delivered bool
		outcome   sinks.Outcome // of a RequestError
		retryAft  time.Duration
		// batch: per request position, the outcome; nil when not a
		// BatchError
		batch []sinks.Outcome
	}
	retry := want{outcome: sinks.Retry}
	fatal := want{outcome: sinks.Fatal}
	unavailable := want{outcome: sinks.Unavailable}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		n      int
		want   want
	}{
		{"0 success", 200, nil, `{"text":"Success","code":0}`, 3, want{delivered: true}},
		{"0 success with ackId", 200, nil, `{"text":"Success","code":0,"ackId":7}`, 3, want{delivered: true}},
		{"1 token disabled", 403, nil, `{"text":"Token disabled","code":1}`, 3, fatal},
		{"2 token required", 401, nil, `{"text":"Token is required","code":2}`, 3, fatal},
		{"3 invalid authorization", 401, nil, `{"text":"Invalid authorization","code":3}`, 3, fatal},
		{"4 invalid token", 403, nil, `{"text":"Invalid token","code":4}`, 3, fatal},
		{"5 no data", 400, nil, `{"text":"No data","code":5}`, 3, retry},
		{"6 invalid format at 1", 400, nil, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`, 3,
			want{batch: []sinks.Outcome{sinks.Retry, sinks.Reject, sinks.Retry}}},
		{"6 invalid format at 0", 400, nil, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`, 2,
			want{batch: []sinks.Outcome{sinks.Reject, sinks.Retry}}},
		{"6 without number, one event", 400, nil, `{"text":"Invalid data format","code":6}`, 1,
			want{batch: []sinks.Outcome{sinks.Reject}}},
		{"6 without number, several", 400, nil, `{"text":"Invalid data format","code":6}`, 3, fatal},
		{"6 number out of range", 400, nil, `{"text":"Invalid data format","code":6,"invalid-event-number":3}`, 3, fatal},
		{"7 incorrect index", 400, nil, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`, 3, fatal},
		{"8 internal error", 500, nil, `{"text":"Internal server error","code":8}`, 3, retry},
		{"9 server busy", 503, http.Header{"Retry-After": {"7"}}, `{"text":"Server is busy","code":9}`, 3,
			want{outcome: sinks.Unavailable, retryAft: 7 * time.Second}},
		{"9 server busy as 429", 429, nil, `{"text":"Server is busy","code":9}`, 3, want{outcome: sinks.Throttled}},
		{"8 internal error as 429", 429, nil, `{"text":"Internal server error","code":8}`, 3, want{outcome: sinks.Throttled}},
		{"4 invalid token as 429", 429, nil, `{"text":"Invalid token","code":4}`, 3, fatal},
		{"10 channel missing", 400, nil, `{"text":"Data channel is missing","code":10}`, 3, fatal},
		{"11 invalid channel", 400, nil, `{"text":"Invalid data channel","code":11}`, 3, fatal},
		{"12 event required", 400, nil, `{"text":"Event field is required","code":12,"invalid-event-number":2}`, 3,
			want{batch: []sinks.Outcome{sinks.Retry, sinks.Retry, sinks.Reject}}},
		{"13 event blank", 400, nil, `{"text":"Event field cannot be blank","code":13,"invalid-event-number":0}`, 1,
			want{batch: []sinks.Outcome{sinks.Reject}}},
		{"14 ack disabled", 400, nil, `{"text":"ACK is disabled","code":14}`, 3, fatal},
		{"15 indexed fields", 400, nil, `{"text":"Error in handling indexed fields","code":15,"invalid-event-number":1}`, 2,
			want{batch: []sinks.Outcome{sinks.Retry, sinks.Reject}}},
		{"16 query string auth", 400, nil, `{"text":"Query string authorization is not enabled","code":16}`, 3, fatal},
		{"18 unhealthy queues full", 503, nil, `{"text":"HEC is unhealthy, queues are full","code":18}`, 3, unavailable},
		{"19 unhealthy ack", 503, nil, `{"text":"HEC is unhealthy, ack service unavailable","code":19}`, 3, unavailable},
		{"401 no body", 401, nil, ``, 3, fatal},
		{"403 html", 403, nil, `<html>Forbidden</html>`, 3, fatal},
		{"429 retry-after", 429, http.Header{"Retry-After": {"3"}}, ``, 3, want{outcome: sinks.Throttled, retryAft: 3 * time.Second}},
		{"429 retry-after date", 429, http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, ``, 3,
			want{outcome: sinks.Throttled, retryAft: 90 * time.Second}},
		{"503 no body", 503, nil, `Service Unavailable`, 3, unavailable},
		{"502 proxy", 502, nil, `<html>Bad gateway</html>`, 3, retry},
		{"504", 504, nil, ``, 3, retry},
		{"408", 408, nil, ``, 3, retry},
		{"413 one event", 413, nil, ``, 1, want{batch: []sinks.Outcome{sinks.Reject}}},
		{"413 several", 413, nil, ``, 3, want{outcome: sinks.TooLarge}},
		{"413 several with a HEC code", 413, nil, `{"text":"Content too large","code":8}`, 3, want{outcome: sinks.TooLarge}},
		{"404 wrong path", 404, nil, `{"text":"The requested URL was not found on this server.","code":404}`, 3, fatal},
		{"400 no hec body", 400, nil, `bad request`, 3, fatal},
		{"301 redirect", 301, nil, ``, 3, fatal},
		{"200 not hec", 200, nil, `<html>login</html>`, 3, retry},
		{"200 empty", 200, nil, ``, 3, retry},
		{"200 code 17", 200, nil, `{"text":"HEC is healthy","code":17}`, 3, retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := classify(tt.status, tt.header, []byte(tt.body), tt.n, now, false)
			if tt.want.delivered {
				if err != nil {
					t.Fatalf("got %v, want delivered", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got delivered")
			}
			var be *sinks.BatchError
			if tt.want.batch != nil {
				if !errors.As(err, &be) {
					t.Fatalf("got %T %v, want a BatchError", err, err)
				}
				if len(be.Items) != len(tt.want.batch) {
					t.Fatalf("items %+v, want %v", be.Items, tt.want.batch)
				}
				for i, it := range be.Items {
					if it.Index != i || it.Outcome != tt.want.batch[i] || it.Reason == "" {
						t.Errorf("item %d: %+v, want outcome %v", i, it, tt.want.batch[i])
					}
				}
				return
			}
			var re *sinks.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want a RequestError", err, err)
			}
			if re.Outcome != tt.want.outcome || sinks.Of(err) != tt.want.outcome || re.RetryAfter != tt.want.retryAft {
				t.Errorf("got %v retryAfter=%v (%v), want %v retryAfter=%v",
					re.Outcome, re.RetryAfter, err, tt.want.outcome, tt.want.retryAft)
			}
			if re.Status != tt.status {
				t.Errorf("status %d, want %d", re.Status, tt.status)
			}
		})
	}
}

func TestClassifyMessages(t *testing.T) {
	_, err := classify(400, nil, []byte(`{"text":"Incorrect index","code":7}`), 1, time.Now(), false)
	if got := err.Error(); got != "status 400: splunk hec: HTTP 400, code 7: Incorrect index: the configured index is not allowed for this token" {
		t.Errorf("message %q", got)
	}
	_, err = classify(400, nil, []byte(`{"text":"Data channel is missing","code":10}`), 1, time.Now(), false)
	if want := "set ack: true"; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}
}

func TestHealthAndTokenResult(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		fn     func(int, http.Header, []byte, time.Time) error
		status int
		body   string
		want   sinks.Outcome // Delivered: nil
	}{
		{"health 17", healthResult, 200, `{"text":"HEC is healthy","code":17}`, sinks.Delivered},
		{"health 18", healthResult, 503, `{"text":"HEC is unhealthy, queues are full","code":18}`, sinks.Unavailable},
		{"health 429", healthResult, 429, ``, sinks.Throttled},
		{"health 500", healthResult, 500, `{"text":"Internal server error","code":8}`, sinks.Retry},
		{"health 401", healthResult, 401, ``, sinks.Fatal},
		{"token ok (no data)", tokenResult, 400, `{"text":"No data","code":5}`, sinks.Delivered},
		{"token invalid", tokenResult, 403, `{"text":"Invalid token","code":4}`, sinks.Fatal},
		{"token disabled", tokenResult, 403, `{"text":"Token disabled","code":1}`, sinks.Fatal},
		{"channel missing", tokenResult, 400, `{"text":"Data channel is missing","code":10}`, sinks.Fatal},
		{"busy", tokenResult, 503, `{"text":"Server is busy","code":9}`, sinks.Unavailable},
		{"token 413", tokenResult, 413, ``, sinks.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn(tt.status, http.Header{}, []byte(tt.body), now)
			if (err == nil) != (tt.want == sinks.Delivered) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err == nil {
				return
			}
			var re *sinks.RequestError
			if !errors.As(err, &re) || re.Outcome != tt.want {
				t.Errorf("err %v (%T): %v, want a RequestError %v", err, err, sinks.Of(err), tt.want)
			}
		})
	}
}

// FuzzClassify: any answer is classified without panicking, and item
// indexes stay within the request.
func FuzzClassify(f *testing.F) {
	f.Add(400, []byte(`{"text":"Invalid data format","code":6,"invalid-event-number":1}`), 3)
	f.Add(200, []byte(`{"text":"Success","code":0,"ackId":1}`), 1)
	f.Add(503, []byte(`garbage`), 0)
	f.Fuzz(func(t *testing.T, status int, body []byte, n int) {
		n = max(0, min(n, 1000))
		_, err := classify(status, http.Header{}, body, n, time.Now(), false)
		var be *sinks.BatchError
		if errors.As(err, &be) {
			for _, it := range be.Items {
				if it.Index < 0 || it.Index >= max(n, 1) {
					t.Fatalf("index %d outside a request of %d", it.Index, n)
				}
				if it.Outcome != sinks.Retry && it.Outcome != sinks.Reject {
					t.Fatalf("item outcome %v", it.Outcome)
				}
			}
		}
		var re *sinks.RequestError
		if errors.As(err, &re) && (re.Outcome == sinks.Delivered || re.Outcome == sinks.Reject || re.Outcome == sinks.Blocked) {
			t.Fatalf("request outcome %v: a request failure never dead-letters the batch", re.Outcome)
		}
	})
}

func TestAckAnswer(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const (
		ok = iota
		retry
		unavailable
		throttled
		refused
	)
	tests := []struct {
		name     string
		status   int
		header   http.Header
		body     string
		want     int
		retryAft time.Duration
	}{
		{"acks", 200, nil, `{"acks":{"0":true,"1":false}}`, ok, 0},
		{"empty acks", 200, nil, `{"acks":{}}`, ok, 0},
		{"200 without acks", 200, nil, `{"text":"Success","code":0}`, retry, 0},
		{"200 html", 200, nil, `<html>login</html>`, retry, 0},
		{"8 internal error", 500, nil, `{"text":"Internal server error","code":8}`, retry, 0},
		{"502 proxy", 502, nil, `Bad Gateway`, retry, 0},
		{"408", 408, nil, ``, retry, 0},
		{"9 server busy", 503, http.Header{"Retry-After": {"3"}}, `{"text":"Server is busy","code":9}`, unavailable, 3 * time.Second},
		{"429", 429, http.Header{"Retry-After": {"2"}}, `Too Many Requests`, throttled, 2 * time.Second},
		{"14 ack disabled", 400, nil, `{"text":"ACK is disabled","code":14}`, refused, 0},
		{"11 invalid channel", 400, nil, `{"text":"Invalid data channel","code":11}`, refused, 0},
		{"4 invalid token", 403, nil, `{"text":"Invalid token","code":4}`, refused, 0},
		{"403 proxy", 403, nil, `Forbidden`, refused, 0},
		{"404 not routed", 404, nil, `404 page not found`, refused, 0},
		{"405", 405, nil, ``, refused, 0},
		{"302 login", 302, http.Header{"Location": {"/login"}}, ``, refused, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks, err := ackAnswer(tt.status, tt.header, []byte(tt.body), now)
			if tt.want == ok {
				if err != nil || acks == nil {
					t.Fatalf("got %v %v, want the acks", acks, err)
				}
				return
			}
			var re *sinks.RequestError
			if !errors.As(err, &re) || acks != nil {
				t.Fatalf("got %v %v, want a RequestError", acks, err)
			}
			want := map[int]sinks.Outcome{retry: sinks.Retry, unavailable: sinks.Unavailable, throttled: sinks.Throttled, refused: sinks.Fatal}[tt.want]
			if re.Outcome != want || re.RetryAfter != tt.retryAft {
				t.Errorf("%v: %v retryAfter=%v, want %v retryAfter=%v", err, re.Outcome, re.RetryAfter, want, tt.retryAft)
			}
			if re.Status != tt.status {
				t.Errorf("status %d, want %d", re.Status, tt.status)
			}
			if tt.want == refused && (!strings.Contains(err.Error(), "indexer acknowledgement refused") || !strings.Contains(err.Error(), "ack: false")) {
				t.Errorf("refusal without its reason and remedy: %v", err)
			}
		})
	}
}

// FuzzAckAnswer: any answer to an ack request is classified without
// panicking, as acks or as a RequestError.
func FuzzAckAnswer(f *testing.F) {
	f.Add(200, []byte(`{"acks":{"0":true}}`))
	f.Add(400, []byte(`{"text":"ACK is disabled","code":14}`))
	f.Add(200, []byte(`{"acks":[1,2]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		acks, err := ackAnswer(status, http.Header{}, body, time.Now())
		var re *sinks.RequestError
		if (acks == nil) == (err == nil) || (err != nil && !errors.As(err, &re)) {
			t.Fatalf("got %v, %v", acks, err)
		}
		if re != nil && re.Outcome != sinks.Retry && re.Outcome != sinks.Throttled && re.Outcome != sinks.Unavailable && re.Outcome != sinks.Fatal {
			t.Fatalf("outcome %v", re.Outcome)
		}
	})
}

// TestClassifyPerEventIndex: code 7 is the configuration's problem (fatal)
// unless the index is rendered per event and the answer names the event:
// then that event is blocked and the others retried.
func TestClassifyPerEventIndex(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		perEvent bool
		want     []sinks.Outcome // nil: a fatal RequestError
	}{
		{"per event, named", `{"text":"Incorrect index","code":7,"invalid-event-number":1}`, true, []sinks.Outcome{sinks.Retry, sinks.Blocked, sinks.Retry}},
		{"per event, not named", `{"text":"Incorrect index","code":7}`, true, nil},
		{"per event, out of range", `{"text":"Incorrect index","code":7,"invalid-event-number":3}`, true, nil},
		{"configured index", `{"text":"Incorrect index","code":7,"invalid-event-number":1}`, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := classify(400, nil, []byte(tt.body), 3, time.Now(), tt.perEvent)
			var be *sinks.BatchError
			if tt.want == nil {
				if sinks.Of(err) != sinks.Fatal || !strings.Contains(err.Error(), "not allowed") {
					t.Errorf("got %v, want fatal", err)
				}
				return
			}
			if !errors.As(err, &be) || len(be.Items) != len(tt.want) {
				t.Fatalf("got %v", err)
			}
			for i, it := range be.Items {
				if it.Outcome != tt.want[i] || it.Index != i || it.Status != 400 {
					t.Errorf("item %d: %+v, want %v", i, it, tt.want[i])
				}
			}
		})
	}
}

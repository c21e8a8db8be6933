package hecfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testChannel = "0f0e0d0c-0b0a-4908-8706-050403020100"

type reply struct {
	Text    string          `json:"text"`
	Code    int             `json:"code"`
	AckID   *int64          `json:"ackId"`
	Invalid *int            `json:"invalid-event-number"`
	Acks    map[string]bool `json:"acks"`
}

func do(t *testing.T, h http.Handler, method, path, auth, ch, body string, hdr ...string) (int, reply) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if ch != "" {
		r.Header.Set("X-Splunk-Request-Channel", ch)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var rep reply
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil && w.Code != http.StatusNotFound {
		t.Fatalf("%s %s: body %q: %v", method, path, w.Body.String(), err)
	}
	return w.Code, rep
}

const ev1 = `{"time":1732662000.123,"host":"h","event":{"a":1},"fields":{"kafka_topic":"t","kafka_partition":"0","kafka_offset":"5"}}`

func TestAuthAndValidation(t *testing.T) {
	s := New(Options{DisabledTokens: []string{"old"}, Indexes: []string{"main"},
		InvalidAt: func(e Event) bool { return bytes.Contains(e.Event, []byte("poison")) }})
	h := s.Handler()
	ok := "Splunk " + Token
	tests := []struct {
		name, auth, body string
		status, code     int
		invalid          int // -1: no invalid-event-number
	}{
		{"success", ok, ev1 + ev1, 200, CodeSuccess, -1},
		{"no token", "", ev1, 401, CodeTokenRequired, -1},
		{"bad scheme", "Bearer " + Token, ev1, 401, CodeInvalidAuth, -1},
		{"unknown token", "Splunk nope", ev1, 403, CodeInvalidToken, -1},
		{"disabled token", "Splunk old", ev1, 403, CodeTokenDisabled, -1},
		{"no data", ok, "  ", 400, CodeNoData, -1},
		{"not json", ok, ev1 + `{"event":`, 400, CodeInvalidFormat, 1},
		{"event missing", ok, ev1 + `{"host":"x"}`, 400, CodeEventRequired, 1},
		{"event blank", ok, `{"event":""}`, 400, CodeEventBlank, 0},
		{"bad fields", ok, `{"event":{},"fields":{"a":{"b":1}}}`, 400, CodeIndexedFields, 0},
		{"bad index", ok, `{"event":{},"index":"other"}`, 400, CodeIncorrectIndex, 0},
		{"invalid at", ok, ev1 + ev1 + `{"event":"poison"}`, 400, CodeInvalidFormat, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, rep := do(t, h, http.MethodPost, "/services/collector/event", tt.auth, "", tt.body)
			if status != tt.status || rep.Code != tt.code {
				t.Errorf("got %d code %d (%s), want %d code %d", status, rep.Code, rep.Text, tt.status, tt.code)
			}
			if (rep.Invalid == nil) != (tt.invalid < 0) || (rep.Invalid != nil && *rep.Invalid != tt.invalid) {
				t.Errorf("invalid-event-number %v, want %d", rep.Invalid, tt.invalid)
			}
		})
	}
	if s.Len() != 2 || s.Count("t", 0, 5) != 2 || s.Distinct() != 1 {
		t.Errorf("stored %d events, %d for t/0/5, %d distinct; want only the successful request's 2, one record", s.Len(), s.Count("t", 0, 5), s.Distinct())
	}
	ev := s.Events()[0]
	if ev.Time != "1732662000.123" || ev.Host != "h" || string(ev.Event) != `{"a":1}` || ev.Fields["kafka_offset"] != "5" {
		t.Errorf("stored %+v", ev)
	}
}

func TestIndexBeforeInvalid(t *testing.T) {
	s := New(Options{IndexBeforeInvalid: true})
	status, rep := do(t, s.Handler(), http.MethodPost, "/services/collector/event", "Splunk "+Token, "", ev1+`{"event":""}`+ev1)
	if status != 400 || rep.Code != CodeEventBlank || s.Len() != 1 {
		t.Errorf("got %d code %d, stored %d; want 400 code 13 and the first event stored", status, rep.Code, s.Len())
	}
}

func TestGzip(t *testing.T) {
	s := New(Options{})
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, ev1+"\n"+ev1)
	zw.Close()
	status, rep := do(t, s.Handler(), http.MethodPost, "/services/collector/event", "Splunk "+Token, "", b.String(), "Content-Encoding", "gzip")
	if status != 200 || rep.Code != 0 || s.Len() != 2 {
		t.Errorf("got %d code %d, stored %d", status, rep.Code, s.Len())
	}
}

func TestAckFlow(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(Options{Ack: true, AckDelay: time.Second, Now: func() time.Time { return now }})
	h := s.Handler()
	auth := "Splunk " + Token

	if status, rep := do(t, h, http.MethodPost, "/services/collector/event", auth, "", ev1); status != 400 || rep.Code != CodeChannelMissing {
		t.Fatalf("no channel: %d code %d", status, rep.Code)
	}
	if status, rep := do(t, h, http.MethodPost, "/services/collector/event", auth, "not-a-guid", ev1); status != 400 || rep.Code != CodeInvalidChannel {
		t.Fatalf("bad channel: %d code %d", status, rep.Code)
	}
	for want := int64(0); want < 2; want++ {
		status, rep := do(t, h, http.MethodPost, "/services/collector/event", auth, testChannel, ev1)
		if status != 200 || rep.AckID == nil || *rep.AckID != want {
			t.Fatalf("event: %d %+v, want ackId %d", status, rep, want)
		}
	}
	_, rep := do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0,1,7]}`)
	if rep.Acks["0"] || rep.Acks["1"] || rep.Acks["7"] || len(rep.Acks) != 3 {
		t.Errorf("before the delay: %v", rep.Acks)
	}
	now = now.Add(time.Second)
	_, rep = do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0,1]}`)
	if !rep.Acks["0"] || !rep.Acks["1"] {
		t.Errorf("after the delay: %v", rep.Acks)
	}
	_, rep = do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`)
	if rep.Acks["0"] {
		t.Errorf("an ack reported true is forgotten, as in Splunk: %v", rep.Acks)
	}
	if status, rep := do(t, h, http.MethodPost, "/services/collector/ack", "Splunk x", testChannel, `{"acks":[0]}`); status != 403 || rep.Code != CodeInvalidToken {
		t.Errorf("ack with a bad token: %d code %d", status, rep.Code)
	}
	if s.AckRequests() != 4 || s.Requests() != 4 {
		t.Errorf("requests %d, ack requests %d", s.Requests(), s.AckRequests())
	}

	noAck := New(Options{})
	if status, rep := do(t, noAck.Handler(), http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`); status != 400 || rep.Code != CodeAckDisabled {
		t.Errorf("ack disabled: %d code %d", status, rep.Code)
	}
}

func TestModesAndHealth(t *testing.T) {
	s := New(Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := s.URL()
	get := func() (int, error) {
		res, err := http.Get(url + "/services/collector/health")
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	if st, err := get(); err != nil || st != 200 {
		t.Fatalf("healthy: %d %v", st, err)
	}
	for _, m := range []struct {
		mode   Mode
		health int
		event  int
		code   int
	}{{Busy, 503, 503, CodeServerBusy}, {Down, 500, 500, CodeInternalError}} {
		if err := s.SetMode(m.mode); err != nil {
			t.Fatal(err)
		}
		if st, _ := get(); st != m.health {
			t.Errorf("%s: health %d, want %d", m.mode, st, m.health)
		}
		status, rep := do(t, s.Handler(), http.MethodPost, "/services/collector/event", "Splunk "+Token, "", ev1)
		if status != m.event || rep.Code != m.code {
			t.Errorf("%s: event %d code %d", m.mode, status, rep.Code)
		}
	}
	if err := s.SetMode(Refuse); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := get(); err == nil {
		t.Error("Refuse: the request went through")
	}
	if err := s.SetMode(Healthy); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Errorf("URL changed to %s", s.URL())
	}
	if st, err := get(); err != nil || st != 200 {
		t.Errorf("healthy again: %d %v", st, err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestRefuseAck(t *testing.T) {
	s := New(Options{Ack: true})
	h := s.Handler()
	auth := "Splunk " + Token
	if status, rep := do(t, h, http.MethodPost, "/services/collector/event", auth, testChannel, ev1); status != 200 || rep.AckID == nil {
		t.Fatalf("event: %d %+v", status, rep)
	}

	s.RefuseAck(http.StatusBadRequest)
	if status, rep := do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`); status != 400 || rep.Code != CodeAckDisabled {
		t.Errorf("refused with 400: %d code %d", status, rep.Code)
	}
	// Events are still taken, with an ackId, while /ack is refused.
	if status, rep := do(t, h, http.MethodPost, "/services/collector/event", auth, testChannel, ev1); status != 200 || rep.AckID == nil || *rep.AckID != 1 {
		t.Errorf("event while ack refused: %d %+v", status, rep)
	}
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound} {
		s.RefuseAck(status)
		r := httptest.NewRequest(http.MethodPost, "/services/collector/ack", strings.NewReader(`{"acks":[0]}`))
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Splunk-Request-Channel", testChannel)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != status || json.Valid(w.Body.Bytes()) {
			t.Errorf("refused with %d: got %d %q, want a proxy's plain-text answer", status, w.Code, w.Body.String())
		}
	}

	s.RefuseAck(0)
	_, rep := do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0,1]}`)
	if !rep.Acks["0"] || !rep.Acks["1"] {
		t.Errorf("acks after the refusal ended: %v (pending acks must be kept)", rep.Acks)
	}
	if s.Len() != 2 {
		t.Errorf("stored %d events, want 2", s.Len())
	}
}

func TestStickyCookie(t *testing.T) {
	s := New(Options{Ack: true, StickyCookie: "AWSALB"})
	h := s.Handler()
	auth := "Splunk " + Token
	r := httptest.NewRequest(http.MethodPost, "/services/collector/event", strings.NewReader(ev1))
	r.Header.Set("Authorization", auth)
	r.Header.Set("X-Splunk-Request-Channel", testChannel)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "AWSALB" {
			cookie = c
		}
	}
	if w.Code != 200 || cookie == nil || cookie.Value == "" || cookie.Path != "/" {
		t.Fatalf("event: %d, cookies %v; want the load balancer's AWSALB cookie", w.Code, w.Result().Cookies())
	}

	// Without the cookie the poll reaches another indexer: unknown acks.
	_, rep := do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`)
	if rep.Acks["0"] || len(rep.Acks) != 1 {
		t.Errorf("ack without the cookie: %v, want 0 unknown (false)", rep.Acks)
	}
	_, rep = do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`, "Cookie", "AWSALB=elsewhere")
	if rep.Acks["0"] {
		t.Errorf("ack with another indexer's cookie: %v", rep.Acks)
	}
	if s.StrayAckRequests() != 2 {
		t.Errorf("%d stray ack requests, want 2", s.StrayAckRequests())
	}
	_, rep = do(t, h, http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0]}`, "Cookie", cookie.String())
	if !rep.Acks["0"] {
		t.Errorf("ack with the cookie: %v, want 0 true", rep.Acks)
	}
	if s.StrayAckRequests() != 2 {
		t.Errorf("%d stray ack requests, want still 2", s.StrayAckRequests())
	}
}

// TestIndexedFields: "fields" as Splunk documents it for the event
// endpoint: an object of strings or arrays of strings; anything else is
// 400 code 15 naming the event.
func TestIndexedFields(t *testing.T) {
	tests := []struct {
		name   string
		fields string
		code   int
		want   map[string][]string
	}{
		{"strings", `{"user":"alice","n":"3"}`, CodeSuccess, map[string][]string{"user": {"alice"}, "n": {"3"}}},
		{"multi-value", `{"ip":["10.0.0.1","10.0.0.2"]}`, CodeSuccess, map[string][]string{"ip": {"10.0.0.1", "10.0.0.2"}}},
		{"empty object", `{}`, CodeSuccess, map[string][]string{}},
		{"null", `null`, CodeSuccess, nil},
		{"number", `{"n":3}`, CodeIndexedFields, nil},
		{"boolean", `{"b":true}`, CodeIndexedFields, nil},
		{"nested object", `{"a":{"b":"c"}}`, CodeIndexedFields, nil},
		{"array of numbers", `{"a":[1,2]}`, CodeIndexedFields, nil},
		{"not an object", `["a"]`, CodeIndexedFields, nil},
		{"a string", `"a"`, CodeIndexedFields, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			status, rep := do(t, s.Handler(), http.MethodPost, "/services/collector/event", "Splunk "+Token, "",
				ev1+`{"event":{"x":1},"fields":`+tt.fields+`}`)
			if rep.Code != tt.code {
				t.Fatalf("got %d code %d (%s), want code %d", status, rep.Code, rep.Text, tt.code)
			}
			if tt.code != CodeSuccess {
				if status != 400 || rep.Invalid == nil || *rep.Invalid != 1 || s.Len() != 0 {
					t.Errorf("got %d invalid-event-number %v, stored %d; want 400 naming event 1, nothing stored", status, rep.Invalid, s.Len())
				}
				return
			}
			got := s.Events()[1]
			if tt.want == nil {
				if got.Fields != nil {
					t.Errorf("fields %v, want none", got.Fields)
				}
				return
			}
			if len(got.FieldValues) != len(tt.want) {
				t.Fatalf("fields %v, want %v", got.FieldValues, tt.want)
			}
			for k, v := range tt.want {
				if strings.Join(got.FieldValues[k], "|") != strings.Join(v, "|") || got.Fields[k] != strings.Join(v, ",") {
					t.Errorf("field %s: %v / %q, want %v", k, got.FieldValues[k], got.Fields[k], v)
				}
			}
		})
	}
}

// TestRaw: /services/collector/raw as Splunk documents it: a channel is
// required even without ack, metadata comes from the query string, the
// body is one event per line (blank lines dropped), and with ack the
// answer carries an ackId like an event request.
func TestRaw(t *testing.T) {
	auth := "Splunk " + Token
	s := New(Options{Indexes: []string{"main", "net"}})
	h := s.Handler()
	tests := []struct {
		name, path, auth, ch, body string
		status, code               int
	}{
		{"no channel", "/services/collector/raw", auth, "", "a\n", 400, CodeChannelMissing},
		{"bad channel", "/services/collector/raw", auth, "nope", "a\n", 400, CodeInvalidChannel},
		{"no token", "/services/collector/raw", "", testChannel, "a\n", 401, CodeTokenRequired},
		{"no data", "/services/collector/raw", auth, testChannel, "\n \r\n", 400, CodeNoData},
		{"bad index", "/services/collector/raw?index=secret", auth, testChannel, "a\n", 400, CodeIncorrectIndex},
		{"channel in the query", "/services/collector/raw?channel=" + testChannel + "&sourcetype=cisco:asa&index=net&host=fw-1&source=kafka", auth, "", "line 1\r\nline 2\n\n  \nline 3", 200, CodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, rep := do(t, h, http.MethodPost, tt.path, tt.auth, tt.ch, tt.body)
			if status != tt.status || rep.Code != tt.code {
				t.Errorf("got %d code %d (%s), want %d code %d", status, rep.Code, rep.Text, tt.status, tt.code)
			}
		})
	}
	evs := s.Events()
	if len(evs) != 3 {
		t.Fatalf("stored %d events, want the 3 non-blank lines: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		if ev.Raw != "line "+string(rune('1'+i)) || ev.Sourcetype != "cisco:asa" || ev.Index != "net" || ev.Host != "fw-1" || ev.Source != "kafka" ||
			ev.Channel != testChannel || ev.Fields != nil || ev.Event != nil {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	if s.Requests() != int64(len(tests)) {
		t.Errorf("%d requests counted, want %d", s.Requests(), len(tests))
	}

	now := time.Unix(1000, 0)
	acked := New(Options{Ack: true, Now: func() time.Time { return now }})
	for want := int64(0); want < 2; want++ {
		status, rep := do(t, acked.Handler(), http.MethodPost, "/services/collector/raw", auth, testChannel, "x\n")
		if status != 200 || rep.AckID == nil || *rep.AckID != want {
			t.Fatalf("raw with ack: %d %+v, want ackId %d", status, rep, want)
		}
	}
	// Raw and event requests share the channel's ack numbering.
	if _, rep := do(t, acked.Handler(), http.MethodPost, "/services/collector/event", auth, testChannel, ev1); rep.AckID == nil || *rep.AckID != 2 {
		t.Errorf("event after raw: %+v, want ackId 2", rep)
	}
	if _, rep := do(t, acked.Handler(), http.MethodPost, "/services/collector/ack", auth, testChannel, `{"acks":[0,1,2]}`); !rep.Acks["0"] || !rep.Acks["1"] || !rep.Acks["2"] {
		t.Errorf("acks %v", rep.Acks)
	}
}

package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ sinks.Sink = (*Sink)(nil)

// receiver records requests and answers with the status its handler
// picks.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(r *http.Request, body []byte) (status int, header http.Header, body2 string)
}

type recorded struct {
	method string
	path   string
	header http.Header
	host   string
	body   []byte
}

func newReceiver(t *testing.T, tlsServer bool, answer func(r *http.Request, body []byte) (int, http.Header, string)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), host: r.Host, body: body})
		rc.mu.Unlock()
		status, hdr, out := http.StatusOK, http.Header(nil), ""
		if rc.answer != nil {
			status, hdr, out = rc.answer(r, body)
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	})
	rc.Server = httptest.NewUnstartedServer(h)
	rc.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected in TestTLS
	if tlsServer {
		rc.StartTLS()
	} else {
		rc.Start()
	}
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func (rc *receiver) bodies() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.method != http.MethodHead {
			out = append(out, string(r.body))
		}
	}
	return out
}

func testConfig(url string) config.Webhook {
	return config.Webhook{URL: url, Method: "POST", Mode: "single", Timeout: 5 * time.Second}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSink(t *testing.T, cfg config.Webhook, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, append([]Option{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func events(docs ...string) []*event.Event {
	out := make([]*event.Event, len(docs))
	for i, d := range docs {
		out[i] = event.New("alerts", 0, int64(i), time.Unix(1700000000, 0), nil, []byte(d))
	}
	return out
}

// roundTripFunc is a transport that is not an *http.Transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestStatus(t *testing.T) {
	type want struct {
		ok      bool
		reject  bool          // BatchError with one Reject item
		request sinks.Outcome // a RequestError with this outcome
	}
	for _, tc := range []struct {
		status int
		want   want
	}{
		{200, want{ok: true}},
		{201, want{ok: true}},
		{204, want{ok: true}},
		{400, want{reject: true}},
		{413, want{reject: true}},
		{422, want{reject: true}},
		{409, want{reject: true}},
		{401, want{request: sinks.Fatal}},
		{403, want{request: sinks.Fatal}},
		{404, want{request: sinks.Fatal}},
		{405, want{request: sinks.Fatal}},
		{302, want{request: sinks.Fatal}},
		{408, want{request: sinks.Retry}},
		{429, want{request: sinks.Throttled}},
		{500, want{request: sinks.Retry}},
		{502, want{request: sinks.Retry}},
		{503, want{request: sinks.Unavailable}},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) {
				h := http.Header{}
				if tc.status == 302 {
					h.Set("Location", "/login")
				}
				return tc.status, h, `{"error":"field \"title\" is required"}`
			})
			s := newSink(t, testConfig(rc.URL))
			err := s.Send(context.Background(), events(`{"a":1}`))
			var be *sinks.BatchError
			var re *sinks.RequestError
			switch w := tc.want; {
			case w.ok:
				if err != nil {
					t.Fatalf("Send = %v", err)
				}
			case w.reject:
				if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Outcome != sinks.Reject || be.Items[0].Status != tc.status {
					t.Fatalf("Send = %#v, want one rejected item", err)
				}
				if !strings.Contains(be.Items[0].Reason, `{"error":"field \"title\" is required"}`) {
					t.Errorf("reason %q lacks the body", be.Items[0].Reason)
				}
			default:
				if !errors.As(err, &re) || re.Outcome != w.request || sinks.Of(err) != w.request || re.Status != tc.status {
					t.Fatalf("Send = %#v, want a request error %v", err, w.request)
				}
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retries, no redirects)", n)
			}
		})
	}
}

// TestSingleOrder: mode single sends in batch order, keeps going after a
// rejection and stops at the first retryable failure, reporting the rest
// as Retry without sending them.
func TestSingleOrder(t *testing.T) {
	rc := newReceiver(t, false, func(_ *http.Request, body []byte) (int, http.Header, string) {
		switch {
		case bytes.Contains(body, []byte(`"n":1`)):
			return 400, nil, "bad event"
		case bytes.Contains(body, []byte(`"n":3`)):
			return 429, http.Header{"Retry-After": {"7"}}, "slow down"
		}
		return 200, nil, ""
	})
	s := newSink(t, testConfig(rc.URL))
	batch := events(`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`)
	err := s.Send(context.Background(), batch)
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Send = %v", err)
	}
	got := map[int]sinks.Outcome{}
	for _, it := range be.Items {
		got[it.Index] = it.Outcome
	}
	if len(got) != 3 || got[1] != sinks.Reject || got[3] != sinks.Throttled || got[4] != sinks.Throttled {
		t.Errorf("items %+v", be.Items)
	}
	if be.RetryAfter != 7*time.Second {
		t.Errorf("retry after %v", be.RetryAfter)
	}
	if want := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}; strings.Join(rc.bodies(), "") != strings.Join(want, "") {
		t.Errorf("bodies %q, want %q", rc.bodies(), want)
	}
	// The retry starts with the failed event: now a request error.
	err = s.Send(context.Background(), []*event.Event{batch[3], batch[4]})
	if re := (*sinks.RequestError)(nil); !errors.As(err, &re) || re.Outcome != sinks.Throttled || re.RetryAfter != 7*time.Second {
		t.Errorf("retry: Send = %#v", err)
	}
}

// TestFatalAfterProgress: a 401 after some events went through does not
// make the bridge send them again.
func TestFatalAfterProgress(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls > 2 {
			return 401, nil, "token expired"
		}
		return 200, nil, ""
	})
	s := newSink(t, testConfig(rc.URL))
	err := s.Send(context.Background(), events(`{}`, `{}`, `{}`, `{}`))
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Items) != 2 || be.Items[0].Index != 2 || be.Items[0].Outcome != sinks.Retry {
		t.Fatalf("Send = %#v", err)
	}
	if err := s.Send(context.Background(), events(`{}`, `{}`)); sinks.Of(err) != sinks.Fatal {
		t.Fatalf("retry: Send = %v, want fatal", err)
	}
}

func TestBatchMode(t *testing.T) {
	rc := newReceiver(t, false, nil)
	cfg := testConfig(rc.URL)
	cfg.Mode = "batch"
	s := newSink(t, cfg)
	batch := events(`{"event":{"kind":"alert"},"n":0}`, `{"event":{"kind":"event"},"n":1}`, "{\n\"event\":{\"kind\":\"alert\"},\"n\":2}")
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	bodies := rc.bodies()
	if len(bodies) != 1 {
		t.Fatalf("%d requests", len(bodies))
	}
	var arr []struct{ N int }
	if err := json.Unmarshal([]byte(bodies[0]), &arr); err != nil {
		t.Fatalf("body %q: %v", bodies[0], err)
	}
	if len(arr) != 3 || arr[0].N != 0 || arr[1].N != 1 || arr[2].N != 2 {
		t.Errorf("array %+v", arr)
	}
	// Nothing to send: no request at all.
	if err := s.Send(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if len(rc.bodies()) != 1 {
		t.Error("a request for an empty batch")
	}

	t.Run("400 rejects the request", func(t *testing.T) {
		rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) { return 400, nil, "nope" })
		cfg := cfg
		cfg.URL = rc.URL
		s := newSink(t, cfg)
		err := s.Send(context.Background(), batch)
		if sinks.Of(err) != sinks.Reject {
			t.Fatalf("Send = %#v, want reject", err)
		}
		err = s.Send(context.Background(), []*event.Event{batch[0]})
		if sinks.Of(err) != sinks.Reject {
			t.Errorf("Send = %#v, want reject", err)
		}
	})
	t.Run("503 retries the request", func(t *testing.T) {
		rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) { return 503, nil, "" })
		cfg := cfg
		cfg.URL = rc.URL
		s := newSink(t, cfg)
		err := s.Send(context.Background(), batch)
		if sinks.Of(err) != sinks.Unavailable {
			t.Fatalf("Send = %#v", err)
		}
	})
	t.Run("413 for several events is too large", func(t *testing.T) {
		rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) { return 413, nil, "too big" })
		cfg := cfg
		cfg.URL = rc.URL
		s := newSink(t, cfg)
		if err := s.Send(context.Background(), []*event.Event{batch[0], batch[2]}); sinks.Of(err) != sinks.TooLarge {
			t.Fatalf("two events: Send = %#v, want too large", err)
		}
		if err := s.Send(context.Background(), []*event.Event{batch[0]}); sinks.Of(err) != sinks.Reject {
			t.Fatalf("one event: Send = %#v, want reject", err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 17, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"999999", time.Hour},
		{"Fri, 17 May 2024 09:00:30 GMT", 30 * time.Second},
		{"Friday, 17-May-24 09:01:00 GMT", time.Minute},
		{"Fri, 17 May 2024 08:59:00 GMT", 0},
		{"Sat, 18 May 2024 12:00:00 GMT", time.Hour},
		{"soon", 0},
		{"1.5", 0},
	} {
		if got := sinks.ParseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("sinks.ParseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
	// Through a server, the date form.
	rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) {
		return 503, http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, ""
	})
	s := newSink(t, testConfig(rc.URL))
	ra := sinks.RetryAfter(s.Send(context.Background(), events(`{}`)))
	if ra < 80*time.Second || ra > 90*time.Second {
		t.Errorf("RetryAfter = %v, want about 90s", ra)
	}
}

func TestHeadersAndMethod(t *testing.T) {
	rc := newReceiver(t, false, nil)
	cfg := testConfig(rc.URL + "/hooks/abc")
	cfg.Method = "PUT"
	cfg.Headers = map[string]config.Secret{
		"Authorization":      "Bearer s3cr3t",
		"X-Custom":           "v",
		"ph-auth-token":      "soar-token",
		"Content-Type":       "application/vnd.thehive+json",
		"Host":               "soar.example.com",
		"x-lowercase-header": "lc",
	}
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), events(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if r.method != "PUT" || r.path != "/hooks/abc" || r.host != "soar.example.com" {
		t.Errorf("request %s %s host %s", r.method, r.path, r.host)
	}
	for k, v := range map[string]string{
		"Authorization": "Bearer s3cr3t", "X-Custom": "v", "Ph-Auth-Token": "soar-token",
		"Content-Type": "application/vnd.thehive+json", "User-Agent": "siembridge", "X-Lowercase-Header": "lc",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}

	t.Run("default content type", func(t *testing.T) {
		rc := newReceiver(t, false, nil)
		s := newSink(t, testConfig(rc.URL))
		if err := s.Send(context.Background(), events(`{}`)); err != nil {
			t.Fatal(err)
		}
		if r := rc.requests()[0]; r.method != "POST" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %q", r.method, r.header.Get("Content-Type"))
		}
	})
}

// TestSecretsStayOut: header values and the URL's path and query never
// appear in errors or logs.
func TestSecretsStayOut(t *testing.T) {
	rc := newReceiver(t, false, nil)
	url := rc.URL + "/webhook/7f3a-secret-path?token=q-secret"
	rc.Close() // every request fails with a transport error
	var logs bytes.Buffer
	cfg := testConfig(url)
	cfg.Headers = map[string]config.Secret{"Authorization": "Bearer h-secret"}
	cfg.InsecureSkipVerify = true
	s, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "DISABLED") {
		t.Errorf("no loud warning for insecure_skip_verify: %q", logs.String())
	}
	sendErr := s.Send(context.Background(), events(`{}`))
	if sendErr == nil || sinks.Of(sendErr) != sinks.Retry {
		t.Fatalf("Send = %v, want a retryable transport error", sendErr)
	}
	probeErr := s.Probe(context.Background())
	if probeErr == nil {
		t.Fatal("Probe succeeded against a closed server")
	}
	for _, text := range []string{sendErr.Error(), probeErr.Error(), logs.String()} {
		for _, secret := range []string{"h-secret", "7f3a-secret-path", "q-secret"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q leaks %s", text, secret)
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, false, func(r *http.Request, _ []byte) (int, http.Header, string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200, nil, ""
	})
	defer close(release)
	cfg := testConfig(rc.URL)
	cfg.Timeout = 100 * time.Millisecond
	s := newSink(t, cfg)
	err := s.Send(context.Background(), events(`{}`))
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Unavailable {
		t.Fatalf("Send = %#v, want unavailable (throttled, counted by the breaker)", err)
	}
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
		fatal  bool
	}{
		{200, true, false}, {204, true, false}, {404, true, false}, {405, true, false}, {400, true, false},
		{401, false, true}, {403, false, true}, {500, false, false}, {503, false, false},
	} {
		rc := newReceiver(t, false, func(*http.Request, []byte) (int, http.Header, string) { return tc.status, nil, "" })
		cfg := testConfig(rc.URL)
		cfg.Headers = map[string]config.Secret{"Authorization": "Bearer x"}
		s := newSink(t, cfg)
		err := s.Probe(context.Background())
		if (err == nil) != tc.ok || (sinks.Of(err) == sinks.Fatal) != tc.fatal {
			t.Errorf("status %d: Probe = %v, want ok=%v fatal=%v", tc.status, err, tc.ok, tc.fatal)
		}
		r := rc.requests()[0]
		if r.method != http.MethodHead || r.header.Get("Authorization") != "Bearer x" {
			t.Errorf("probe request %s %v", r.method, r.header)
		}
	}
}

func TestTLS(t *testing.T) {
	rc := newReceiver(t, true, nil)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(rc.URL)
	cfg.CAFile = caFile
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), events(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Without the CA the certificate does not verify: fatal, the events
	// are kept.
	noCA := newSink(t, testConfig(rc.URL))
	if err := noCA.Send(context.Background(), events(`{}`)); sinks.Of(err) != sinks.Fatal {
		t.Errorf("Send without CA = %v, want fatal", err)
	}
}

func TestCloseAndNew(t *testing.T) {
	rc := newReceiver(t, false, nil)
	s, err := New(testConfig(rc.URL), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := s.Send(context.Background(), events(`{}`)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	// What config.Validate checks, New does not check again; what it
	// cannot know is New's to find.
	for _, tc := range []struct {
		mod  func(*config.Webhook)
		opts []Option
	}{
		{func(c *config.Webhook) { c.CAFile = "/nonexistent" }, nil},
		{func(c *config.Webhook) { c.InsecureSkipVerify = true }, []Option{WithTransport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("x") }))}},
	} {
		cfg := testConfig(rc.URL)
		tc.mod(&cfg)
		if s, err := New(cfg, append([]Option{WithLogger(quietLogger())}, tc.opts...)...); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

package splunkhec

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// baseConfig is a config with the defaults config.ApplyDefaults sets.
func baseConfig(url string) config.SplunkHEC {
	return config.SplunkHEC{
		URL:             url,
		Token:           config.Secret(hecfake.Token),
		Sourcetype:      "_json",
		AckTimeout:      5 * time.Second,
		AckPollInterval: 20 * time.Millisecond,
		Timeout:         5 * time.Second,
		MaxEventBytes:   config.MiB,
	}
}

func startHEC(t *testing.T, opts hecfake.Options) *hecfake.Server {
	t.Helper()
	s := hecfake.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSink(t *testing.T, cfg config.SplunkHEC, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, append([]Option{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2024, 11, 26, 23, 0, 0, 123_000_000, time.UTC)

func mkEvent(topic string, p int32, off int64, doc string) *event.Event {
	return &event.Event{Topic: topic, Partition: p, Offset: off, Doc: []byte(doc), Time: t0, Timestamp: t0}
}

func mkBatch(n int) []*event.Event {
	b := make([]*event.Event, n)
	for i := range b {
		b[i] = mkEvent("events", 3, int64(100+i), `{"seq":`+strconv.Itoa(i)+`,"host":{"name":"web-`+strconv.Itoa(i)+`"}}`)
	}
	return b
}

func TestEnvelope(t *testing.T) {
	tests := []struct {
		name                                       string
		host, hostField, source, sourcetype, index string
		ev                                         *event.Event
		want                                       string
	}{
		{
			name: "all members", host: "static", source: "kafka", sourcetype: "_json", index: "security",
			ev:   mkEvent("fw", 3, 12345, `{"a":1}`),
			want: `{"time":1732662000.123,"host":"static","source":"kafka","sourcetype":"_json","index":"security","event":{"a":1},"fields":{"kafka_topic":"fw","kafka_partition":"3","kafka_offset":"12345"}}` + "\n",
		},
		{
			name: "host from field", host: "fallback", hostField: "host.name", sourcetype: "_json",
			ev:   mkEvent("fw", 0, 1, `{"host":{"name":"web-\"1\""}}`),
			want: `{"time":1732662000.123,"host":"web-\"1\"","sourcetype":"_json","event":{"host":{"name":"web-\"1\""}},"fields":{"kafka_topic":"fw","kafka_partition":"0","kafka_offset":"1"}}` + "\n",
		},
		{
			name: "host field missing falls back", host: "fallback", hostField: "host.name", sourcetype: "_json",
			ev:   mkEvent("fw", 0, 1, `{"b":2}`),
			want: `{"time":1732662000.123,"host":"fallback","sourcetype":"_json","event":{"b":2},"fields":{"kafka_topic":"fw","kafka_partition":"0","kafka_offset":"1"}}` + "\n",
		},
		{
			name: "no time, no host",
			ev:   &event.Event{Topic: "t", Partition: 1, Offset: 2, Doc: []byte(`{}`)},
			want: `{"event":{},"fields":{"kafka_topic":"t","kafka_partition":"1","kafka_offset":"2"}}` + "\n",
		},
		{
			name: "millis padded, kafka timestamp fallback", sourcetype: "_json",
			ev:   &event.Event{Topic: "t", Doc: []byte(`{}`), Timestamp: time.Unix(1700000000, 7_000_000)},
			want: `{"time":1700000000.007,"sourcetype":"_json","event":{},"fields":{"kafka_topic":"t","kafka_partition":"0","kafka_offset":"0"}}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := newEnvelope(&config.SplunkHEC{Host: tt.host, HostField: tt.hostField, Source: tt.source, Sourcetype: tt.sourcetype, Index: tt.index})
			if err != nil {
				t.Fatal(err)
			}
			got := string(env.appendEvent(nil, tt.ev))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func TestSendDelivers(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run("gzip="+strconv.FormatBool(gz), func(t *testing.T) {
			hec := startHEC(t, hecfake.Options{})
			cfg := baseConfig(hec.URL())
			cfg.Gzip, cfg.HostField, cfg.Host, cfg.Index, cfg.Source = gz, "host.name", "h0", "main", "siembridge"
			s := newSink(t, cfg)
			batch := mkBatch(50)
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			evs := hec.Events()
			if len(evs) != 50 {
				t.Fatalf("hec has %d events, want 50", len(evs))
			}
			for i, ev := range evs {
				if string(ev.Event) != string(batch[i].Doc) {
					t.Errorf("event %d: %s, want %s (arrival order, raw doc)", i, ev.Event, batch[i].Doc)
				}
				if ev.Host != "web-"+strconv.Itoa(i) || ev.Index != "main" || ev.Sourcetype != "_json" || ev.Source != "siembridge" || ev.Time != "1732662000.123" {
					t.Errorf("event %d: %+v", i, ev)
				}
				if hec.Count("events", 3, int64(100+i)) != 1 {
					t.Errorf("event %d not findable by its kafka fields: %v", i, ev.Fields)
				}
			}
		})
	}
}

func TestSendEmptyBatch(t *testing.T) {
	hec := startHEC(t, hecfake.Options{})
	s := newSink(t, baseConfig(hec.URL()))
	if err := s.Send(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if hec.Requests() != 0 {
		t.Errorf("an empty batch sent %d requests", hec.Requests())
	}
}

func TestOversizedEventRejectedNotSent(t *testing.T) {
	hec := startHEC(t, hecfake.Options{})
	cfg := baseConfig(hec.URL())
	cfg.MaxEventBytes = 200
	s := newSink(t, cfg)
	batch := mkBatch(3)
	batch[1] = mkEvent("events", 3, 101, `{"big":"`+strings.Repeat("x", 300)+`"}`)
	err := s.Send(context.Background(), batch)
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 || be.Items[0].Outcome != sinks.Reject || be.Items[0].Status != 413 {
		t.Fatalf("got %v (%+v), want item 1 rejected with 413", err, be)
	}
	if hec.Len() != 2 || hec.Count("events", 3, 101) != 0 {
		t.Errorf("hec has %d events (offset 101: %d), want the 2 others only", hec.Len(), hec.Count("events", 3, 101))
	}

	// All oversized: nothing is sent.
	err = s.Send(context.Background(), batch[1:2])
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 0 {
		t.Fatalf("got %v", err)
	}
	if hec.Requests() != 1 {
		t.Errorf("%d requests, want 1", hec.Requests())
	}
}

func TestInvalidEventRejectedOthersRetried(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run("indexBeforeInvalid="+strconv.FormatBool(partial), func(t *testing.T) {
			hec := startHEC(t, hecfake.Options{
				InvalidAt:          func(ev hecfake.Event) bool { return bytes.Contains(ev.Event, []byte(`"bad"`)) },
				IndexBeforeInvalid: partial,
			})
			cfg := baseConfig(hec.URL())
			cfg.Gzip = true
			// An oversized event before the bad one: the request positions
			// differ from the batch positions.
			cfg.MaxEventBytes = 250
			s2 := newSink(t, cfg)
			batch := mkBatch(5)
			batch[1] = mkEvent("events", 3, 101, `{"big":"`+strings.Repeat("x", 300)+`"}`)
			batch[3] = mkEvent("events", 3, 103, `{"bad":true}`)

			err := s2.Send(context.Background(), batch)
			var be *sinks.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a BatchError", err)
			}
			want := map[int]sinks.Outcome{0: sinks.Retry, 1: sinks.Reject, 2: sinks.Retry, 3: sinks.Reject, 4: sinks.Retry}
			if len(be.Items) != len(want) {
				t.Fatalf("items %+v", be.Items)
			}
			for _, it := range be.Items {
				if want[it.Index] != it.Outcome {
					t.Errorf("item %d: %v (%s), want %v", it.Index, it.Outcome, it.Reason, want[it.Index])
				}
			}
			if be.Items[3].Status != 400 || !strings.Contains(be.Items[3].Reason, "Invalid data format") {
				t.Errorf("rejected item: %+v", be.Items[3])
			}
			// The bridge re-sends the retried ones without the bad one.
			retry := []*event.Event{batch[0], batch[2], batch[4]}
			if err := s2.Send(context.Background(), retry); err != nil {
				t.Fatal(err)
			}
			for _, off := range []int64{100, 102, 104} {
				n := hec.Count("events", 3, off)
				if n < 1 || (!partial && n != 1) {
					t.Errorf("offset %d indexed %d times", off, n)
				}
			}
			if hec.Count("events", 3, 103) != 0 {
				t.Error("the invalid event was indexed")
			}
		})
	}
}

func TestRequestFailures(t *testing.T) {
	tests := []struct {
		name  string
		opts  hecfake.Options
		token string
		index string
		ack   bool
		mode  hecfake.Mode
		want  sinks.Outcome
		msg   string
	}{
		{name: "invalid token", token: "wrong", want: sinks.Fatal, msg: "Invalid token"},
		{name: "disabled token", token: "old", opts: hecfake.Options{DisabledTokens: []string{"old"}}, want: sinks.Fatal, msg: "Token disabled"},
		{name: "incorrect index", index: "secret", opts: hecfake.Options{Indexes: []string{"main"}}, want: sinks.Fatal, msg: "Incorrect index"},
		{name: "token needs ack", opts: hecfake.Options{Ack: true}, want: sinks.Fatal, msg: "set ack: true"},
		{name: "busy", mode: hecfake.Busy, want: sinks.Unavailable, msg: "Server is busy"},
		{name: "down", mode: hecfake.Down, want: sinks.Retry, msg: "Internal server error"},
		{name: "refused", mode: hecfake.Refuse, want: sinks.Retry, msg: "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hec := startHEC(t, tt.opts)
			cfg := baseConfig(hec.URL())
			if tt.token != "" {
				cfg.Token = config.Secret(tt.token)
			}
			cfg.Index, cfg.Ack = tt.index, tt.ack
			s := newSink(t, cfg)
			if err := hec.SetMode(tt.mode); err != nil {
				t.Fatal(err)
			}
			err := s.Send(context.Background(), mkBatch(3))
			var re *sinks.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want a RequestError", err, err)
			}
			if re.Outcome != tt.want || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v %v, want %v", err, re.Outcome, tt.want)
			}
			if hec.Len() != 0 {
				t.Errorf("hec stored %d events", hec.Len())
			}
		})
	}
}

func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := baseConfig(srv.URL)
	cfg.Timeout = 100 * time.Millisecond
	s := newSink(t, cfg)
	start := time.Now()
	err := s.Send(context.Background(), mkBatch(1))
	if sinks.Of(err) != sinks.Unavailable {
		t.Fatalf("got %v, want unavailable (a throttled retry that counts toward the breaker)", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %s with a 100ms timeout", d)
	}
}

func TestAckDelayed(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckDelay: 150 * time.Millisecond})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(s.Channel()) {
		t.Errorf("channel %q is not a UUIDv4", s.Channel())
	}

	// Several Sends wait at once; their acks are polled together.
	const sends = 8
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, sends)
	for i := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := mkBatch(10)
			for _, e := range b {
				e.Offset += int64(i * 10)
			}
			errs[i] = s.Send(context.Background(), b)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("send %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	if elapsed < 150*time.Millisecond {
		t.Errorf("Send returned after %s, before the ack (150ms)", elapsed)
	}
	if hec.Len() != sends*10 {
		t.Errorf("hec has %d events", hec.Len())
	}
	// One poll per interval for all the Sends waiting, not one per Send.
	if n, most := hec.AckRequests(), int64(elapsed/cfg.AckPollInterval)+2; n == 0 || n > most {
		t.Errorf("%d ack polls in %s for %d concurrent sends, want at most %d", n, elapsed, sends, most)
	}
	for _, ev := range hec.Events() {
		if ev.Channel != s.Channel() {
			t.Errorf("event on channel %q, want %q", ev.Channel, s.Channel())
		}
	}
}

func TestAckTimeout(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack, cfg.AckTimeout = true, 200*time.Millisecond
	s := newSink(t, cfg)
	start := time.Now()
	err := s.Send(context.Background(), mkBatch(2))
	d := time.Since(start)
	var re *sinks.RequestError
	if !errors.As(err, &re) || re.Outcome != sinks.Unavailable || !strings.Contains(err.Error(), "ack_timeout") {
		t.Fatalf("got %v, want a retryable ack timeout", err)
	}
	if d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("Send returned after %s, want about the 200ms ack_timeout", d)
	}
	// The events were stored: the re-send duplicates them, findably.
	if err := s.Send(context.Background(), mkBatch(2)); err == nil {
		t.Fatal("acks never come, yet Send succeeded")
	}
	if hec.Count("events", 3, 100) != 2 {
		t.Errorf("offset 100 stored %d times, want 2 (a findable duplicate)", hec.Count("events", 3, 100))
	}
}

func TestAckContextCancelled(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Send(ctx, mkBatch(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

func TestAckDisabledOnToken(t *testing.T) {
	// Ack on in siembridge, off on the token: HEC ignores the channel and
	// returns no ackId; the 200 counts.
	hec := startHEC(t, hecfake.Options{})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), mkBatch(2)); err != nil {
		t.Fatal(err)
	}
	if hec.Len() != 2 {
		t.Errorf("hec has %d events", hec.Len())
	}
}

func TestCloseFailsWaiters(t *testing.T) {
	hec := startHEC(t, hecfake.Options{Ack: true, AckNever: true})
	cfg := baseConfig(hec.URL())
	cfg.Ack = true
	s, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Send(context.Background(), mkBatch(1)) }()
	waitUntil(t, func() bool { return hec.Len() == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, sinks.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Send still waiting after Close")
	}
	if err := s.Send(context.Background(), mkBatch(1)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name  string
		opts  hecfake.Options
		token string
		mode  hecfake.Mode
		ok    bool
		want  sinks.Outcome
	}{
		{name: "healthy", ok: true},
		{name: "healthy with ack", opts: hecfake.Options{Ack: true}, ok: true},
		{name: "invalid token", token: "nope", want: sinks.Fatal},
		{name: "busy", mode: hecfake.Busy, want: sinks.Unavailable},
		{name: "down", mode: hecfake.Down, want: sinks.Retry},
		{name: "refused", mode: hecfake.Refuse, want: sinks.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hec := startHEC(t, tt.opts)
			cfg := baseConfig(hec.URL())
			cfg.Ack = tt.opts.Ack
			if tt.token != "" {
				cfg.Token = config.Secret(tt.token)
			}
			s := newSink(t, cfg)
			if err := hec.SetMode(tt.mode); err != nil {
				t.Fatal(err)
			}
			err := s.Probe(context.Background())
			if (err == nil) != tt.ok {
				t.Fatalf("Probe: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && sinks.Of(err) != tt.want {
				t.Errorf("Probe: %v %v, want %v", err, sinks.Of(err), tt.want)
			}
			if hec.Len() != 0 {
				t.Errorf("Probe stored %d events", hec.Len())
			}
		})
	}
}

func TestProbeWithoutHealthEndpoint(t *testing.T) {
	hec := hecfake.New(hecfake.Options{})
	mux := http.NewServeMux()
	mux.Handle("/services/collector/event", hec.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := newSink(t, baseConfig(srv.URL))
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	caFile, cert := selfSigned(t, dir)
	hec := hecfake.New(hecfake.Options{})
	srv := httptest.NewUnstartedServer(hec.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below is expected
	srv.StartTLS()
	defer srv.Close()

	// Without the CA the certificate is not trusted: a retryable error.
	plain := newSink(t, baseConfig(srv.URL))
	if err := plain.Send(context.Background(), mkBatch(1)); err == nil || sinks.Of(err) != sinks.Retry {
		t.Fatalf("without ca_file: %v, want a certificate error", err)
	}

	cfg := baseConfig(srv.URL)
	cfg.CAFile = caFile
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), mkBatch(2)); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe with ca_file: %v", err)
	}
	if hec.Len() != 2 {
		t.Errorf("hec has %d events", hec.Len())
	}

	// insecure_skip_verify works too, and is logged loudly.
	var logBuf bytes.Buffer
	icfg := baseConfig(srv.URL)
	icfg.InsecureSkipVerify = true
	is := newSink(t, icfg, WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	if err := is.Send(context.Background(), mkBatch(1)); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if !strings.Contains(logBuf.String(), "level=WARN") || !strings.Contains(logBuf.String(), "DISABLED") {
		t.Errorf("no loud warning: %q", logBuf.String())
	}
}

func TestNewErrors(t *testing.T) {
	good := baseConfig("https://splunk:8088")
	tests := []struct {
		name string
		mod  func(*config.SplunkHEC)
		opts []Option
		want string
	}{
		// What config.Validate checks (url, token, timeouts, sizes), New
		// does not check again; what it cannot know is New's to find.
		{"missing ca", func(c *config.SplunkHEC) { c.CAFile = "/nonexistent/ca.pem" }, nil, "ca_file"},
		{"ca with custom transport", func(c *config.SplunkHEC) { c.InsecureSkipVerify = true },
			[]Option{WithTransport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("x") }))}, "*http.Transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			s, err := New(c, append([]Option{WithLogger(quietLogger())}, tt.opts...)...)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestWithTransport(t *testing.T) {
	var got *http.Request
	var body []byte
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		body, _ = io.ReadAll(r.Body)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"text":"Success","code":0}`)), Header: http.Header{}}, nil
	})
	s := newSink(t, baseConfig("https://splunk.example:8088/"), WithTransport(rt))
	if err := s.Send(context.Background(), mkBatch(2)); err != nil {
		t.Fatal(err)
	}
	if got.URL.String() != "https://splunk.example:8088/services/collector/event" || got.Method != http.MethodPost {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	if got.Header.Get("Authorization") != "Splunk "+hecfake.Token || got.Header.Get(channelHeader) != "" {
		t.Errorf("headers %v", got.Header)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	n := 0
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d envelopes in the body, want 2", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// selfSigned writes a self-signed CA certificate for 127.0.0.1 to dir and
// returns its path and the server certificate.
func selfSigned(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hecfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

package splunkhec

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/sinks"
)

// startHECs starts n fakes with opts; opts.StickyValue gets the index
// appended, so that each fake is a different indexer.
func startHECs(t *testing.T, n int, opts hecfake.Options) ([]*hecfake.Server, []string) {
	t.Helper()
	var hecs []*hecfake.Server
	var urls []string
	for i := range n {
		o := opts
		if o.StickyCookie != "" {
			o.StickyValue = "indexer-" + string(rune('a'+i))
		}
		h := startHEC(t, o)
		hecs = append(hecs, h)
		urls = append(urls, h.URL())
	}
	return hecs, urls
}

func multiConfig(urls []string) config.SplunkHEC {
	cfg := baseConfig("")
	cfg.URL, cfg.URLs, cfg.URLCooldown = "", urls, time.Minute
	return cfg
}

// batchAt is mkBatch(n) at offsets from 100+10*i: distinct per send.
func sendN(t *testing.T, s *Sink, sends int) {
	t.Helper()
	for i := range sends {
		b := mkBatch(3)
		for _, e := range b {
			e.Offset += int64(10 * i)
		}
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// TestRoundRobin: several URLs share the batches evenly.
func TestRoundRobin(t *testing.T) {
	hecs, urls := startHECs(t, 3, hecfake.Options{})
	s := newSink(t, multiConfig(urls))
	sendN(t, s, 9)
	for i, h := range hecs {
		if h.Requests() != 3 || h.Len() != 9 {
			t.Errorf("hec %d: %d requests, %d events; want 3 and 9", i, h.Requests(), h.Len())
		}
	}
}

// TestFailover: a URL that fails is skipped for url_cooldown, and its batch
// goes to another URL within the same Send: no error reaches the bridge
// (and its breaker) while one URL works.
func TestFailover(t *testing.T) {
	for _, mode := range []hecfake.Mode{hecfake.Down, hecfake.Busy, hecfake.Refuse} {
		t.Run(mode.String(), func(t *testing.T) {
			hecs, urls := startHECs(t, 3, hecfake.Options{})
			s := newSink(t, multiConfig(urls))
			if err := hecs[1].SetMode(mode); err != nil {
				t.Fatal(err)
			}
			sendN(t, s, 9)
			if hecs[1].Len() != 0 || hecs[0].Len()+hecs[2].Len() != 27 {
				t.Errorf("events %d/%d/%d, want all on the healthy URLs", hecs[0].Len(), hecs[1].Len(), hecs[2].Len())
			}
			if mode != hecfake.Refuse && hecs[1].Requests() != 1 {
				t.Errorf("the failed URL got %d requests within url_cooldown, want 1", hecs[1].Requests())
			}
		})
	}
}

// TestFailoverCooldownEnds: once url_cooldown passed, a URL that failed
// takes batches again.
func TestFailoverCooldownEnds(t *testing.T) {
	hecs, urls := startHECs(t, 2, hecfake.Options{})
	cfg := multiConfig(urls)
	cfg.URLCooldown = 100 * time.Millisecond
	s := newSink(t, cfg)
	if err := hecs[0].SetMode(hecfake.Down); err != nil {
		t.Fatal(err)
	}
	sendN(t, s, 4)
	if hecs[0].Len() != 0 || hecs[1].Len() != 12 {
		t.Fatalf("events %d/%d", hecs[0].Len(), hecs[1].Len())
	}
	if err := hecs[0].SetMode(hecfake.Healthy); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	sendN(t, s, 4)
	if hecs[0].Len() != 6 {
		t.Errorf("the recovered URL took %d events, want 6 (every other batch)", hecs[0].Len())
	}
}

// TestAllURLsFail: the sink fails only when every URL failed, with the
// last failure's outcome.
func TestAllURLsFail(t *testing.T) {
	hecs, urls := startHECs(t, 3, hecfake.Options{})
	s := newSink(t, multiConfig(urls))
	for _, h := range hecs {
		if err := h.SetMode(hecfake.Busy); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Send(context.Background(), mkBatch(2))
	if sinks.Of(err) != sinks.Unavailable || !strings.Contains(err.Error(), "all 3 URLs failed") {
		t.Fatalf("got %v, want unavailable after all 3 URLs", err)
	}
	// All in url_cooldown: each is still tried; the breaker decides.
	if err := s.Send(context.Background(), mkBatch(2)); sinks.Of(err) != sinks.Unavailable {
		t.Fatalf("second send: %v", err)
	}
	for i, h := range hecs {
		if h.Requests() != 2 {
			t.Errorf("hec %d: %d requests, want 2", i, h.Requests())
		}
	}
	if err := hecs[2].SetMode(hecfake.Healthy); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe with one URL back: %v", err)
	}
	sendN(t, s, 3)
	if hecs[2].Len() != 9 {
		t.Errorf("the URL back took %d events, want all 9", hecs[2].Len())
	}
}

// TestNoFailover: answers any URL would give, or that ask us to slow
// down, are not the URL's fault: the batch is not sent elsewhere.
func TestNoFailover(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   sinks.Outcome
	}{
		{"throttled", http.StatusTooManyRequests, `{"text":"Too many requests","code":9}`, sinks.Throttled},
		{"token", http.StatusForbidden, `{"text":"Invalid token","code":4}`, sinks.Fatal},
		{"too large", http.StatusRequestEntityTooLarge, ``, sinks.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			hits := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits++
				mu.Unlock()
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			other := startHEC(t, hecfake.Options{})
			s := newSink(t, multiConfig([]string{srv.URL, other.URL()}))
			if err := s.Send(context.Background(), mkBatch(2)); sinks.Of(err) != tt.want {
				t.Fatalf("got %v (%v), want %v", err, sinks.Of(err), tt.want)
			}
			if other.Requests() != 0 || hits != 1 {
				t.Errorf("%d requests to the other URL, %d to the first; want 0 and 1", other.Requests(), hits)
			}
		})
	}
}

// TestAcksStickToTheirURL: each URL is another indexer with its own
// channels; an ack ID is asked of the indexer that issued it, through its
// load balancer's cookie (the fakes share a host, and cookies ignore the
// port: one jar for both would mix them up).
func TestAcksStickToTheirURL(t *testing.T) {
	hecs, urls := startHECs(t, 2, hecfake.Options{Ack: true, AckDelay: 30 * time.Millisecond, StickyCookie: "AWSALB"})
	cfg := multiConfig(urls)
	cfg.Ack, cfg.AckTimeout = true, 2*time.Second
	s := newSink(t, cfg)
	if s.targets[0].channel == s.targets[1].channel || s.targets[1].channel == "" {
		t.Errorf("channels %q and %q: want one per URL", s.targets[0].channel, s.targets[1].channel)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := mkBatch(2)
			for _, e := range b {
				e.Offset += int64(10 * i)
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
	for i, h := range hecs {
		if h.Len() != 8 || h.AckRequests() == 0 {
			t.Errorf("hec %d: %d events, %d ack polls; want 8 and some", i, h.Len(), h.AckRequests())
		}
		if n := h.StrayAckRequests(); n != 0 {
			t.Errorf("hec %d: %d ack polls without its cookie", i, n)
		}
		for _, e := range h.Events() {
			if e.Channel != s.targets[i].channel {
				t.Errorf("hec %d: event on channel %q, want %q", i, e.Channel, s.targets[i].channel)
			}
		}
	}
}

// TestAckRefusedOnOneURL: a URL whose /ack is refused is left out; the
// batch it took is sent again elsewhere (retry, not a fatal error that
// would take the sink down); once its /ack answers again it is used again.
func TestAckRefusedOnOneURL(t *testing.T) {
	hecs, urls := startHECs(t, 2, hecfake.Options{Ack: true})
	cfg := multiConfig(urls)
	cfg.Ack, cfg.URLCooldown = true, 100*time.Millisecond
	s := newSink(t, cfg)
	hecs[0].RefuseAck(http.StatusBadRequest)

	var results []sinks.Outcome
	for i := range 4 {
		b := mkBatch(1)
		b[0].Offset += int64(10 * i)
		results = append(results, sinks.Of(s.Send(context.Background(), b)))
	}
	retries := 0
	for _, o := range results {
		switch o {
		case sinks.Retry:
			retries++
		case sinks.Delivered:
		default:
			t.Errorf("outcomes %v: want delivered, or retry for the batch whose ack was refused", results)
		}
	}
	if retries != 1 || hecs[0].Len() != 1 {
		t.Errorf("%d retries, %d events on the refused URL; want 1 and 1: it is left out after the refusal", retries, hecs[0].Len())
	}

	hecs[0].RefuseAck(0)
	waitUntil(t, func() bool { return !s.targets[0].refusing() })
	sendN(t, s, 4)
	if hecs[0].Len() < 2 {
		t.Errorf("the URL whose /ack answers again took %d events", hecs[0].Len())
	}
}

// TestProbeSeveralURLs: Probe passes when one URL does, and puts the URLs
// that pass back in use.
func TestProbeSeveralURLs(t *testing.T) {
	hecs, urls := startHECs(t, 2, hecfake.Options{})
	s := newSink(t, multiConfig(urls))
	for _, h := range hecs {
		if err := h.SetMode(hecfake.Down); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Probe(context.Background()); sinks.Of(err) != sinks.Retry || !strings.Contains(err.Error(), hecs[1].URL()) {
		t.Fatalf("Probe with both down: %v, want a retryable error naming the URL", err)
	}
	if err := hecs[0].SetMode(hecfake.Healthy); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); err != nil {
		t.Fatalf("Probe with one back: %v", err)
	}
	if s.targets[0].downUntil.Load() != 0 || s.targets[1].downUntil.Load() == 0 {
		t.Errorf("down until %d / %d: want the first up, the second down", s.targets[0].downUntil.Load(), s.targets[1].downUntil.Load())
	}

	bad := startHEC(t, hecfake.Options{Token: "other"})
	s2 := newSink(t, multiConfig([]string{hecs[1].URL(), bad.URL()}))
	if err := s2.Probe(context.Background()); sinks.Of(err) != sinks.Fatal {
		t.Errorf("Probe with a down URL and a refused token: %v, want the fatal one", err)
	}
}

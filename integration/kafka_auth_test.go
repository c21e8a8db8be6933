package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
)

// TestSecurityKafkaOAuthBearer: the bridge consumes over TLS with
// SASL/OAUTHBEARER, its token from a client-credentials endpoint; the
// broker accepts only tokens that endpoint issued. Tokens live 20 s, less
// than the early-refresh margin, so every new connection (bootstrap,
// coordinator, leader) fetches a fresh one: the refresh path carries the
// whole run.
func TestSecurityKafkaOAuthBearer(t *testing.T) {
	const secret = "oauth-client-SECRET-42"
	var (
		mu     sync.Mutex
		tokens = map[string]bool{}
		issued atomic.Int64
	)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, pw, _ := r.BasicAuth()
		if r.FormValue("grant_type") != "client_credentials" || id != "siembridge" || pw != secret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		tok := fmt.Sprintf("it-token-%d", issued.Add(1))
		mu.Lock()
		tokens[tok] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 20})
	}))
	defer idp.Close()

	pki := newTestPKI(t)
	cluster, err := kafkatest.Start(3, []string{"oauth-events"}, kfake.TLS(pki.serverTLS()))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cluster.OAuthBearer(func(tok string, ext map[string]string) bool {
		mu.Lock()
		defer mu.Unlock()
		return tokens[tok] && ext["identityPoolId"] == "pool-7"
	})
	// The producer skips authentication, which these hooks allow.
	tlsOnly := config.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCertFile, KeyFile: pki.clientKey}
	produceWith(t, config.Kafka{Brokers: cluster.Brokers(), TLS: tlsOnly}, "oauth-events", 200)

	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
  version: "3.6.0"
  tls: {ca_file: %q, cert_file: %q, key_file: %q}
  sasl:
    mechanism: OAUTHBEARER
    oauthbearer:
      token_endpoint_url: %q
      client_id: siembridge
      client_secret: %q
      extensions: {identityPoolId: pool-7}
routes:
  - name: oauth
    topics: [oauth-events]
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, cluster.Brokers()[0], pki.caFile, pki.clientCertFile, pki.clientKey, idp.URL, secret, es.URL()))
	_, stop := runBridge(t, cfg)
	waitFor(t, 10*time.Second, "200 events delivered", func() bool { return es.Count() >= 200 })
	stop()
	if got := len(seqs(t, es)); got != 200 {
		t.Fatalf("%d distinct events, want 200", got)
	}
	if n := issued.Load(); n < 2 {
		t.Fatalf("%d tokens issued; the bridge's connections should each have fetched one", n)
	}
}

// TestSecurityAbortedTransactionsNeverDelivered: a transactional producer
// commits events 1-100, aborts 101-150 and commits 151-200; with the
// default isolation level the SIEM receives exactly the 150 committed
// events.
func TestSecurityAbortedTransactionsNeverDelivered(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"txn-events"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.TransactionalID("it-tx"), kgo.DefaultProduceTopic("txn-events"))
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(9)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tx := range []struct {
		from, to int64
		end      kgo.TransactionEndTry
	}{{1, 100, kgo.TryCommit}, {101, 150, kgo.TryAbort}, {151, 200, kgo.TryCommit}} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for s := tx.from; s <= tx.to; s++ {
			recs = append(recs, &kgo.Record{Value: g.Next(s, time.Now())})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, tx.end); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, fmt.Sprintf(`
kafka: {brokers: [%q], version: "3.6.0"}
routes:
  - name: txn
    topics: [txn-events]
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, cluster.Brokers()[0], es.URL()))
	_, stop := runBridge(t, cfg)
	waitFor(t, 10*time.Second, "150 committed events delivered", func() bool { return es.Count() >= 150 })
	time.Sleep(300 * time.Millisecond) // room for anything that should not come
	stop()
	got := seqs(t, es)
	var aborted []string
	for s := range got {
		if s >= 101 && s <= 150 {
			aborted = append(aborted, fmt.Sprint(s))
		}
	}
	if len(got) != 150 || len(aborted) > 0 {
		t.Fatalf("%d distinct events; aborted ones delivered: %s", len(got), strings.Join(aborted, ","))
	}
}

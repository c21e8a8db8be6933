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

	"github.com/siembridge/siembridge/bridge"
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

// TestSecurityCooperativeStaticMembers runs two bridges in one group with
// the cooperative-sticky strategy and static membership while events keep
// coming: the second joins (an incremental rebalance), then the first
// stops (a static member does not leave: its partitions move once its
// session times out). Every event reaches the sink.
func TestSecurityCooperativeStaticMembers(t *testing.T) {
	cluster, err := kafkatest.Start(6, []string{"coop-events"}, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	es := startES(t, esfake.Options{})
	yaml := func(instance string) string {
		return fmt.Sprintf(`
kafka:
  brokers: [%q]
  version: "3.6.0"
  partition_assignment_strategy: cooperative-sticky
  group_instance_id: %s
  session_timeout: 2s
  heartbeat_interval: 200ms
  rebalance_timeout: 5s
routes:
  - name: coop
    topics: [coop-events]
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 3s
`, cluster.Brokers()[0], instance, es.URL())
	}
	produceSeq(t, cluster.Brokers(), "coop-events", 6, 1, 300, nil)
	a, stopA := runBridge(t, parseConfig(t, yaml("bridge-a")))
	defer stopA()
	waitFor(t, 10*time.Second, "the first 300 events", func() bool { return len(seqs(t, es)) >= 300 })

	b, stopB := runBridge(t, parseConfig(t, yaml("bridge-b")))
	defer stopB()
	delivered := func(x *bridge.Bridge) int64 { return x.Stats().Routes[0].Delivered }
	for s := int64(301); s <= 600; s += 50 { // keep producing while the group rebalances
		produceSeq(t, cluster.Brokers(), "coop-events", 6, s, s+49, nil)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "600 events, some through the second member", func() bool {
		return len(seqs(t, es)) >= 600 && delivered(b) > 0
	})
	if delivered(a) <= 300 {
		t.Fatalf("the first member delivered %d: it kept no partition through the incremental rebalance", delivered(a))
	}

	stopA()
	produceSeq(t, cluster.Brokers(), "coop-events", 6, 601, 900, nil)
	waitFor(t, 15*time.Second, "900 events after the first member stopped", func() bool { return len(seqs(t, es)) >= 900 })
	stopB()
	got := seqs(t, es)
	for s := int64(1); s <= 900; s++ {
		if got[s] == 0 {
			t.Fatalf("event %d lost", s)
		}
	}
}

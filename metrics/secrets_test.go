package metrics

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/sinks/registry"
)

// The secrets of secretsYAML; none may appear in any response.
var secrets = []string{
	"kafka-PW-7f3a9c", "es-APIKEY-51d2e8", "es-PASSWORD-b7c1d0", "hec-TOKEN-0e4f6a", "soar-BEARER-9a8b7c", "x-api-KEY-3c2d1e",
}

const secretsYAML = `
kafka:
  brokers: ["127.0.0.1:1"]
  sasl: {mechanism: PLAIN, username: bridge-user, password: kafka-PW-7f3a9c}
routes:
  - name: es-key
    topics: [events]
    sink: {type: elasticsearch, urls: ["http://127.0.0.1:1"], index: security, api_key: es-APIKEY-51d2e8}
    rate: {events_per_second: 1000}
  - name: es-basic
    topics: [events]
    sink: {type: elasticsearch, urls: ["http://127.0.0.1:1"], index: security, username: elastic, password: es-PASSWORD-b7c1d0}
  - name: splunk
    topics: [events]
    sink: {type: splunk_hec, url: "http://127.0.0.1:1", token: hec-TOKEN-0e4f6a}
  - name: soar
    topics: [events]
    sink:
      type: webhook
      url: http://127.0.0.1:1/hook
      headers: {Authorization: "Bearer soar-BEARER-9a8b7c", X-Api-Key: x-api-KEY-3c2d1e}
metrics:
  listen: 127.0.0.1:9108
`

// TestNoSecretsExposed builds a real bridge from a configuration full of
// credentials and checks every endpoint for them.
func TestNoSecretsExposed(t *testing.T) {
	cfg := parse(t, secretsYAML)
	for i, s := range secrets {
		if !strings.Contains(secretsYAML, s) {
			t.Fatalf("secrets[%d] is not in the configuration", i)
		}
	}
	b, err := bridge.New(cfg, bridge.WithLogger(slog.New(slog.DiscardHandler)), bridge.WithSinkFactory(registry.New))
	if err != nil {
		t.Fatal(err)
	}
	// Run closes the sinks; it keeps retrying an unreachable Kafka until
	// cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("bridge did not stop")
		}
	})

	srv, _ := startServer(t, b, cfg.Routes)
	for _, path := range []string{"/api/status", "/api/history", "/metrics", "/", "/readyz", "/healthz"} {
		_, _, body := get(t, srv, path)
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s exposes the secret %q", path, s)
			}
		}
	}
	// The configuration did reach the API (limits), so the check above
	// looked at real content.
	_, _, body := get(t, srv, "/api/status")
	if !strings.Contains(body, `"events_per_second":1000`) || !strings.Contains(body, `"name":"soar"`) {
		t.Errorf("/api/status lacks the configured routes: %s", body)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siembridge/siembridge/config"
)

// hostileEnvUnset is an environment variable no test machine sets; the
// test checks that before relying on it.
const hostileEnvUnset = "SIEMBRIDGE_HOSTILITY_TEST_NEVER_SET"

// hostileYAML is a valid configuration with one Elasticsearch route; each
// argument is spliced in at its place (kafka keys, route keys, sink keys)
// so that a case names only what it breaks.
func hostileYAML(kafka, route, sink string) string {
	return `
kafka:
  brokers: ["127.0.0.1:9092"]
` + kafka + `
routes:
  - name: elastic
    topics: [events]
    dead_letter: {topic: events-dlq}
` + route + `
    sink:
      type: elasticsearch
      urls: ["http://127.0.0.1:9200"]
` + sink + `
`
}

// TestConfigHostility runs invalid configurations through the CLI entry
// point, as "run" and as "check": every one exits 2 with exactly one line
// on stderr that names the field, and none panics or prints a stack.
func TestConfigHostility(t *testing.T) {
	if _, set := os.LookupEnv(hostileEnvUnset); set {
		t.Fatalf("%s is set in the environment; the missing-variable case needs it unset", hostileEnvUnset)
	}
	dir := t.TempDir()
	missingFile := filepath.Join(dir, "no-such-secret")

	cases := []struct {
		name string
		yaml string
		path string // the field path the one line names, exactly
	}{
		// The file itself.
		{"empty file", "", "routes"},
		{"only a comment", "# nothing here\n", "routes"},
		{"yaml syntax: unclosed flow sequence", "kafka:\n  brokers: [\"a:1\"\nroutes: []\n", "yaml"},
		{"yaml syntax: tab indentation", "kafka:\n\tbrokers: [\"a:1\"]\n", "yaml"},
		{"yaml syntax: bad indentation", "kafka:\n  brokers: [\"a:1\"]\n   client_id: x\n", "yaml"},
		{"two documents", hostileYAML("", "", "") + "---\nkafka: {}\n", "yaml"},
		{"binary garbage", "\x00\x01\x02\xff\xfe{{{:::", "yaml"},
		{"top level is a list", "- kafka\n- routes\n", "(root)"},
		{"top level is a scalar", "just a string\n", "(root)"},
		{"alias bomb", "kafka:\n  brokers: [&a [x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a],\n" +
			"    &c [*b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c],\n" +
			"    &e [*d, *d, *d, *d, *d, *d, *d, *d, *d], &f [*e, *e, *e, *e, *e, *e, *e, *e, *e],\n" +
			"    &g [*f, *f, *f, *f, *f, *f, *f, *f, *f], &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]]\n", "kafka.brokers[0]"},

		// Keys.
		{"unknown top-level key", "kafak:\n  brokers: [\"a:1\"]\n", "kafak"},
		{"unknown route key", hostileYAML("", "    topic: events", ""), "routes[0].topic"},
		{"unknown kafka key", hostileYAML("  bootstrap_servers: [\"a:1\"]", "", ""), "kafka.bootstrap_servers"},
		{"duplicate key", hostileYAML("", "    workers: 2\n    workers: 3", ""), "routes[0].workers"},
		{"merge key", "kafka:\n  <<: {client_id: x}\n  brokers: [\"a:1\"]\n", "kafka.<<"},
		{"key of splunk_hec on elasticsearch", hostileYAML("", "", "      token: abc"), "routes[0].sink.token"},
		{"key of elasticsearch on syslog", strings.Replace(hostileYAML("", "", ""), "type: elasticsearch", "type: syslog", 1), "routes[0].sink.urls"},
		{"key of file on webhook", strings.Replace(hostileYAML("", "", "      path: /tmp/x"), "type: elasticsearch", "type: webhook", 1), "routes[0].sink.urls"},

		// Types.
		{"routes is a mapping", "kafka:\n  brokers: [\"a:1\"]\nroutes:\n  name: x\n", "routes"},
		{"workers is a word", hostileYAML("", "    workers: four", ""), "routes[0].workers"},
		{"max_events is a list", hostileYAML("", "    batch: {max_events: [1, 2]}", ""), "routes[0].batch.max_events"},
		{"gzip is not a boolean", hostileYAML("", "", "      gzip: maybe"), "routes[0].sink.gzip"},
		{"integer overflow", hostileYAML("", "    workers: 99999999999999999999999", ""), "routes[0].workers"},
		{"sink is a string", strings.Replace(hostileYAML("", "", ""), "    sink:\n      type: elasticsearch\n      urls: [\"http://127.0.0.1:9200\"]\n", "    sink: elasticsearch\n", 1), "routes[0].sink"},

		// Environment.
		{"missing env var", hostileYAML("", "", "      api_key: ${"+hostileEnvUnset+"}"), "routes[0].sink.api_key"},
		{"unterminated env reference", hostileYAML("  client_id: ${OOPS", "", ""), "kafka.client_id"},
		{"invalid env var name", hostileYAML("  client_id: ${1BAD}", "", ""), "kafka.client_id"},
		{"secret file missing", hostileYAML("", "", "      username: elastic\n      password_file: "+missingFile), "routes[0].sink.password_file"},

		// Durations and sizes.
		{"duration without unit", hostileYAML("", "    commit_interval: 10", ""), "routes[0].commit_interval"},
		{"duration with unknown unit", hostileYAML("  session_timeout: 5 parsecs", "", ""), "kafka.session_timeout"},
		{"negative duration", hostileYAML("", "", "") + "shutdown_timeout: -5s\n", "shutdown_timeout"},
		{"size with unknown unit", hostileYAML("", "    batch: {max_bytes: 5XB}", ""), "routes[0].batch.max_bytes"},
		{"negative size", hostileYAML("", "    buffer: {max_bytes: -1MiB}", ""), "routes[0].buffer.max_bytes"},
		{"size too large", hostileYAML("  fetch_max_bytes: 99999999999EiB", "", ""), "kafka.fetch_max_bytes"},
		{"heartbeat not below session", hostileYAML("  session_timeout: 3s\n  heartbeat_interval: 3s", "", ""), "kafka.heartbeat_interval"},
		{"retry initial above max", hostileYAML("", "    retry: {initial_interval: 10s, max_interval: 1s}", ""), "routes[0].retry.initial_interval"},

		// Numbers.
		{"negative workers", hostileYAML("", "    workers: -1", ""), "routes[0].workers"},
		{"too many workers", hostileYAML("", "    workers: 100000", ""), "routes[0].workers"},
		{"negative rate", hostileYAML("", "    rate: {events_per_second: -100}", ""), "routes[0].rate.events_per_second"},
		{"NaN rate", hostileYAML("", "    rate: {events_per_second: .nan}", ""), "routes[0].rate.events_per_second"},
		{"negative batch", hostileYAML("", "    batch: {max_events: -5}", ""), "routes[0].batch.max_events"},
		{"batch larger than burst", hostileYAML("", "    rate: {events_per_second: 100, burst: 50}\n    batch: {max_events: 500}", ""), "routes[0].batch.max_events"},
		{"buffer smaller than batch", hostileYAML("", "    batch: {max_events: 500}\n    buffer: {max_events: 100}", ""), "routes[0].buffer.max_events"},
		{"syslog facility out of range", strings.Replace(hostileYAML("", "", ""), "      type: elasticsearch\n      urls: [\"http://127.0.0.1:9200\"]",
			"      type: syslog\n      address: \"127.0.0.1:514\"\n      facility: 99", 1), "routes[0].sink.facility"},

		// Sinks.
		{"unknown sink type", strings.Replace(hostileYAML("", "", ""), "type: elasticsearch", "type: kafka", 1), "routes[0].sink.type"},
		{"missing sink type", strings.Replace(hostileYAML("", "", ""), "      type: elasticsearch\n", "", 1), "routes[0].sink.type"},
		{"url not http", strings.Replace(hostileYAML("", "", ""), "http://127.0.0.1:9200", "ftp://127.0.0.1:9200", 1), "routes[0].sink.urls[0]"},
		{"api_key with username", hostileYAML("", "", "      api_key: k\n      username: u\n      password: p"), "routes[0].sink.api_key"},
		{"bad index template", hostileYAML("", "", "      index: \"logs-%{+yyyy\""), "routes[0].sink.index"},
		{"unknown action", hostileYAML("", "", "      action: upsert"), "routes[0].sink.action"},

		// Routes and topics.
		{"no routes", "kafka:\n  brokers: [\"a:1\"]\nroutes: []\n", "routes"},
		{"no brokers", strings.Replace(hostileYAML("", "", ""), "  brokers: [\"127.0.0.1:9092\"]\n", "", 1), "kafka.brokers"},
		{"broker without port", strings.Replace(hostileYAML("", "", ""), "127.0.0.1:9092", "localhost", 1), "kafka.brokers[0]"},
		{"unknown sasl mechanism", hostileYAML("  sasl: {mechanism: KERBEROS, username: u, password: p}", "", ""), "kafka.sasl.mechanism"},
		{"bad kafka version", hostileYAML("  version: banana", "", ""), "kafka.version"},
		{"duplicate route names", hostileYAML("", "", "") + strings.TrimPrefix(hostileYAML("", "", ""), "\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\n\nroutes:\n"), "routes[1].name"},
		{"route name with a space", strings.Replace(hostileYAML("", "", ""), "name: elastic", "name: my route", 1), "routes[0].name"},
		{"bad topic name", strings.Replace(hostileYAML("", "", ""), "topics: [events]", "topics: [\"events!\"]", 1), "routes[0].topics[0]"},
		{"topic name too long", strings.Replace(hostileYAML("", "", ""), "topics: [events]", "topics: ["+strings.Repeat("t", 250)+"]", 1), "routes[0].topics[0]"},
		{"topic named dot-dot", strings.Replace(hostileYAML("", "", ""), "topics: [events]", "topics: [\"..\"]", 1), "routes[0].topics[0]"},
		{"duplicate topic", strings.Replace(hostileYAML("", "", ""), "topics: [events]", "topics: [events, events]", 1), "routes[0].topics[1]"},
		{"dead_letter equal to source topic", strings.Replace(hostileYAML("", "", ""), "events-dlq", "events", 1), "routes[0].dead_letter.topic"},
		{"bad dead_letter topic", strings.Replace(hostileYAML("", "", ""), "events-dlq", "dead letters", 1), "routes[0].dead_letter.topic"},
		{"unknown start", hostileYAML("", "    start: latest", ""), "routes[0].start"},
		{"bad log level", hostileYAML("", "", "") + "log: {level: verbose}\n", "log.level"},
		{"bad metrics listen", hostileYAML("", "", "") + "metrics: {listen: nonsense}\n", "metrics.listen"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "siembridge.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			// A configuration that loads would make "run" consume until
			// a signal; refuse to go on rather than hang.
			if _, err := config.Load(path); err == nil {
				t.Fatalf("the configuration is valid; the case tests nothing:\n%s", tc.yaml)
			}
			for _, cmd := range []string{"run", "check"} {
				code, stdout, stderr := hostileRunMain(t, cmd, "--config", path)
				if code != exitUsage {
					t.Errorf("%s: exit code %d, want %d; stderr: %q", cmd, code, exitUsage, stderr)
				}
				if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
					t.Errorf("%s: stderr is not exactly one line: %q", cmd, stderr)
				}
				want := "siembridge " + cmd + ": " + tc.path + ": "
				if !strings.HasPrefix(stderr, want) {
					t.Errorf("%s: stderr %q, want it to start with %q", cmd, stderr, want)
				}
				for _, bad := range []string{"panic", "goroutine ", "runtime.", ".go:"} {
					if strings.Contains(stderr, bad) || strings.Contains(stdout, bad) {
						t.Errorf("%s: output holds %q (a stack trace?): stdout %q stderr %q", cmd, bad, stdout, stderr)
					}
				}
				if cmd == "run" && stdout != "" {
					t.Errorf("run: printed to stdout for a bad configuration: %q", stdout)
				}
			}
		})
	}
}

// hostileRunMain calls realMain and turns a panic into a test failure
// that names the case, instead of a crashed test binary.
func hostileRunMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("realMain(%q) panicked: %v", args, r)
		}
	}()
	code = realMain(args, &o, &e)
	return code, o.String(), e.String()
}

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// noAutoCreateCluster starts a broker that says auto.create.topics.enable=false (kfake
// keeps any broker config it is given and describes it) and does not
// create topics on a metadata request.
func noAutoCreateCluster(t *testing.T, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...),
		kfake.BrokerConfigs(map[string]string{"auto.create.topics.enable": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

const checkAPIKey = "Zm9vYmFyLWNoZWNrLWFwaS1rZXk="

func testKafkaCluster(t *testing.T, partitions int32, topics []string, opts ...kfake.Opt) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(partitions, topics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testESFake(t *testing.T, opts esfake.Options) *esfake.Server {
	t.Helper()
	s := esfake.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkConfig is one Elasticsearch route reading topics, with a
// dead-letter topic, and a second route into a file.
func checkConfig(t *testing.T, brokers []string, kafkaExtra string, topics []string, esURL, apiKey, dlq string) string {
	t.Helper()
	quoted := make([]string, len(topics))
	for i, tp := range topics {
		quoted[i] = fmt.Sprintf("%q", tp)
	}
	out := filepath.Join(t.TempDir(), "out.ndjson")
	return testWriteFile(t, "siembridge.yaml", fmt.Sprintf(`
kafka:
  brokers: [%q]
%s
routes:
  - name: elastic
    topics: [%s]
    sink:
      type: elasticsearch
      urls: [%q]
      api_key: %q
      timeout: 3s
    dead_letter: {topic: %q}
  - name: archive
    topics: [%s]
    sink:
      type: file
      path: %q
`, brokers[0], kafkaExtra, strings.Join(quoted, ", "), esURL, apiKey, dlq, quoted[0], out))
}

func testRunMain(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = realMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCheckPasses(t *testing.T) {
	k := testKafkaCluster(t, 3, []string{"events", "more", "events-dlq", "siembridge-archive-dlq"})
	es := testESFake(t, esfake.Options{APIKey: checkAPIKey})
	cfg := checkConfig(t, k.Brokers(), "", []string{"events", "more"}, es.URL(), checkAPIKey, "events-dlq")
	code, out, errOut := testRunMain("check", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"connected; cluster brokers: 0@" + k.Brokers()[0],
		"route elastic (routes[0]) group siembridge-elastic:",
		"topic events: 3 partitions",
		"topic more: 3 partitions",
		"dead-letter topic events-dlq: 3 partitions",
		"route elastic: elasticsearch OK",
		"dead-letter topic siembridge-archive-dlq: 3 partitions",
		"route archive: file OK",
		"check passed: 0 problems, 0 warnings",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, checkAPIKey) {
		t.Fatalf("the API key was printed:\n%s%s", out, errOut)
	}
}

func TestCheckFindsProblems(t *testing.T) {
	k := testKafkaCluster(t, 2, []string{"events"})
	es := testESFake(t, esfake.Options{APIKey: "the-right-key"})
	cfg := checkConfig(t, k.Brokers(), "", []string{"events", "missing-topic"}, es.URL(), checkAPIKey, "no-dlq-yet")
	code, out, errOut := testRunMain("check", "--config", cfg)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"topic events: 2 partitions",
		"FAIL routes[0].topics[1]: topic \"missing-topic\": does not exist",
		"WARN routes[0].dead_letter.topic: topic \"no-dlq-yet\" does not exist",
		"FAIL routes[0].sink.urls: probe failed: status 401",
		"WARN routes[1].dead_letter.topic: topic \"siembridge-archive-dlq\" does not exist",
		"check FAILED: 2 problems, 2 warnings",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "siembridge check: 2 problems") {
		t.Errorf("stderr: %q", errOut)
	}
	if strings.Contains(out+errOut, checkAPIKey) {
		t.Fatalf("the API key was printed:\n%s%s", out, errOut)
	}
	// check must not create what it asks about: a second run finds the
	// same topics missing.
	if _, again, _ := testRunMain("check", "--config", cfg); !strings.Contains(again, "FAIL routes[0].topics[1]") {
		t.Errorf("the first check created missing-topic:\n%s", again)
	}
	if testing.Verbose() {
		t.Logf("check output:\n%s", out)
	}
}

func TestCheckBadConfigExit2(t *testing.T) {
	path := testWriteFile(t, "bad.yaml", "kafka:\n  brokers: [\"localhost:9092\"]\nroutes:\n  - name: x\n    topics: [t]\n    sink: {type: elasticsearch, urls: []}\n")
	code, out, errOut := testRunMain("check", "--config", path)
	if code != exitUsage {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "routes[0].sink.urls") {
		t.Fatalf("want one line naming routes[0].sink.urls, got %q", errOut)
	}
	if code, _, _ := testRunMain("check", "--config", path, "extra"); code != exitUsage {
		t.Fatalf("extra argument: exit %d", code)
	}
}

func TestCheckUnreachableKafka(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	es := testESFake(t, esfake.Options{})
	cfg := checkConfig(t, []string{addr}, "", []string{"events"}, es.URL(), "k", "dlq")
	code, out, _ := testRunMain("check", "--config", cfg, "--timeout", "2s")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"FAIL kafka.brokers: cannot connect", "route elastic: elasticsearch OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckKafkaWrongPassword(t *testing.T) {
	const right, wrong = "kafka-right-Pa55", "kafka-WRONG-Pa55"
	k := testKafkaCluster(t, 1, []string{"events", "dlq"}, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "bridge", right))
	es := testESFake(t, esfake.Options{})
	for _, tc := range []struct {
		pw   string
		code int
	}{{right, exitOK}, {wrong, exitFailure}} {
		extra := fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: bridge, password: %q}", tc.pw)
		cfg := checkConfig(t, k.Brokers(), extra, []string{"events"}, es.URL(), "k", "dlq")
		code, out, errOut := testRunMain("check", "--config", cfg, "--timeout", "3s")
		if code != tc.code {
			t.Fatalf("password %s: exit %d, want %d\n%s%s", tc.pw, code, tc.code, out, errOut)
		}
		if tc.code == exitFailure && !strings.Contains(out, "FAIL kafka.sasl: cannot connect") {
			t.Errorf("wrong password not reported on kafka.sasl:\n%s", out)
		}
		if strings.Contains(out+errOut, tc.pw) {
			t.Fatalf("the password was printed:\n%s%s", out, errOut)
		}
	}
}

// TestDeployConfigIsValid keeps the docker-compose stack's configuration
// loadable: check fails it on Kafka here, never on the configuration.
func TestDeployConfigIsValid(t *testing.T) {
	t.Setenv("ELASTIC_PASSWORD", "x")
	t.Setenv("SPLUNK_HEC_TOKEN", "y")
	cfg, err := loadConfig("../../deploy/siembridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Listen != "0.0.0.0:9108" || len(cfg.Routes) != 2 {
		t.Fatalf("metrics.listen %q, %d routes", cfg.Metrics.Listen, len(cfg.Routes))
	}
}

// TestCheckDeadLetterDefault: a route without dead_letter writes to
// siembridge-<name>-dlq, and check looks at that topic (it used to print
// "dead-letter topic: none").
func TestCheckDeadLetterDefault(t *testing.T) {
	brokers := noAutoCreateCluster(t, "events", "siembridge-elastic-dlq", "siembridge-archive-dlq")
	es := testESFake(t, esfake.Options{APIKey: checkAPIKey})
	cfg := checkConfig(t, brokers, "", []string{"events"}, es.URL(), checkAPIKey, "")
	code, out, errOut := testRunMain("check", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"dead-letter topic siembridge-elastic-dlq: 3 partitions",
		"dead-letter topic siembridge-archive-dlq: 3 partitions",
		"check passed: 0 problems, 0 warnings",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "none") {
		t.Errorf("check still says a route has no dead-letter topic:\n%s", out)
	}
}

// TestCheckDeadLetterNotCreatable: the default dead-letter topic is missing
// and the brokers will not create it: check fails, naming the topic.
func TestCheckDeadLetterNotCreatable(t *testing.T) {
	brokers := noAutoCreateCluster(t, "events", "siembridge-archive-dlq")
	es := testESFake(t, esfake.Options{APIKey: checkAPIKey})
	cfg := checkConfig(t, brokers, "", []string{"events"}, es.URL(), checkAPIKey, "")
	code, out, errOut := testRunMain("check", "--config", cfg)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		`FAIL routes[0].dead_letter.topic: topic "siembridge-elastic-dlq" does not exist and the brokers will not create it on first use (auto.create.topics.enable=false): create it`,
		"dead-letter topic siembridge-archive-dlq: 3 partitions",
		"check FAILED: 1 problem, 0 warnings",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "siembridge check: 1 problem") {
		t.Errorf("stderr: %q", errOut)
	}
}

// TestCheckDeadLetterAutoCreated: a missing dead-letter topic that the
// brokers create on first use passes with a warning saying so, and check
// itself creates nothing.
func TestCheckDeadLetterAutoCreated(t *testing.T) {
	k := testKafkaCluster(t, 3, []string{"events", "siembridge-archive-dlq"},
		kfake.BrokerConfigs(map[string]string{"auto.create.topics.enable": "true"}))
	es := testESFake(t, esfake.Options{APIKey: checkAPIKey})
	cfg := checkConfig(t, k.Brokers(), "", []string{"events"}, es.URL(), checkAPIKey, "")
	code, out, errOut := testRunMain("check", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		`WARN routes[0].dead_letter.topic: topic "siembridge-elastic-dlq" does not exist; the brokers will create it on first use (auto.create.topics.enable=true)`,
		"check passed: 0 problems, 1 warning",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	admin, err := sarama.NewClusterAdmin(k.Brokers(), kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := topics["siembridge-elastic-dlq"]; ok {
		t.Error("check created the dead-letter topic")
	}
}

func TestJudgeMissingDeadLetter(t *testing.T) {
	denied := &sarama.TopicError{Err: sarama.ErrTopicAuthorizationFailed}
	policy := &sarama.TopicError{Err: sarama.ErrPolicyViolation}
	tests := []struct {
		auto      string
		createErr error
		fail      bool
		want      string
	}{
		{"false", nil, true, "will not create it on first use"},
		{"true", denied, true, "these credentials may not create it"},
		{"", denied, true, "these credentials may not create it"},
		{"true", nil, false, "the brokers will create it on first use"},
		{"true", policy, false, "validate-only CreateTopics answered"},
		{"", nil, false, "it could be created"},
		{"", policy, false, "whether it can be created is unknown"},
	}
	for _, tt := range tests {
		fail, msg := judgeMissingDeadLetter("dlq", tt.auto, tt.createErr)
		if fail != tt.fail || !strings.Contains(msg, tt.want) || !strings.Contains(msg, `"dlq"`) {
			t.Errorf("auto %q, create %v: fail %v %q; want fail %v and %q", tt.auto, tt.createErr, fail, msg, tt.fail, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/kafka"
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

// fileRouteConfig is one route into a file, reading topics (and
// topicsRegex when set), with dlq as its dead-letter topic; kafkaExtra is
// indented YAML under kafka.
func fileRouteConfig(t *testing.T, brokers []string, kafkaExtra string, topics []string, topicsRegex, dlq string) string {
	t.Helper()
	quoted := make([]string, len(topics))
	for i, tp := range topics {
		quoted[i] = fmt.Sprintf("%q", tp)
	}
	regex := ""
	if topicsRegex != "" {
		regex = fmt.Sprintf("    topics_regex: %q\n", topicsRegex)
	}
	return testWriteFile(t, "siembridge.yaml", fmt.Sprintf(`
kafka:
  brokers: [%q]
  version: "3.6.0"
%s
routes:
  - name: r
    topics: [%s]
%s    sink: {type: file, path: %q}
    dead_letter: {topic: %q}
`, brokers[0], kafkaExtra, strings.Join(quoted, ", "), regex, filepath.Join(t.TempDir(), "out.ndjson"), dlq))
}

// TestCheckOAuthBearer: check fetches the token first; a token endpoint
// that refuses the client is reported at kafka.sasl.oauthbearer, without
// the secret, and Kafka is not asked.
func TestCheckOAuthBearer(t *testing.T) {
	const secret = "check-oauth-S3CRET"
	var issued atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, pw, _ := r.BasicAuth()
		if id != "bridge" || pw != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"check-tok-%d","token_type":"Bearer","expires_in":3600}`, issued.Add(1))
	}))
	defer idp.Close()
	k := testKafkaCluster(t, 1, []string{"events", "dlq"})
	k.OAuthBearer(func(tok string, _ map[string]string) bool { return strings.HasPrefix(tok, "check-tok-") })

	for _, tc := range []struct {
		secret string
		code   int
		want   string
	}{
		{secret, exitOK, "OAUTHBEARER token from " + idp.URL + ": OK"},
		{"not-" + secret, exitFailure, "FAIL kafka.sasl.oauthbearer: no token from " + idp.URL + ": token request"},
	} {
		extra := fmt.Sprintf("  sasl:\n    mechanism: OAUTHBEARER\n    oauthbearer: {token_endpoint_url: %q, client_id: bridge, client_secret: %q}", idp.URL, tc.secret)
		cfg := fileRouteConfig(t, k.Brokers(), extra, []string{"events"}, "", "dlq")
		code, out, errOut := testRunMain("check", "--config", cfg, "--timeout", "3s")
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Fatalf("exit %d (want %d), stdout lacks %q:\n%s%s", code, tc.code, tc.want, out, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Fatalf("output shows the client secret:\n%s%s", out, errOut)
		}
		if tc.code == exitOK && !strings.Contains(out, "topic events: 1 partition, readable") {
			t.Fatalf("not connected with the token:\n%s", out)
		}
	}
}

// TestCheckAWSMSKIAM signs a token with credentials from the environment
// (offline) and connects with it to a broker that accepts MSK IAM tokens
// for the configured region.
func TestCheckAWSMSKIAM(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIACHECKEXAMPLE0001", "AWS_SECRET_ACCESS_KEY": "check-msk-secret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": dir + "/c", "AWS_SHARED_CREDENTIALS_FILE": dir + "/s", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	k := testKafkaCluster(t, 1, []string{"events", "dlq"})
	k.OAuthBearer(func(tok string, _ map[string]string) bool {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
		return err == nil && strings.HasPrefix(string(raw), "https://kafka.eu-central-1.amazonaws.com/?Action=kafka-cluster%3AConnect")
	})
	for _, tc := range []struct {
		region string
		code   int
		want   string
	}{
		{"eu-central-1", exitOK, "AWS_MSK_IAM token signed for eu-central-1: OK"},
		{"us-east-2", exitFailure, "FAIL kafka.sasl: cannot connect"},
	} {
		extra := fmt.Sprintf("  sasl: {mechanism: AWS_MSK_IAM, aws_msk_iam: {region: %s}}", tc.region)
		cfg := fileRouteConfig(t, k.Brokers(), extra, []string{"events"}, "", "dlq")
		code, out, errOut := testRunMain("check", "--config", cfg, "--timeout", "3s")
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Fatalf("%s: exit %d (want %d), stdout lacks %q:\n%s%s", tc.region, code, tc.code, tc.want, out, errOut)
		}
	}
}

// TestCheckPermissions: with ACLs on, a topic the credentials may not
// read, a group they may not use and a dead-letter topic they may not
// write each fail at their field; granting the permissions passes.
func TestCheckPermissions(t *testing.T) {
	const mech, adminPW, bridgePW = "SCRAM-SHA-256", "acl-admin-pw", "acl-bridge-pw"
	k := testKafkaCluster(t, 1, []string{"events", "secret", "dlq"}, kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser(mech, "admin", adminPW), kfake.User(mech, "bridge", bridgePW))
	grant := func(typ sarama.AclResourceType, name string, ops ...sarama.AclOperation) {
		t.Helper()
		sc, err := kafka.SaramaConfig(config.Kafka{Brokers: k.Brokers(), Version: "3.6.0", SASL: config.SASL{Mechanism: mech, Username: "admin", Password: adminPW}})
		if err != nil {
			t.Fatal(err)
		}
		admin, err := sarama.NewClusterAdmin(k.Brokers(), sc)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var acls []*sarama.Acl
		for _, op := range ops {
			acls = append(acls, &sarama.Acl{Principal: "User:bridge", Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow})
		}
		res := sarama.Resource{ResourceType: typ, ResourceName: name, ResourcePatternType: sarama.AclPatternLiteral}
		if err := admin.CreateACLs([]*sarama.ResourceAcls{{Resource: res, Acls: acls}}); err != nil {
			t.Fatal(err)
		}
	}
	grant(sarama.AclResourceTopic, "events", sarama.AclOperationDescribe, sarama.AclOperationRead)
	grant(sarama.AclResourceTopic, "secret", sarama.AclOperationDescribe)
	grant(sarama.AclResourceTopic, "dlq", sarama.AclOperationDescribe)

	extra := fmt.Sprintf("  sasl: {mechanism: %s, username: bridge, password: %q}", mech, bridgePW)
	cfg := fileRouteConfig(t, k.Brokers(), extra, []string{"events", "secret"}, "", "dlq")
	code, out, errOut := testRunMain("check", "--config", cfg, "--timeout", "3s")
	for _, want := range []string{
		"topic events: 1 partition, readable",
		`FAIL routes[0].topics[1]: topic "secret": not readable with these credentials`,
		`FAIL routes[0].group: group "siembridge-r": cannot read its committed offsets`,
		`FAIL routes[0].dead_letter.topic: topic "dlq": not writable with these credentials`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if code != exitFailure || t.Failed() {
		t.Fatalf("exit %d, want %d:\n%s%s", code, exitFailure, out, errOut)
	}

	grant(sarama.AclResourceTopic, "secret", sarama.AclOperationRead)
	grant(sarama.AclResourceGroup, "siembridge-r", sarama.AclOperationRead, sarama.AclOperationDescribe)
	grant(sarama.AclResourceTopic, "dlq", sarama.AclOperationWrite)
	code, out, errOut = testRunMain("check", "--config", cfg, "--timeout", "3s")
	if code != exitOK || !strings.Contains(out, "dead-letter topic dlq: 1 partition, writable") || !strings.Contains(out, "topic secret: 1 partition, readable") {
		t.Fatalf("with every permission: exit %d\n%s%s", code, out, errOut)
	}
	// The write probe wrote nothing.
	if ends, err := kafkatest.EndOffsets(k.Brokers(), "dlq"); err == nil && ends[0] != 0 {
		t.Fatalf("the write probe appended to the dead-letter topic: %v", ends)
	}
}

// TestCheckTopicsRegex lists what a route's topics_regex matches now, and
// warns when nothing does.
func TestCheckTopicsRegex(t *testing.T) {
	k := testKafkaCluster(t, 2, []string{"logs.fw", "logs.edr", "metrics", "dlq"})
	cfg := fileRouteConfig(t, k.Brokers(), "", nil, `logs\..*`, "dlq")
	code, out, errOut := testRunMain("check", "--config", cfg, "--timeout", "3s")
	if code != exitOK || !strings.Contains(out, `topics_regex logs\..*: matches logs.edr, logs.fw`) || !strings.Contains(out, "topic logs.edr: 2 partitions, readable") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	cfg = fileRouteConfig(t, k.Brokers(), "", []string{"metrics"}, `audit\..*`, "dlq")
	code, out, errOut = testRunMain("check", "--config", cfg, "--timeout", "3s")
	if code != exitOK || !strings.Contains(out, `WARN routes[0].topics_regex: "audit\\..*" matches no topic yet`) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestKafkaErrorFieldAuth(t *testing.T) {
	for _, tc := range []struct {
		mech string
		err  error
		want string
	}{
		{"OAUTHBEARER", errors.New("kafka.sasl.oauthbearer: token request: oauth2: invalid_client"), "kafka.sasl.oauthbearer"},
		{"AWS_MSK_IAM", errors.New("kafka.sasl.aws_msk_iam: signing the token: no credentials"), "kafka.sasl.aws_msk_iam"},
		{"GSSAPI", errors.New("[Root cause: KRBError] KDC_ERR_PREAUTH_FAILED"), "kafka.sasl.kerberos"},
		{"GSSAPI", errors.New("dial tcp: connection refused"), "kafka.brokers"},
	} {
		if got := kafkaErrorField(config.Kafka{SASL: config.SASL{Mechanism: tc.mech}}, tc.err); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.mech, tc.err, got, tc.want)
		}
	}
}

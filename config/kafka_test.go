package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kafkaWith returns a config whose kafka section holds body (YAML at the
// kafka level, unindented) besides the brokers, with one file route.
func kafkaWith(body string) string {
	return "kafka:\n  brokers: [\"k:9092\"]\n  version: \"3.6.0\"\n" + indent(body, "  ") +
		"routes:\n  - name: r\n    topics: [t]\n" + indent(fileSink, "    ")
}

// TestKafkaSASLMechanisms: every mechanism's valid configuration parses
// into the fields the kafka package reads, and each mistake is reported at
// its field.
func TestKafkaSASLMechanisms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keytab := filepath.Join(dir, "bridge.keytab")
	secretFile := filepath.Join(dir, "client_secret")
	krb5conf := filepath.Join(dir, "krb5.conf")
	for path, v := range map[string]string{keytab: "\x05\x02", secretFile: "from-file-secret\n", krb5conf: "[libdefaults]\n"} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	oauth := "sasl:\n  mechanism: oauthbearer\n  oauthbearer:\n    token_endpoint_url: https://idp.example.com/token\n    client_id: bridge\n"
	krbBase := "sasl:\n  mechanism: GSSAPI\n  kerberos:\n    realm: EXAMPLE.COM\n    username: siembridge\n"
	krb := krbBase + "    config_file: " + krb5conf + "\n"
	msk := "sasl:\n  mechanism: aws_msk_iam\n  aws_msk_iam:\n    region: eu-west-1\n"

	valid := []struct {
		name  string
		body  string
		check func(t *testing.T, s SASL)
	}{
		{"oauthbearer", oauth + "    client_secret: s3\n    scope: kafka openid\n    extensions: {logicalCluster: lkc-1, identityPoolId: pool-2}\n", func(t *testing.T, s SASL) {
			o := s.OAuthBearer
			if s.Mechanism != "OAUTHBEARER" || o.ClientSecret.Value() != "s3" || o.Scope != "kafka openid" || o.Extensions["logicalCluster"] != "lkc-1" {
				t.Errorf("%+v %+v", s, o)
			}
		}},
		{"oauthbearer secret file", oauth + "    client_secret_file: " + secretFile + "\n", func(t *testing.T, s SASL) {
			if got := s.OAuthBearer.ClientSecret.Value(); got != "from-file-secret" {
				t.Errorf("client secret %q", got)
			}
		}},
		{"kerberos keytab", krb + "    keytab: " + keytab + "\n", func(t *testing.T, s SASL) {
			k := s.Kerberos
			if k.ServiceName != DefaultKerberosServiceName || k.ConfigFile != krb5conf || k.Keytab != keytab {
				t.Errorf("defaults not filled in: %+v", k)
			}
		}},
		{"kerberos password", krb + "  password: pw\n", func(t *testing.T, s SASL) {
			if s.Password.Value() != "pw" || s.Kerberos.Keytab != "" {
				t.Errorf("%+v", s)
			}
		}},
		{"msk default chain", msk, func(t *testing.T, s SASL) {
			if m := s.AWSMSKIAM; m.Region != "eu-west-1" || m.RoleARN != "" || m.SessionName != DefaultMSKSessionName {
				t.Errorf("%+v", m)
			}
		}},
		{"msk role", msk + "    role_arn: arn:aws:iam::123456789012:role/bridge\n    session_name: b1\n", func(t *testing.T, s SASL) {
			if m := s.AWSMSKIAM; m.RoleARN != "arn:aws:iam::123456789012:role/bridge" || m.SessionName != "b1" {
				t.Errorf("%+v", m)
			}
		}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(kafkaWith(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.Kafka.SASL)
		})
	}

	invalid := []struct {
		name, body, path, msg string
	}{
		{"oauth without block", "sasl: {mechanism: OAUTHBEARER}\n", "kafka.sasl.oauthbearer", "required with mechanism OAUTHBEARER"},
		{"oauth block beside scram", "sasl: {mechanism: SCRAM-SHA-256, username: u, password: p, oauthbearer: {client_id: x}}\n", "kafka.sasl.oauthbearer", "set only with mechanism OAUTHBEARER"},
		{"oauth block without mechanism", "sasl: {kerberos: {realm: R}}\n", "kafka.sasl.kerberos", "set only with mechanism GSSAPI"},
		{"oauth no endpoint", "sasl: {mechanism: OAUTHBEARER, oauthbearer: {client_id: c, client_secret: s}}\n", "kafka.sasl.oauthbearer.token_endpoint_url", "required"},
		{"oauth endpoint not http", "sasl: {mechanism: OAUTHBEARER, oauthbearer: {token_endpoint_url: ftp://x/t, client_id: c, client_secret: s}}\n", "kafka.sasl.oauthbearer.token_endpoint_url", "http"},
		{"oauth no client id", "sasl: {mechanism: OAUTHBEARER, oauthbearer: {token_endpoint_url: \"https://x/t\", client_secret: s}}\n", "kafka.sasl.oauthbearer.client_id", "required"},
		{"oauth no secret", oauth, "kafka.sasl.oauthbearer.client_secret", "client_secret_file"},
		{"oauth both secrets", oauth + "    client_secret: a\n    client_secret_file: " + secretFile + "\n", "kafka.sasl.oauthbearer.client_secret_file", "set only one"},
		{"oauth with password", oauth + "    client_secret: a\n  username: u\n", "kafka.sasl.username", "not used with mechanism OAUTHBEARER"},
		{"oauth ca_file missing", oauth + "    client_secret: a\n    ca_file: /nonexistent/idp-ca.pem\n", "kafka.sasl.oauthbearer.ca_file", "no such file"},
		{"oauth extension auth", oauth + "    client_secret: a\n    extensions: {auth: x}\n", "kafka.sasl.oauthbearer.extensions.auth", "not \"auth\""},
		{"oauth extension name", oauth + "    client_secret: a\n    extensions: {pool-id: x}\n", "kafka.sasl.oauthbearer.extensions.pool-id", "letters only"},
		{"oauth extension value", oauth + "    client_secret: a\n    extensions: {pool: \"a\\x01b\"}\n", "kafka.sasl.oauthbearer.extensions.pool", "printable"},
		{"kerberos no credentials", krb, "kafka.sasl.kerberos.keytab", "exactly one"},
		{"kerberos two credentials", krb + "    keytab: " + keytab + "\n  password: pw\n", "kafka.sasl.kerberos.keytab", "exactly one"},
		{"kerberos keytab missing", krb + "    keytab: /nonexistent/bridge.keytab\n", "kafka.sasl.kerberos.keytab", "no such file"},
		{"kerberos ccache missing", krb + "    credentials_cache: /nonexistent/krb5cc\n", "kafka.sasl.kerberos.credentials_cache", "no such file"},
		{"kerberos config missing", krbBase + "    keytab: " + keytab + "\n    config_file: /nonexistent/krb5.conf\n", "kafka.sasl.kerberos.config_file", "no such file"},
		{"kerberos no realm", "sasl: {mechanism: GSSAPI, password: p, kerberos: {username: u}}\n", "kafka.sasl.kerberos.realm", "required"},
		{"kerberos no username", "sasl: {mechanism: GSSAPI, password: p, kerberos: {realm: R}}\n", "kafka.sasl.kerberos.username", "principal"},
		{"kerberos sasl username", krb + "  username: u\n  password: p\n", "kafka.sasl.username", "kerberos.username"},
		{"msk no region", "sasl: {mechanism: AWS_MSK_IAM, aws_msk_iam: {}}\n", "kafka.sasl.aws_msk_iam.region", "not an AWS region"},
		{"msk bad region", "sasl: {mechanism: AWS_MSK_IAM, aws_msk_iam: {region: Frankfurt}}\n", "kafka.sasl.aws_msk_iam.region", "Frankfurt"},
		{"msk bad role", msk + "    role_arn: bridge\n", "kafka.sasl.aws_msk_iam.role_arn", "not a role ARN"},
		{"msk with password", msk + "  password: p\n", "kafka.sasl.username", "not used with mechanism AWS_MSK_IAM"},
		{"unknown mechanism", "sasl: {mechanism: KERBEROS}\n", "kafka.sasl.mechanism", "OAUTHBEARER, GSSAPI, AWS_MSK_IAM"},
	}
	if _, err := os.Stat(DefaultKerberosConfigFile); err != nil {
		// The default krb5.conf is checked like a configured one.
		invalid = append(invalid, struct{ name, body, path, msg string }{"kerberos default config", krbBase + "    keytab: " + keytab + "\n", "kafka.sasl.kerberos.config_file", DefaultKerberosConfigFile})
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertFieldError(t, kafkaWith(tt.body), tt.path, tt.msg)
		})
	}
}

func assertFieldError(t *testing.T, yaml, path, msg string) {
	t.Helper()
	_, err := Parse([]byte(yaml))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a *FieldError at %s", err, path)
	}
	if fe.Path != path || !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q, want one at %s containing %q", err, path, msg)
	}
}

// TestKafkaConsumerSettings: the defaults of the consumer settings, and
// every invalid value named at its field.
func TestKafkaConsumerSettings(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(kafkaWith("")))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka
	if k.IsolationLevel != DefaultIsolationLevel || k.PartitionAssignmentStrategy != DefaultPartitionAssignmentStrategy ||
		k.GroupInstanceID != "" || k.TopicMetadataRefreshInterval != DefaultTopicMetadataRefreshInterval ||
		k.Headers.Include || k.Headers.Field != DefaultHeadersField {
		t.Fatalf("defaults: %+v", k)
	}
	if DefaultIsolationLevel != "read_committed" {
		t.Fatalf("aborted transactions must not reach a SIEM by default; default is %q", DefaultIsolationLevel)
	}
	c, err = Parse([]byte(kafkaWith("isolation_level: READ_UNCOMMITTED\npartition_assignment_strategy: Cooperative-Sticky\ngroup_instance_id: bridge-1.a_b\ntopic_metadata_refresh_interval: 30s\nheaders: {include: true, field: meta.kafka}\n")))
	if err != nil {
		t.Fatal(err)
	}
	k = c.Kafka
	if k.IsolationLevel != "read_uncommitted" || k.PartitionAssignmentStrategy != "cooperative-sticky" || k.GroupInstanceID != "bridge-1.a_b" ||
		k.TopicMetadataRefreshInterval != 30*time.Second || !k.Headers.Include || k.Headers.Field != "meta.kafka" {
		t.Fatalf("settings: %+v", k)
	}

	old := func(v, body string) string {
		return strings.Replace(kafkaWith(body), `version: "3.6.0"`, `version: "`+v+`"`, 1)
	}
	tests := []struct{ name, yaml, path, msg string }{
		{"isolation level", kafkaWith("isolation_level: serializable\n"), "kafka.isolation_level", "serializable"},
		{"read_committed on 0.10", old("0.10.2.0", ""), "kafka.isolation_level", "0.11.0"},
		{"strategy", kafkaWith("partition_assignment_strategy: fair\n"), "kafka.partition_assignment_strategy", "fair"},
		{"cooperative on 2.3", old("2.3.0", "partition_assignment_strategy: cooperative-sticky\n"), "kafka.partition_assignment_strategy", "2.4.0"},
		{"instance id on 2.2", old("2.2.0", "group_instance_id: a\n"), "kafka.group_instance_id", "2.3.0"},
		{"instance id characters", kafkaWith("group_instance_id: \"host name\"\n"), "kafka.group_instance_id", "letters, digits"},
		{"instance id length", kafkaWith("group_instance_id: " + strings.Repeat("a", 250) + "\n"), "kafka.group_instance_id", "at most 249"},
		{"refresh interval", kafkaWith("topic_metadata_refresh_interval: -1s\n"), "kafka.topic_metadata_refresh_interval", ""},
		{"headers field quote", kafkaWith("headers: {include: true, field: 'a\"b'}\n"), "kafka.headers.field", "not a usable field name"},
		{"headers field timestamp", kafkaWith("headers: {include: true, field: \"@timestamp\"}\n"), "kafka.headers.field", "not a usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertFieldError(t, tt.yaml, tt.path, tt.msg)
		})
	}
}

// TestTopicsRegexConfig: a route may name topics, a regular expression or
// both; the expression matches whole names.
func TestTopicsRegexConfig(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(kafkaOK + "routes:\n  - name: r\n    topics_regex: 'logs\\..*'\n" + indent(fileSink, "    ")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Routes[0].TopicsRegex != `logs\..*` || len(c.Routes[0].Topics) != 0 {
		t.Fatalf("%+v", c.Routes[0])
	}
	re, err := CompileTopicsRegex(c.Routes[0].TopicsRegex)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{"logs.fw": true, "logs.": true, "xlogs.fw": false, "logs": false, "audit.logs.fw": false} {
		if re.MatchString(topic) != want {
			t.Errorf("%q: match %v, want %v", topic, !want, want)
		}
	}
	assertFieldError(t, kafkaOK+"routes:\n  - name: r\n    topics_regex: 'logs.(*'\n"+indent(fileSink, "    "), "routes[0].topics_regex", "invalid regular expression")
	assertFieldError(t, kafkaOK+"routes:\n  - name: r\n"+indent(fileSink, "    "), "routes[0].topics", "or topics_regex")
}

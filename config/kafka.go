package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Kafka consumer and authentication settings beyond brokers, TLS and
// user/password SASL: OAUTHBEARER, GSSAPI (Kerberos) and AWS MSK IAM, the
// isolation level, the assignment strategy, static membership, topic
// regular expressions and header passthrough. Keys follow librdkafka's
// names where one exists.

// Defaults of the kafka section's consumer and authentication settings.
const (
	DefaultIsolationLevel               = "read_committed"
	DefaultPartitionAssignmentStrategy  = "roundrobin"
	DefaultTopicMetadataRefreshInterval = 5 * time.Minute
	DefaultHeadersField                 = "kafka.headers"
	// DefaultKerberosServiceName is librdkafka's sasl.kerberos.service.name.
	DefaultKerberosServiceName = "kafka"
	DefaultKerberosConfigFile  = "/etc/krb5.conf"
	// DefaultMSKSessionName names the STS session when a role is assumed.
	DefaultMSKSessionName = "siembridge"
)

// KafkaHeaders passes record headers into the events.
type KafkaHeaders struct {
	// Include adds the record's headers to each event's document under
	// Field, as an object of header name to value (a string; a name that
	// occurs more than once gets a list of its values). Default false.
	Include bool `yaml:"include"`
	// Field is the top-level key of the headers object, written as one
	// key (Elasticsearch reads "kafka.headers" as the object path
	// kafka → headers). Default "kafka.headers".
	Field string `yaml:"field"`
}

// OAuthBearer is an OAuth 2.0 client-credentials grant (RFC 6749 4.4) whose
// access token authenticates with SASL/OAUTHBEARER (Confluent Cloud, Azure
// Event Hubs, Strimzi OAuth). The token is fetched before the first
// connection and again before it expires.
type OAuthBearer struct {
	// TokenEndpointURL, like librdkafka's
	// sasl.oauthbearer.token.endpoint.url. Required.
	TokenEndpointURL string `yaml:"token_endpoint_url"`
	// ClientID, like sasl.oauthbearer.client.id. Required.
	ClientID string `yaml:"client_id"`
	// ClientSecret, like sasl.oauthbearer.client.secret. Required (or
	// ClientSecretFile).
	ClientSecret Secret `yaml:"client_secret"`
	// ClientSecretFile is read instead of ClientSecret when set.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scope, like sasl.oauthbearer.scope: space-separated scopes asked
	// for. Empty (the default): none.
	Scope string `yaml:"scope"`
	// CAFile holds the CA certificates (PEM) the token endpoint's
	// certificate must chain to, like librdkafka's https.ca.location.
	// Empty (the default): the system roots.
	CAFile string `yaml:"ca_file"`
	// Extensions are SASL extensions sent with the token (KIP-342), like
	// sasl.oauthbearer.extensions; Confluent Cloud wants
	// logicalCluster and identityPoolId. Empty (the default): none.
	Extensions map[string]string `yaml:"extensions"`
}

// Kerberos is SASL/GSSAPI through sarama's Kerberos client. Exactly one of
// Keytab, CredentialsCache and kafka.sasl.password gives the credentials.
type Kerberos struct {
	// ServiceName is the brokers' Kerberos principal name, like
	// sasl.kerberos.service.name. Default "kafka".
	ServiceName string `yaml:"service_name"`
	// Realm of Username. Required.
	Realm string `yaml:"realm"`
	// Username is the client principal, like sasl.kerberos.principal
	// without the realm. Required.
	Username string `yaml:"username"`
	// Keytab is the keytab file holding Username's key, like
	// sasl.kerberos.keytab.
	Keytab string `yaml:"keytab"`
	// CredentialsCache is a credentials cache file (as kinit writes it).
	CredentialsCache string `yaml:"credentials_cache"`
	// ConfigFile is the krb5.conf naming the realm's KDCs. Default
	// "/etc/krb5.conf".
	ConfigFile string `yaml:"config_file"`
	// DisablePAFXFAST turns off PA-FX-FAST, which Active Directory
	// domain controllers do not offer. Default false.
	DisablePAFXFAST bool `yaml:"disable_pa_fx_fast"`
}

// AWSMSKIAM is Amazon MSK's IAM access control: a SigV4-signed token sent
// with SASL/OAUTHBEARER, made from the AWS default credential chain
// (environment, shared files, web identity, instance role) or from a role
// assumed with it.
type AWSMSKIAM struct {
	// Region of the cluster, e.g. "eu-west-1". Required.
	Region string `yaml:"region"`
	// RoleARN, when set, is assumed through STS and its credentials sign
	// the token. Empty (the default): the default credential chain signs.
	RoleARN string `yaml:"role_arn"`
	// SessionName of the assumed role. Default "siembridge".
	SessionName string `yaml:"session_name"`
}

// applyDefaults fills in the kafka section's consumer and authentication
// defaults.
func (k *Kafka) applyConsumerDefaults() {
	k.IsolationLevel = strings.ToLower(k.IsolationLevel)
	k.PartitionAssignmentStrategy = strings.ToLower(k.PartitionAssignmentStrategy)
	setDefault(&k.IsolationLevel, DefaultIsolationLevel)
	setDefault(&k.PartitionAssignmentStrategy, DefaultPartitionAssignmentStrategy)
	setDefault(&k.TopicMetadataRefreshInterval, DefaultTopicMetadataRefreshInterval)
	setDefault(&k.Headers.Field, DefaultHeadersField)
	if kr := k.SASL.Kerberos; kr != nil {
		setDefault(&kr.ServiceName, DefaultKerberosServiceName)
		setDefault(&kr.ConfigFile, DefaultKerberosConfigFile)
	}
	if m := k.SASL.AWSMSKIAM; m != nil {
		setDefault(&m.SessionName, DefaultMSKSessionName)
	}
}

// validateConsumer checks the kafka section's consumer settings.
func (k *Kafka) validateConsumer(path string, v sarama.KafkaVersion) error {
	if err := oneOf(path+".isolation_level", k.IsolationLevel, "read_committed", "read_uncommitted"); err != nil {
		return err
	}
	if k.IsolationLevel == "read_committed" && !v.IsAtLeast(sarama.V0_11_0_0) {
		return fieldErr(path+".isolation_level", "read_committed needs version 0.11.0 or later (set read_uncommitted for older brokers)")
	}
	if err := oneOf(path+".partition_assignment_strategy", k.PartitionAssignmentStrategy, "roundrobin", "range", "sticky", "cooperative-sticky"); err != nil {
		return err
	}
	if k.PartitionAssignmentStrategy == "cooperative-sticky" && !v.IsAtLeast(sarama.V2_4_0_0) {
		return fieldErr(path+".partition_assignment_strategy", "cooperative-sticky needs version 2.4.0 or later")
	}
	if id := k.GroupInstanceID; id != "" {
		if !v.IsAtLeast(sarama.V2_3_0_0) {
			return fieldErr(path+".group_instance_id", "static membership needs version 2.3.0 or later")
		}
		if len(id) > maxTopicNameBytes || strings.ContainsFunc(id, func(r rune) bool { return !isAlnum(r) && r != '.' && r != '_' && r != '-' }) {
			return fieldErr(path+".group_instance_id", fmt.Sprintf("%q: at most %d letters, digits, '.', '_' and '-'", id, maxTopicNameBytes))
		}
	}
	if err := positive(path+".topic_metadata_refresh_interval", k.TopicMetadataRefreshInterval); err != nil {
		return err
	}
	if k.Headers.Include {
		f := k.Headers.Field
		if f == "" || f == "@timestamp" || strings.ContainsAny(f, "\"\\") || strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 }) {
			return fieldErr(path+".headers.field", fmt.Sprintf("%q is not a usable field name", f))
		}
	}
	return nil
}

// saslMechanisms are the values of kafka.sasl.mechanism.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI", "AWS_MSK_IAM"}

// validateBlocks checks that each mechanism block sits beside its mechanism
// and that the mechanism's own settings are complete.
func (s *SASL) validateBlocks(path string) error {
	blocks := []struct {
		key, mech string
		set       bool
	}{
		{"oauthbearer", "OAUTHBEARER", s.OAuthBearer != nil},
		{"kerberos", "GSSAPI", s.Kerberos != nil},
		{"aws_msk_iam", "AWS_MSK_IAM", s.AWSMSKIAM != nil},
	}
	for _, b := range blocks {
		if b.set && s.Mechanism != b.mech {
			return fieldErr(path+"."+b.key, fmt.Sprintf("set only with mechanism %s (mechanism is %q)", b.mech, s.Mechanism))
		}
		if !b.set && s.Mechanism == b.mech {
			return fieldErr(path+"."+b.key, "required with mechanism "+b.mech)
		}
	}
	switch s.Mechanism {
	case "OAUTHBEARER":
		return s.OAuthBearer.validate(path+".oauthbearer", s)
	case "GSSAPI":
		return s.Kerberos.validate(path+".kerberos", s)
	case "AWS_MSK_IAM":
		return s.AWSMSKIAM.validate(path+".aws_msk_iam", s)
	}
	return nil
}

// noUserPassword: the token mechanisms take no kafka.sasl.username or
// password.
func (s *SASL) noUserPassword(path string) error {
	if s.Username != "" || s.Password != "" {
		return fieldErr(path+".username", "not used with mechanism "+s.Mechanism+"; remove username and password")
	}
	return nil
}

func (o *OAuthBearer) validate(path string, s *SASL) error {
	if err := s.noUserPassword(strings.TrimSuffix(path, ".oauthbearer")); err != nil {
		return err
	}
	if o.TokenEndpointURL == "" {
		return fieldErr(path+".token_endpoint_url", "required")
	}
	if err := checkHTTPURL(o.TokenEndpointURL); err != nil {
		return fieldErr(path+".token_endpoint_url", err.Error())
	}
	if o.ClientID == "" {
		return fieldErr(path+".client_id", "required")
	}
	if o.ClientSecret == "" {
		return fieldErr(path+".client_secret", "required (or client_secret_file)")
	}
	if err := checkFiles(path, map[string]string{"ca_file": o.CAFile}); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(o.Extensions)) {
		// RFC 7628 3.1: key = 1*(ALPHA); "auth" is the token itself.
		if k == "auth" || k == "" || strings.ContainsFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) {
			return fieldErr(path+".extensions."+k, "an extension name is letters only and not \"auth\"")
		}
		if strings.ContainsFunc(o.Extensions[k], func(r rune) bool { return r == 0x01 || r > 0x7e || r < 0x20 && r != '\t' && r != '\r' && r != '\n' }) {
			return fieldErr(path+".extensions."+k, "the value may hold printable ASCII only")
		}
	}
	return nil
}

func (kr *Kerberos) validate(path string, s *SASL) error {
	if kr.ServiceName == "" {
		return fieldErr(path+".service_name", "required")
	}
	if kr.Realm == "" {
		return fieldErr(path+".realm", "required")
	}
	if kr.Username == "" {
		return fieldErr(path+".username", "required (the client principal, without @REALM)")
	}
	if s.Username != "" {
		return fieldErr(strings.TrimSuffix(path, ".kerberos")+".username", "not used with mechanism GSSAPI; set kerberos.username")
	}
	n := 0
	for _, set := range []bool{kr.Keytab != "", kr.CredentialsCache != "", s.Password != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fieldErr(path+".keytab", "set exactly one of keytab, credentials_cache and kafka.sasl.password (or password_file)")
	}
	return checkFiles(path, map[string]string{"keytab": kr.Keytab, "credentials_cache": kr.CredentialsCache, "config_file": kr.ConfigFile})
}

// awsRegion matches a region name such as "eu-west-1" or "us-gov-east-1".
var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (m *AWSMSKIAM) validate(path string, s *SASL) error {
	if err := s.noUserPassword(strings.TrimSuffix(path, ".aws_msk_iam")); err != nil {
		return err
	}
	if !awsRegion.MatchString(m.Region) {
		return fieldErr(path+".region", fmt.Sprintf("%q is not an AWS region (e.g. eu-west-1)", m.Region))
	}
	if m.RoleARN != "" && !strings.HasPrefix(m.RoleARN, "arn:aws") {
		return fieldErr(path+".role_arn", fmt.Sprintf("%q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", m.RoleARN))
	}
	return nil
}

// validateTopicsRegex checks a route's topics_regex.
func (r *Route) validateTopicsRegex(path string) error {
	if r.TopicsRegex == "" {
		return nil
	}
	if _, err := CompileTopicsRegex(r.TopicsRegex); err != nil {
		return fieldErr(path+".topics_regex", err.Error())
	}
	return nil
}

// CompileTopicsRegex compiles a topics_regex so that it matches whole
// topic names, as Kafka's Java consumer does.
func CompileTopicsRegex(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", expr, err)
	}
	return re, nil
}

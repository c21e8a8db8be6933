// Package kafka turns the kafka section of a configuration into a sarama
// client configuration: versions, fetch sizes, the isolation level, the
// assignment strategy and static membership, the dead-letter producer's
// acknowledgements, TLS, and SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER
// with a client-credentials token, GSSAPI and AWS MSK IAM). The bridge,
// replay and every command that talks to Kafka (check, rewind, status,
// generate) build their clients from it.
package kafka

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
)

// SaramaConfig translates the kafka section into a sarama configuration
// shared by consumers, the dead-letter producer and admin calls. Auto-commit
// is always off: siembridge commits only what was delivered.
func SaramaConfig(k config.Kafka) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = k.ClientID
	if k.Version != "" {
		v, err := sarama.ParseKafkaVersion(k.Version)
		if err != nil {
			return nil, fmt.Errorf("kafka.version: %w", err)
		}
		sc.Version = v
	}
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Return.Errors = true
	if k.SessionTimeout > 0 {
		sc.Consumer.Group.Session.Timeout = k.SessionTimeout
	}
	if k.HeartbeatInterval > 0 {
		sc.Consumer.Group.Heartbeat.Interval = k.HeartbeatInterval
	}
	if k.RebalanceTimeout > 0 {
		sc.Consumer.Group.Rebalance.Timeout = k.RebalanceTimeout
	}
	// Fetch sizes, as Kafka's consumer names them (see
	// config.Kafka): kafka.fetch_max_bytes bounds one response across
	// partitions (sarama's request-level Fetch.MaxBytes, KIP-74),
	// kafka.max_partition_fetch_bytes what each partition is asked for
	// (Fetch.Default). Each route lowers both from its buffer (planFetch).
	// A zero setting (a Config built in code) keeps sarama's default.
	if k.FetchMaxBytes > 0 {
		sc.Consumer.Fetch.MaxBytes = int32(min(int64(k.FetchMaxBytes), math.MaxInt32))
	}
	if k.MaxPartitionFetchBytes > 0 {
		sc.Consumer.Fetch.Default = int32(min(int64(k.MaxPartitionFetchBytes), math.MaxInt32))
	}
	// Fetch.Max is sarama's own: how far a partition's fetch may grow to
	// take a record larger than Fetch.Default. At that cap sarama skips
	// the record (ErrMessageTooLarge), which at-least-once cannot allow,
	// so there is no cap: the fetch grows to the record once, then falls
	// back to Fetch.Default. sarama.MaxResponseSize still applies.
	sc.Consumer.Fetch.Max = 0
	sc.Consumer.MaxProcessingTime = time.Second
	if err := applyConsumer(sc, k); err != nil {
		return nil, err
	}

	// The dead-letter producer: a write counts only once all in-sync
	// replicas have it.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 5
	sc.Producer.MaxMessageBytes = 16 << 20

	if err := applyTLS(sc, k.TLS); err != nil {
		return nil, err
	}
	if err := applySASL(sc, k.SASL); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return sc, nil
}

func applyTLS(sc *sarama.Config, t config.TLS) error {
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" && !t.InsecureSkipVerify {
		return nil
	}
	tc, err := t.ClientConfig("kafka.tls")
	if err != nil {
		return err
	}
	sc.Net.TLS.Enable = true
	sc.Net.TLS.Config = tc
	return nil
}

func applySASL(sc *sarama.Config, s config.SASL) error {
	if s.Mechanism == "" {
		return nil
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.User = s.Username
	sc.Net.SASL.Password = s.Password.Value()
	switch s.Mechanism {
	case "PLAIN":
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case "SCRAM-SHA-256":
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		sc.Net.SASL.SCRAMClientGeneratorFunc = scramClientFunc(sarama.SASLTypeSCRAMSHA256)
	case "SCRAM-SHA-512":
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		sc.Net.SASL.SCRAMClientGeneratorFunc = scramClientFunc(sarama.SASLTypeSCRAMSHA512)
	case "OAUTHBEARER":
		if s.OAuthBearer == nil {
			return fmt.Errorf("kafka.sasl.oauthbearer: required with mechanism OAUTHBEARER")
		}
		p, err := newOAuthProvider(s.OAuthBearer, nil)
		if err != nil {
			return err
		}
		sc.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		sc.Net.SASL.TokenProvider = p
	case "AWS_MSK_IAM":
		if s.AWSMSKIAM == nil {
			return fmt.Errorf("kafka.sasl.aws_msk_iam: required with mechanism AWS_MSK_IAM")
		}
		sc.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		sc.Net.SASL.TokenProvider = newMSKProvider(s.AWSMSKIAM)
	case "GSSAPI":
		return applyKerberos(sc, s)
	default:
		return fmt.Errorf("kafka.sasl.mechanism: unknown mechanism %q", s.Mechanism)
	}
	return nil
}

// WarnInsecure logs one WARN line when kafka.tls.insecure_skip_verify
// is set. Call it once where the kafka section is turned into clients (the
// bridge at startup, check, generate); SaramaConfig has no logger.
func WarnInsecure(log *slog.Logger, k config.Kafka) {
	if k.TLS.InsecureSkipVerify {
		log.Warn("kafka: TLS certificate verification is DISABLED (kafka.tls.insecure_skip_verify); the connection and the SASL credentials can be intercepted",
			"field", "kafka.tls.insecure_skip_verify")
	}
}

// applyKerberos maps kafka.sasl.kerberos onto sarama's GSSAPI client: the
// keytab, the credentials cache or kafka.sasl.password, whichever is set.
func applyKerberos(sc *sarama.Config, s config.SASL) error {
	kr := s.Kerberos
	if kr == nil {
		return fmt.Errorf("kafka.sasl.kerberos: required with mechanism GSSAPI")
	}
	sc.Net.SASL.Mechanism = sarama.SASLTypeGSSAPI
	sc.Net.SASL.User, sc.Net.SASL.Password = "", ""
	g := &sc.Net.SASL.GSSAPI
	g.ServiceName = kr.ServiceName
	g.Realm = kr.Realm
	g.Username = kr.Username
	g.KerberosConfigPath = kr.ConfigFile
	g.DisablePAFXFAST = kr.DisablePAFXFAST
	switch {
	case kr.Keytab != "":
		g.AuthType, g.KeyTabPath = sarama.KRB5_KEYTAB_AUTH, kr.Keytab
	case kr.CredentialsCache != "":
		g.AuthType, g.CCachePath = sarama.KRB5_CCACHE_AUTH, kr.CredentialsCache
	default:
		g.AuthType, g.Password = sarama.KRB5_USER_AUTH, s.Password.Value()
	}
	return nil
}

// applyConsumer sets the isolation level, the assignment strategy and
// static membership.
func applyConsumer(sc *sarama.Config, k config.Kafka) error {
	switch k.IsolationLevel {
	case "", "read_committed":
		// A Config built in code (zero value) gets the default too.
		sc.Consumer.IsolationLevel = sarama.ReadCommitted
	case "read_uncommitted":
		sc.Consumer.IsolationLevel = sarama.ReadUncommitted
	default:
		return fmt.Errorf("kafka.isolation_level: unknown level %q", k.IsolationLevel)
	}
	s, err := NewBalanceStrategy(k.PartitionAssignmentStrategy)
	if err != nil {
		return err
	}
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{s}
	sc.Consumer.Group.InstanceId = k.GroupInstanceID
	return nil
}

// NewBalanceStrategy returns a new strategy for
// kafka.partition_assignment_strategy ("" is the default, roundrobin).
// The cooperative-sticky strategy keeps state about its group, so every
// consumer group needs its own: see ForGroup.
func NewBalanceStrategy(name string) (sarama.BalanceStrategy, error) {
	switch name {
	case "", "roundrobin":
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case "range":
		return sarama.NewBalanceStrategyRange(), nil
	case "sticky":
		return sarama.NewBalanceStrategySticky(), nil
	case "cooperative-sticky":
		return sarama.NewBalanceStrategyCooperativeSticky(), nil
	}
	return nil, fmt.Errorf("kafka.partition_assignment_strategy: unknown strategy %q", name)
}

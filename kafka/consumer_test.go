package kafka

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// TestSaramaConfigConsumerSettings: the kafka section's consumer settings
// land in sarama's configuration.
func TestSaramaConfigConsumerSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		k         config.Kafka
		isolation sarama.IsolationLevel
		strategy  string
		instance  string
	}{
		{"zero value: read_committed, roundrobin", config.Kafka{}, sarama.ReadCommitted, sarama.RoundRobinBalanceStrategyName, ""},
		{"read_uncommitted", config.Kafka{IsolationLevel: "read_uncommitted"}, sarama.ReadUncommitted, sarama.RoundRobinBalanceStrategyName, ""},
		{"range", config.Kafka{PartitionAssignmentStrategy: "range"}, sarama.ReadCommitted, sarama.RangeBalanceStrategyName, ""},
		{"sticky", config.Kafka{PartitionAssignmentStrategy: "sticky"}, sarama.ReadCommitted, sarama.StickyBalanceStrategyName, ""},
		{"cooperative-sticky and static membership", config.Kafka{Version: "3.6.0", PartitionAssignmentStrategy: "cooperative-sticky", GroupInstanceID: "bridge-7"},
			sarama.ReadCommitted, sarama.CooperativeStickyBalanceStrategyName, "bridge-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.k.Brokers = []string{"k:9092"}
			if tc.k.Version == "" {
				tc.k.Version = config.DefaultKafkaVersion
			}
			sc, err := SaramaConfig(tc.k)
			if err != nil {
				t.Fatal(err)
			}
			gs := sc.Consumer.Group.Rebalance.GroupStrategies
			if sc.Consumer.IsolationLevel != tc.isolation || len(gs) != 1 || gs[0].Name() != tc.strategy || sc.Consumer.Group.InstanceId != tc.instance {
				t.Fatalf("isolation %v strategies %d %s instance %q", sc.Consumer.IsolationLevel, len(gs), gs[0].Name(), sc.Consumer.Group.InstanceId)
			}
		})
	}
	// sarama itself refuses what the brokers cannot do; so does config.Validate.
	if _, err := SaramaConfig(config.Kafka{Version: "2.3.0", PartitionAssignmentStrategy: "cooperative-sticky"}); err == nil {
		t.Fatal("cooperative-sticky accepted for 2.3.0")
	}
	if _, err := SaramaConfig(config.Kafka{PartitionAssignmentStrategy: "fair"}); err == nil || !strings.Contains(err.Error(), "kafka.partition_assignment_strategy") {
		t.Fatalf("unknown strategy: %v", err)
	}
}

// TestSaramaConfigKerberos: each credential source of kafka.sasl.kerberos
// maps onto sarama's GSSAPI settings, which sarama's Validate accepts.
// (Authentication itself needs a KDC: see the README.)
func TestSaramaConfigKerberos(t *testing.T) {
	base := config.Kerberos{ServiceName: "kafka", Realm: "EXAMPLE.COM", Username: "siembridge", ConfigFile: "/etc/krb5.conf", DisablePAFXFAST: true}
	for _, tc := range []struct {
		name     string
		keytab   string
		ccache   string
		password config.Secret
		want     sarama.GSSAPIConfig
	}{
		{"keytab", "/k/bridge.keytab", "", "", sarama.GSSAPIConfig{AuthType: sarama.KRB5_KEYTAB_AUTH, KeyTabPath: "/k/bridge.keytab"}},
		{"credentials cache", "", "/tmp/krb5cc_1000", "", sarama.GSSAPIConfig{AuthType: sarama.KRB5_CCACHE_AUTH, CCachePath: "/tmp/krb5cc_1000"}},
		{"password", "", "", "kerb-pw", sarama.GSSAPIConfig{AuthType: sarama.KRB5_USER_AUTH, Password: "kerb-pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr := base
			kr.Keytab, kr.CredentialsCache = tc.keytab, tc.ccache
			k := config.Kafka{Brokers: []string{"k:9092"}, Version: "3.6.0", SASL: config.SASL{Mechanism: "GSSAPI", Password: tc.password, Kerberos: &kr}}
			sc, err := SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.ServiceName, want.Realm, want.Username, want.KerberosConfigPath, want.DisablePAFXFAST = "kafka", "EXAMPLE.COM", "siembridge", "/etc/krb5.conf", true
			got := sc.Net.SASL.GSSAPI
			if sc.Net.SASL.Mechanism != sarama.SASLTypeGSSAPI || !sc.Net.SASL.Enable || !reflect.DeepEqual(got, want) {
				t.Fatalf("mechanism %s\n got %+v\nwant %+v", sc.Net.SASL.Mechanism, got, want)
			}
			if sc.Net.SASL.Password != "" {
				t.Fatal("the Kerberos password also went to SASL/PLAIN's field")
			}
		})
	}
}

// produceTransactions writes three transactions to partition 0 of topic
// with franz-go's transactional producer: the first and last committed,
// the middle one aborted.
func produceTransactions(t *testing.T, brokers []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("siembridge-test-tx"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		state := map[kgo.TransactionEndTry]string{kgo.TryCommit: "committed", kgo.TryAbort: "aborted"}[commit]
		for j := range 5 {
			r := &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, `{"txn":%d,"n":%d,"state":%q}`, i, j, state)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
}

// readPartition reads partition 0 of topic through SaramaConfig(k) until
// the high-water mark, as the bridge's consumers would.
func readPartition(t *testing.T, k config.Kafka, topic string) []string {
	t.Helper()
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	c, err := sarama.NewConsumer(k.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
			if m.Offset+1 >= pc.HighWaterMarkOffset()-1 { // the last record is followed by its commit marker
				return got
			}
		case <-time.After(500 * time.Millisecond):
			return got // nothing more to read
		case <-deadline:
			t.Fatalf("reading took too long; got %d records", len(got))
		}
	}
}

// TestReadCommittedSkipsAbortedTransactions: with the default isolation
// level an aborted transaction's records never reach the consumer (and so
// never the SIEM); read_uncommitted, the control, does see them.
func TestReadCommittedSkipsAbortedTransactions(t *testing.T) {
	c, err := kafkatest.Start(1, []string{"txn-events"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produceTransactions(t, c.Brokers(), "txn-events")

	k := config.Kafka{Brokers: c.Brokers(), Version: "3.6.0"}
	got := readPartition(t, k, "txn-events")
	committed := slices.DeleteFunc(slices.Clone(got), func(v string) bool { return !strings.Contains(v, `"committed"`) })
	if len(got) != 10 || len(committed) != 10 {
		t.Fatalf("read_committed read %d records, %d of them committed; want the 10 committed ones only:\n%s", len(got), len(committed), strings.Join(got, "\n"))
	}

	k.IsolationLevel = "read_uncommitted"
	got = readPartition(t, k, "txn-events")
	if n := len(slices.DeleteFunc(got, func(v string) bool { return !strings.Contains(v, `"aborted"`) })); n != 5 {
		t.Fatalf("read_uncommitted read %d aborted records, want 5 (is the aborted transaction really in the log?)", n)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/kafka"
)

func endTotal(t *testing.T, brokers []string, topic string) (total int64, partitions int) {
	t.Helper()
	ends, err := kafkatest.EndOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ends {
		total += e
	}
	return total, len(ends)
}

func TestGenerateCount(t *testing.T) {
	k := testKafkaCluster(t, 1, nil)
	const n = 2345
	code, out, errOut := testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "gen",
		"--rate", "0", "--count", fmt.Sprint(n), "--partitions", "3")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "created topic gen with 3 partitions") ||
		!strings.Contains(out, fmt.Sprintf("generate: %d events written to gen (0 failed)", n)) {
		t.Fatalf("stdout:\n%s", out)
	}
	total, parts := endTotal(t, k.Brokers(), "gen")
	if total != n || parts != 3 {
		t.Fatalf("%d records in %d partitions, want %d in 3", total, parts, n)
	}

	// Every record is a generated event with its sequence number, 1..n.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := kafkatest.ReadAll(ctx, k.Brokers(), "gen")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[int64]bool, n)
	for _, m := range msgs {
		s, ok := gen.Seq(m.Value)
		if !ok || s < 1 || s > n || seen[s] {
			t.Fatalf("record %s/%d@%d: seq %d ok=%v (duplicate or out of range)", m.Topic, m.Partition, m.Offset, s, ok)
		}
		seen[s] = true
	}

	// Again into the existing topic: it is left as it is.
	code, out, _ = testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "gen",
		"--rate", "0", "--count", "5", "--partitions", "2", "--first-seq", "100000")
	if code != exitOK || !strings.Contains(out, "exists with 3 partitions (not 2)") {
		t.Fatalf("exit %d, stdout:\n%s", code, out)
	}
	if total, _ := endTotal(t, k.Brokers(), "gen"); total != n+5 {
		t.Fatalf("%d records, want %d", total, n+5)
	}
}

func TestGenerateRate(t *testing.T) {
	k := testKafkaCluster(t, 1, []string{"slow"})
	start := time.Now()
	code, out, errOut := testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "slow", "--rate", "400", "--count", "200")
	elapsed := time.Since(start)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// 200 events at 400/s with a burst of 20: at least (200-20)/400 s.
	if elapsed < 400*time.Millisecond {
		t.Fatalf("200 events at 400/s took %s", elapsed)
	}
	if total, _ := endTotal(t, k.Brokers(), "slow"); total != 200 {
		t.Fatalf("%d records, want 200", total)
	}
}

func TestGenerateStopsOnCancel(t *testing.T) {
	k := testKafkaCluster(t, 1, []string{"forever"})
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdGenerate(ctx, []string{"--brokers", k.Brokers()[0], "--topic", "forever", "--rate", "2000"}, &out, io.Discard)
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("generate did not stop after cancel")
	}
	var sent int64
	if _, err := fmt.Sscanf(out.String(), "generate: %d events written", &sent); err != nil || sent == 0 {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if total, _ := endTotal(t, k.Brokers(), "forever"); total != sent {
		t.Fatalf("summary says %d, topic holds %d", sent, total)
	}
}

func TestGenerateSASL(t *testing.T) {
	const pw = "generate-SCRAM-pw"
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			k := testKafkaCluster(t, 2, []string{"sasl"}, kfake.EnableSASL(), kfake.Superuser(mech, "gen", pw))
			pwFile := testWriteFile(t, "pw", pw+"\n")
			code, out, errOut := testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "sasl", "--rate", "0", "--count", "50",
				"--sasl-mechanism", mech, "--sasl-username", "gen", "--sasl-password-file", pwFile)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			// Read back with the bridge's own Kafka settings.
			sc, err := kafka.SaramaConfig(config.Kafka{Brokers: k.Brokers(),
				SASL: config.SASL{Mechanism: mech, Username: "gen", Password: pw}})
			if err != nil {
				t.Fatal(err)
			}
			client, err := sarama.NewClient(k.Brokers(), sc)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			var total int64
			for _, p := range []int32{0, 1} {
				off, err := client.GetOffset("sasl", p, sarama.OffsetNewest)
				if err != nil {
					t.Fatal(err)
				}
				total += off
			}
			if total != 50 {
				t.Fatalf("%d records, want 50", total)
			}

			// The password from the environment, and a wrong one.
			t.Setenv(generatePasswordEnv, "not-"+pw)
			code, out, errOut = testRunMain("generate", "--brokers", k.Brokers()[0], "--topic", "sasl", "--count", "1",
				"--sasl-mechanism", mech, "--sasl-username", "gen")
			if code != exitFailure {
				t.Fatalf("wrong password: exit %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "siembridge generate: connect to") || strings.Contains(out+errOut, pw) {
				t.Fatalf("want a connect error without the password, got: %s%s", out, errOut)
			}
			if testing.Verbose() {
				t.Logf("wrong password: %s", errOut)
			}
		})
	}
}

func TestGenerateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--brokers", "x:1"},
		{"--topic", "t", "--brokers", ""},
		{"--topic", "t", "--rate", "-1"},
		{"--topic", "t", "--count", "-1"},
		{"--topic", "t", "--partitions", "-2"},
		{"--topic", "t", "--sasl-mechanism", "PLAIN"},
		{"--topic", "t", "--sasl-mechanism", "NOPE", "--sasl-username", "u", "--sasl-password-file", "/etc/hostname"},
		{"--topic", "t", "extra"},
		{"--nope"},
	} {
		t.Setenv(generatePasswordEnv, "")
		code, out, errOut := testRunMain(append([]string{"generate"}, args...)...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

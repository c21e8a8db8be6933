package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/time/rate"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/kafka"
)

// generatePasswordEnv is read when --sasl-password-file is not given: a
// password on the command line would show in ps.
const generatePasswordEnv = "SIEMBRIDGE_SASL_PASSWORD"

// generateOptions are the flags of generate.
type generateOptions struct {
	kafka        config.Kafka
	topic        string
	rate         float64
	count        int64
	partitions   int
	replication  int
	seed         int64
	firstSeq     int64
	passwordFile string
}

// cmdGenerate produces internal/gen's synthetic security events into a
// topic at a steady rate until --count events were acknowledged or SIGINT.
// It prints one summary line and fails (exit 1) when any event could not
// be written.
func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseGenerateFlags(args, stdout)
	if err != nil {
		return err
	}
	log := newLogger(config.Log{}, stderr)
	kafka.WarnInsecure(log, o.kafka)
	sc, err := kafka.SaramaConfig(o.kafka)
	if err != nil {
		return usageError{err: err}
	}
	sc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	sc.Producer.Flush.Messages = 500
	sc.Producer.Flush.Frequency = 10 * time.Millisecond
	sc.Producer.MaxMessageBytes = 1 << 20

	client, err := sarama.NewClient(o.kafka.Brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to %s: %w%s", strings.Join(o.kafka.Brokers, ","), err, kafkaHint(o.kafka, err))
	}
	defer client.Close()
	if o.partitions > 0 {
		if err := ensureTopic(client, o, stdout); err != nil {
			return err
		}
	}
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return err
	}
	start := time.Now()
	sent, failed, firstErr := produceEvents(ctx, producer, o)
	elapsed := time.Since(start)
	perSec := 0.0
	if s := elapsed.Seconds(); s > 0 {
		perSec = float64(sent) / s
	}
	fmt.Fprintf(stdout, "generate: %d events written to %s (%d failed) in %s, %.0f events/s\n",
		sent, o.topic, failed, elapsed.Round(time.Millisecond), perSec)
	if failed > 0 {
		return fmt.Errorf("%d events were not written; first error: %w", failed, firstErr)
	}
	return nil
}

// parseGenerateFlags parses and checks generate's flags; -h prints the
// usage to stdout.
func parseGenerateFlags(args []string, stdout io.Writer) (generateOptions, error) {
	var o generateOptions
	fs := newCmdFlags("generate", "generate --topic NAME [--brokers HOST:PORT,...] [--rate N] [--count N] [flags]",
		"Produces synthetic security events (the demo's) into a Kafka topic at a steady rate,\n"+
			"until --count events were acknowledged or SIGINT/SIGTERM. Exit 1 if any event could\n"+
			"not be written.", stdout)
	brokers := fs.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	fs.StringVar(&o.topic, "topic", "", "topic to write to (required)")
	fs.Float64Var(&o.rate, "rate", 1000, "events per second; 0 means as fast as the brokers take them")
	fs.Int64Var(&o.count, "count", 0, "stop after this many events; 0 means until SIGINT/SIGTERM")
	fs.IntVar(&o.partitions, "partitions", 0, "create the topic with this many partitions if it does not exist")
	fs.IntVar(&o.replication, "replication-factor", 1, "replication factor of a topic created by --partitions")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the event generator (same seed, same events)")
	fs.Int64Var(&o.firstSeq, "first-seq", 1, "sequence number (labels.seq) of the first event")
	fs.StringVar(&o.kafka.Version, "kafka-version", "", "Kafka protocol version, e.g. 3.8.0 (default: the bridge's)")
	fs.BoolVar(&o.kafka.TLS.Enabled, "tls", false, "connect with TLS")
	fs.StringVar(&o.kafka.TLS.CAFile, "tls-ca-file", "", "CA certificates (PEM) to verify the brokers")
	fs.StringVar(&o.kafka.TLS.CertFile, "tls-cert-file", "", "client certificate (PEM)")
	fs.StringVar(&o.kafka.TLS.KeyFile, "tls-key-file", "", "client key (PEM)")
	fs.StringVar(&o.kafka.TLS.ServerName, "tls-server-name", "", "name expected in the broker certificates")
	fs.BoolVar(&o.kafka.TLS.InsecureSkipVerify, "tls-insecure-skip-verify", false, "do not verify broker certificates (insecure)")
	fs.StringVar(&o.kafka.SASL.Mechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&o.kafka.SASL.Username, "sasl-username", "", "SASL user")
	fs.StringVar(&o.passwordFile, "sasl-password-file", "", "file holding the SASL password (default: $"+generatePasswordEnv+")")
	if err := fs.parse(args); err != nil {
		return o, err
	}
	for b := range strings.SplitSeq(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.kafka.Brokers = append(o.kafka.Brokers, b)
		}
	}
	switch {
	case len(o.kafka.Brokers) == 0:
		return o, missingFlag("brokers", "")
	case o.topic == "":
		return o, missingFlag("topic", "")
	case o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0):
		return o, flagErrorf("rate", "%v must be >= 0", o.rate)
	case o.count < 0:
		return o, flagErrorf("count", "%d must be >= 0", o.count)
	case o.partitions < 0 || o.partitions > math.MaxInt32:
		return o, flagErrorf("partitions", "%d must be between 0 and %d", o.partitions, math.MaxInt32)
	case o.replication < 1 || o.replication > math.MaxInt16:
		return o, flagErrorf("replication-factor", "%d must be between 1 and %d", o.replication, math.MaxInt16)
	}
	o.kafka.ClientID = "siembridge-generate"
	if o.kafka.SASL.Mechanism != "" {
		if o.kafka.SASL.Username == "" {
			return o, missingFlag("sasl-username", "with --sasl-mechanism")
		}
		pw, err := generatePassword(o.passwordFile)
		if err != nil {
			return o, err
		}
		o.kafka.SASL.Password = config.Secret(pw)
	}
	return o, nil
}

// generatePassword reads the SASL password from file, or from the
// environment. Errors never carry the content.
func generatePassword(file string) (string, error) {
	if file == "" {
		pw, ok := os.LookupEnv(generatePasswordEnv)
		if !ok || pw == "" {
			return "", missingFlag("sasl-password-file", "with --sasl-mechanism (or set $"+generatePasswordEnv+")")
		}
		return pw, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", flagErrorf("sasl-password-file", "%v", err)
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", flagErrorf("sasl-password-file", "%s is empty", file)
	}
	return pw, nil
}

// ensureTopic creates the topic with --partitions partitions unless it
// exists.
func ensureTopic(client sarama.Client, o generateOptions, stdout io.Writer) error {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return err
	}
	// Closing the admin would close the shared client; it holds nothing
	// else.
	err = admin.CreateTopic(o.topic, &sarama.TopicDetail{
		NumPartitions:     int32(o.partitions),
		ReplicationFactor: int16(o.replication),
	}, false)
	var te *sarama.TopicError
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "generate: created topic %s with %d partitions\n", o.topic, o.partitions)
	case errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists, errors.Is(err, sarama.ErrTopicAlreadyExists):
		if err := client.RefreshMetadata(o.topic); err != nil {
			return err
		}
		parts, err := client.Partitions(o.topic)
		if err != nil {
			return err
		}
		if len(parts) != o.partitions {
			fmt.Fprintf(stdout, "generate: topic %s exists with %d partitions (not %d); left as it is\n", o.topic, len(parts), o.partitions)
		}
	default:
		return fmt.Errorf("create topic %s: %w", o.topic, err)
	}
	return nil
}

// produceEvents writes events until o.count were acknowledged (or failed)
// or ctx ends. It closes p.
func produceEvents(ctx context.Context, p sarama.AsyncProducer, o generateOptions) (sent, failed int64, firstErr error) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range p.Successes() {
			sent++
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			if failed == 0 {
				firstErr = e.Err
			}
			failed++
		}
	}()

	limit := rate.Inf
	burst := 1000
	if o.rate > 0 {
		limit = rate.Limit(o.rate)
		// A twentieth of a second of events per wait keeps the rate smooth
		// at a low cost per event.
		burst = max(1, int(math.Ceil(o.rate/20)))
	}
	lim := rate.NewLimiter(limit, burst)
	g := gen.New(o.seed)
	seq := o.firstSeq
produce:
	for o.count == 0 || seq-o.firstSeq < o.count {
		n := burst
		if o.count > 0 {
			n = int(min(int64(n), o.count-(seq-o.firstSeq)))
		}
		if err := lim.WaitN(ctx, n); err != nil {
			break // ctx ended, or would end before the tokens arrive
		}
		for range n {
			now := time.Now()
			msg := &sarama.ProducerMessage{Topic: o.topic, Value: sarama.ByteEncoder(g.Next(seq, now)), Timestamp: now}
			select {
			case p.Input() <- msg:
				seq++
			case <-ctx.Done():
				break produce
			}
		}
	}
	// AsyncClose flushes what was accepted; the readers end when both
	// channels close.
	p.AsyncClose()
	wg.Wait()
	return sent, failed, firstErr
}

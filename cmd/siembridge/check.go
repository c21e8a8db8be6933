package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/kafka"
	"github.com/siembridge/siembridge/sinks/registry"
)

// cmdCheck validates a configuration and everything it points at, without
// consuming anything: the brokers, each route's topics, the dead-letter
// topics and each sink with its credentials. It exits 2 on a bad
// configuration, 1 when any check failed, 0 when all passed (warnings do
// not fail the check).
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("check", "check [--config FILE] [--timeout DURATION]",
		"Validates the configuration, connects to the brokers, lists each route's topics and\n"+
			"dead-letter topic and probes each sink with its credentials, without consuming.\n"+
			"One line per problem; exit 2 on a bad configuration, 1 when a check failed.", stdout)
	path := fs.String("config", "siembridge.yaml", "configuration file")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on connecting to Kafka and on each sink probe")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return flagErrorf("timeout", "%s must be > 0", *timeout)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	r := &checkReport{out: stdout}
	fmt.Fprintf(stdout, "config %s: valid (%d routes)\n", *path, len(cfg.Routes))
	checkKafka(ctx, cfg, *timeout, log, r)
	checkSinks(ctx, cfg, *timeout, log, r)

	if len(r.problems) == 0 {
		fmt.Fprintf(stdout, "check passed: %s\n", r.counts())
		return nil
	}
	fmt.Fprintf(stdout, "check FAILED: %s\n", r.counts())
	return fmt.Errorf("%s", checkPlural(len(r.problems), "problem"))
}

// checkReport prints as it goes and counts what failed.
type checkReport struct {
	out      io.Writer
	problems []string
	warnings []string
}

// ok prints an indented line about something that works.
func (r *checkReport) ok(format string, args ...any) {
	fmt.Fprintf(r.out, "  "+format+"\n", args...)
}

// fail records a problem with field, on a line of its own.
func (r *checkReport) fail(field, format string, args ...any) {
	line := field + ": " + oneLine(fmt.Errorf(format, args...))
	r.problems = append(r.problems, line)
	fmt.Fprintf(r.out, "FAIL %s\n", line)
}

// warn records something that may work but deserves a look.
func (r *checkReport) warn(field, format string, args ...any) {
	line := field + ": " + oneLine(fmt.Errorf(format, args...))
	r.warnings = append(r.warnings, line)
	fmt.Fprintf(r.out, "WARN %s\n", line)
}

func (r *checkReport) counts() string {
	return checkPlural(len(r.problems), "problem") + ", " + checkPlural(len(r.warnings), "warning")
}

func checkPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkKafka connects to the brokers and checks every route's topics and
// dead-letter topic.
func checkKafka(ctx context.Context, cfg *config.Config, timeout time.Duration, log *slog.Logger, r *checkReport) {
	fmt.Fprintf(r.out, "kafka %s:\n", strings.Join(cfg.Kafka.Brokers, ","))
	kafka.WarnInsecure(log, cfg.Kafka)
	sc, err := kafka.SaramaConfig(cfg.Kafka)
	if err != nil {
		r.fail("kafka", "%v", err)
		return
	}
	// Bounded, and read-only: a metadata request must not create the
	// topics it asks about.
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = timeout, timeout, timeout
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.AllowAutoTopicCreation = false
	if !checkToken(cfg.Kafka, sc, r) {
		for i := range cfg.Routes {
			r.warn(fmt.Sprintf("routes[%d].topics", i), "not checked: no token to authenticate with")
		}
		return
	}

	client, err := connectKafka(ctx, cfg.Kafka.Brokers, sc, timeout)
	if err != nil {
		r.fail(kafkaErrorField(cfg.Kafka, err), "cannot connect: %v%s", err, kafkaHint(cfg.Kafka, err))
		for i := range cfg.Routes {
			r.warn(fmt.Sprintf("routes[%d].topics", i), "not checked: Kafka is unreachable")
		}
		return
	}
	defer client.Close()
	brokers := client.Brokers()
	addrs := make([]string, 0, len(brokers))
	for _, b := range brokers {
		addrs = append(addrs, fmt.Sprintf("%d@%s", b.ID(), b.Addr()))
	}
	r.ok("connected; cluster brokers: %s", strings.Join(addrs, " "))

	autoCreate := brokerAutoCreate(client, sc)
	for i, rt := range cfg.Routes {
		fmt.Fprintf(r.out, "route %s (routes[%d]) group %s:\n", rt.Name, i, rt.GroupID())
		for j, topic := range rt.Topics {
			checkTopic(client, sc, fmt.Sprintf("routes[%d].topics[%d]", i, j), topic, r)
		}
		checkTopicsRegex(client, sc, i, rt, r)
		checkGroup(client, i, rt, r)
		checkDeadLetter(client, sc, autoCreate, timeout, i, rt, r)
	}
}

// checkToken fetches the OAUTHBEARER or AWS MSK IAM token before anything
// connects, so that a token endpoint or credential problem is reported at
// its own field rather than as a broker that closed the connection. It
// returns false when there is a token provider and it failed.
func checkToken(k config.Kafka, sc *sarama.Config, r *checkReport) bool {
	p := sc.Net.SASL.TokenProvider
	if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypeOAuth || p == nil {
		return true
	}
	field, from := "kafka.sasl.oauthbearer", ""
	if o := k.SASL.OAuthBearer; o != nil {
		from = " from " + o.TokenEndpointURL
	}
	if m := k.SASL.AWSMSKIAM; m != nil {
		field, from = "kafka.sasl.aws_msk_iam", " signed for "+m.Region
		if m.RoleARN != "" {
			from += " as " + m.RoleARN
		}
	}
	if _, err := p.Token(); err != nil {
		r.fail(field, "no token%s: %s", from, strings.TrimPrefix(err.Error(), field+": "))
		return false
	}
	r.ok("%s token%s: OK", k.SASL.Mechanism, from)
	return true
}

// checkTopic checks that topic exists and that these credentials may read
// it.
func checkTopic(client sarama.Client, sc *sarama.Config, field, topic string, r *checkReport) {
	n, err := partitionCount(client, topic)
	if err != nil {
		r.fail(field, "topic %q: %v", topic, err)
		return
	}
	if err := probeRead(client, sc, topic); err != nil {
		r.fail(field, "topic %q: not readable with these credentials: %v", topic, err)
		return
	}
	r.ok("topic %s: %s, readable", topic, checkPlural(n, "partition"))
}

// checkTopicsRegex lists the topics a route's topics_regex matches now and
// checks each like a listed topic; none is a warning (the route waits for
// one to appear).
func checkTopicsRegex(client sarama.Client, sc *sarama.Config, i int, rt config.Route, r *checkReport) {
	if rt.TopicsRegex == "" {
		return
	}
	field := fmt.Sprintf("routes[%d].topics_regex", i)
	regexOnly := rt
	regexOnly.Topics = nil // the listed topics are checked on their own
	matched, err := kafka.RouteTopics(client, regexOnly)
	if err != nil {
		r.fail(field, "%v", err)
		return
	}
	if len(matched) == 0 {
		r.warn(field, "%q matches no topic yet; the route waits until one appears", rt.TopicsRegex)
		return
	}
	r.ok("topics_regex %s: matches %s", rt.TopicsRegex, strings.Join(matched, ", "))
	for _, topic := range matched {
		checkTopic(client, sc, field, topic, r)
	}
}

// checkGroup reads the route's committed offsets, which the group's
// coordinator allows only to members with access to the group.
func checkGroup(client sarama.Client, i int, rt config.Route, r *checkReport) {
	field := fmt.Sprintf("routes[%d].group", i)
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		r.fail(field, "%v", err)
		return
	}
	// Not admin.Close: it would close the shared client.
	resp, err := admin.ListConsumerGroupOffsets(rt.GroupID(), nil)
	if err == nil && resp.Err != sarama.ErrNoError {
		err = resp.Err
	}
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		// Some brokers say so for a group that never committed; access
		// was checked before.
		r.ok("group %s: no committed offsets yet", rt.GroupID())
		return
	}
	if err != nil {
		r.fail(field, "group %q: cannot read its committed offsets: %v", rt.GroupID(), err)
		return
	}
	r.ok("group %s: committed offsets readable", rt.GroupID())
}

// probeRead fetches at most one byte from partition 0 of topic at its
// oldest offset: a broker refuses it (TOPIC_AUTHORIZATION_FAILED) to
// credentials without READ on the topic. Nothing is consumed or committed.
func probeRead(client sarama.Client, sc *sarama.Config, topic string) error {
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil // the fetch below needs 0.11; the bridge's own fetch will tell
	}
	leader, err := client.Leader(topic, 0)
	if err != nil {
		return err
	}
	oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return err
	}
	req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 0, MinBytes: 0, MaxBytes: 1, Isolation: sc.Consumer.IsolationLevel}
	req.AddBlock(topic, 0, oldest, 1, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		return err
	}
	if b := resp.GetBlock(topic, 0); b == nil {
		return errors.New("no answer for partition 0")
	} else if b.Err != sarama.ErrNoError && b.Err != sarama.ErrOffsetOutOfRange {
		return b.Err
	}
	return nil
}

// probeWrite asks the leader of partition 0 of topic to append an empty
// record batch. Brokers check the WRITE permission first and refuse a
// writer without it (TOPIC_AUTHORIZATION_FAILED); a permitted writer's
// empty batch is then refused as invalid, or appends nothing. Either way
// no record is written.
func probeWrite(client sarama.Client, sc *sarama.Config, topic string, timeout time.Duration) error {
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		return errors.New("not asked: kafka.version is before 0.11")
	}
	leader, err := client.Leader(topic, 0)
	if err != nil {
		return err
	}
	req := &sarama.ProduceRequest{Version: 3, RequiredAcks: sarama.WaitForAll, Timeout: int32(timeout.Milliseconds())}
	req.AddBatch(topic, 0, &sarama.RecordBatch{Version: 2})
	resp, err := leader.Produce(req)
	if err != nil {
		return err
	}
	b := resp.GetBlock(topic, 0)
	if b == nil {
		return errors.New("no answer for partition 0")
	}
	switch b.Err {
	case sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed:
		return b.Err
	}
	return nil // authorized: the batch itself was refused (or was empty)
}

// checkDeadLetter checks that the route's dead-letter topic exists, or
// that the bridge's first write will create it. Every route has one (the
// default is config.DefaultDeadLetterTopic): a rejected event is never
// dropped, so a dead-letter topic that cannot be written stalls its
// partition at the first rejected event.
//
// The bridge does not create the topic itself: its producer relies on the
// brokers' auto.create.topics.enable. A missing topic fails the check when
// the brokers say they will not create it, or when a validate-only
// CreateTopics (which creates nothing) is refused for lack of permission,
// since auto-creation needs the same CREATE permission. It warns when the
// topic will be created with the brokers' default settings, or when whether
// it will be cannot be told.
func checkDeadLetter(client sarama.Client, sc *sarama.Config, autoCreate string, timeout time.Duration, i int, rt config.Route, r *checkReport) {
	topic := rt.DeadLetterTopic()
	field := fmt.Sprintf("routes[%d].dead_letter.topic", i)
	n, err := partitionCount(client, topic)
	if err == nil {
		if werr := probeWrite(client, sc, topic, timeout); errors.Is(werr, sarama.ErrTopicAuthorizationFailed) || errors.Is(werr, sarama.ErrClusterAuthorizationFailed) {
			r.fail(field, "topic %q: not writable with these credentials (%v): the first rejected event would stall its partition", topic, werr)
			return
		} else if werr != nil {
			r.warn(field, "topic %q: whether it is writable is unknown: %v", topic, werr)
			return
		}
		r.ok("dead-letter topic %s: %s, writable", topic, checkPlural(n, "partition"))
		return
	}
	if !errors.Is(err, errNoTopic) {
		r.fail(field, "topic %q: %v", topic, err)
		return
	}
	createErr := validateCreateTopic(client, sc, topic, timeout)
	fail, msg := judgeMissingDeadLetter(topic, autoCreate, createErr)
	if fail {
		r.fail(field, "%s", msg)
		return
	}
	r.warn(field, "%s", msg)
}

// judgeMissingDeadLetter decides what a missing dead-letter topic means,
// from the brokers' auto.create.topics.enable ("true", "false" or "" when
// unknown) and the answer to a validate-only CreateTopics (nil: it could be
// created).
func judgeMissingDeadLetter(topic, autoCreate string, createErr error) (fail bool, msg string) {
	const stall = "create it, or the first rejected event stalls its partition"
	denied := errors.Is(createErr, sarama.ErrTopicAuthorizationFailed) || errors.Is(createErr, sarama.ErrClusterAuthorizationFailed)
	switch {
	case autoCreate == "false":
		return true, fmt.Sprintf("topic %q does not exist and the brokers will not create it on first use (auto.create.topics.enable=false): %s", topic, stall)
	case denied:
		return true, fmt.Sprintf("topic %q does not exist and these credentials may not create it (%v): %s", topic, createErr, stall)
	case autoCreate == "true" && createErr == nil:
		return false, fmt.Sprintf("topic %q does not exist; the brokers will create it on first use (auto.create.topics.enable=true) with their default partitions and replication", topic)
	case autoCreate == "true":
		return false, fmt.Sprintf("topic %q does not exist; the brokers should create it on first use (auto.create.topics.enable=true), but a validate-only CreateTopics answered: %v", topic, createErr)
	case createErr == nil:
		return false, fmt.Sprintf("topic %q does not exist; it could be created (validate-only CreateTopics passed), but whether the brokers create it on first use is unknown (auto.create.topics.enable not readable): create it ahead", topic)
	}
	return false, fmt.Sprintf("topic %q does not exist; whether it can be created is unknown (auto.create.topics.enable not readable; validate-only CreateTopics: %v): create it ahead", topic, createErr)
}

// validateCreateTopic asks the controller whether topic could be created
// with the brokers' default partitions and replication, creating nothing
// (CreateTopics with validate_only). Brokers older than 2.4 cannot take
// the defaults; for them it reports that it could not ask.
func validateCreateTopic(client sarama.Client, sc *sarama.Config, topic string, timeout time.Duration) error {
	if !sc.Version.IsAtLeast(sarama.V2_4_0_0) {
		return fmt.Errorf("not asked: kafka.version %s is before 2.4", sc.Version)
	}
	controller, err := client.Controller()
	if err != nil {
		return err
	}
	req := sarama.NewCreateTopicsRequest(sc.Version, map[string]*sarama.TopicDetail{
		topic: {NumPartitions: -1, ReplicationFactor: -1},
	}, timeout, true)
	resp, err := controller.CreateTopics(req)
	if err != nil {
		return err
	}
	if te, ok := resp.TopicErrors[topic]; ok && te != nil && te.Err != sarama.ErrNoError {
		return te
	}
	return nil
}

// connectKafka opens a client, giving up after timeout even if sarama's
// own retries would take longer; a late client is closed.
func connectKafka(ctx context.Context, brokers []string, sc *sarama.Config, timeout time.Duration) (sarama.Client, error) {
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(brokers, sc)
		ch <- result{c, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		return res.c, res.err
	case <-t.C:
	case <-ctx.Done():
	}
	go func() {
		if res := <-ch; res.c != nil {
			res.c.Close()
		}
	}()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("no answer within %s", timeout)
}

// kafkaErrorField names the config field a connection error most likely
// comes from.
func kafkaErrorField(k config.Kafka, err error) string {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHdr  tls.RecordHeaderError
		alert      tls.AlertError
		netOpError *net.OpError
	)
	switch msg := err.Error(); {
	case strings.Contains(msg, "kafka.sasl.oauthbearer"):
		return "kafka.sasl.oauthbearer"
	case strings.Contains(msg, "kafka.sasl.aws_msk_iam"):
		return "kafka.sasl.aws_msk_iam"
	case k.SASL.Mechanism == "GSSAPI" && (strings.Contains(msg, "KRB") || strings.Contains(msg, "kerberos") || strings.Contains(msg, "keytab")):
		return "kafka.sasl.kerberos"
	}
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed), errors.Is(err, sarama.ErrIllegalSASLState),
		errors.Is(err, sarama.ErrUnsupportedSASLMechanism), strings.Contains(err.Error(), "SASL"),
		strings.Contains(err.Error(), "scram"):
		return "kafka.sasl"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &recordHdr), errors.As(err, &alert):
		return "kafka.tls"
	case errors.As(err, &netOpError):
		return "kafka.brokers"
	}
	if k.SASL.Mechanism != "" && errors.Is(err, io.EOF) {
		// Brokers drop a connection that fails authentication.
		return "kafka.sasl"
	}
	return "kafka.brokers"
}

// errNoTopic: the brokers do not know the topic.
var errNoTopic = errors.New("does not exist")

// kafkaHint explains the connection errors that sarama reports as a bare
// EOF: a broker closes the connection on failed SASL authentication (older
// brokers, and kfake, send no error message) and on a TLS client talking
// to a plaintext listener or the reverse.
func kafkaHint(k config.Kafka, err error) string {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		return ""
	}
	if k.SASL.Mechanism != "" {
		return " (the broker closed the connection: wrong SASL username, password or mechanism, or TLS settings not matching the listener)"
	}
	return " (the broker closed the connection: TLS settings not matching the listener, or the listener requires SASL)"
}

// partitionCount returns the number of partitions of topic, or errNoTopic.
func partitionCount(client sarama.Client, topic string) (int, error) {
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) || err == nil && len(parts) == 0 {
		return 0, errNoTopic
	}
	if err != nil {
		return 0, err
	}
	return len(parts), nil
}

// brokerAutoCreate reads auto.create.topics.enable from the controller:
// "true", "false", or "" when unknown (old broker, no permission, fake).
func brokerAutoCreate(client sarama.Client, sc *sarama.Config) string {
	controller, err := client.Controller()
	if err != nil {
		return ""
	}
	resp, err := controller.DescribeConfigs(&sarama.DescribeConfigsRequest{
		Version: describeConfigsVersion(sc.Version),
		Resources: []*sarama.ConfigResource{{
			Type:        sarama.BrokerResource,
			Name:        fmt.Sprint(controller.ID()),
			ConfigNames: []string{"auto.create.topics.enable"},
		}},
	})
	if err != nil || resp == nil {
		return ""
	}
	for _, res := range resp.Resources {
		if res.ErrorCode != 0 {
			return ""
		}
		for _, e := range res.Configs {
			if e.Name == "auto.create.topics.enable" {
				return strings.ToLower(e.Value)
			}
		}
	}
	return ""
}

func describeConfigsVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 2
	case v.IsAtLeast(sarama.V1_1_0_0):
		return 1
	}
	return 0
}

// checkSinks builds each route's sink as run would and probes it with its
// credentials.
func checkSinks(ctx context.Context, cfg *config.Config, timeout time.Duration, log *slog.Logger, r *checkReport) {
	fmt.Fprintln(r.out, "sinks:")
	for i, rt := range cfg.Routes {
		field := sinkField(i, rt.Sink)
		s, err := registry.New(rt.Sink, log.With("route", rt.Name))
		if err != nil {
			r.fail(fmt.Sprintf("routes[%d].sink", i), "%v", err)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err = s.Probe(pctx)
		cancel()
		if cerr := s.Close(); cerr != nil {
			log.Warn("closing sink", "route", rt.Name, "err", cerr)
		}
		if err != nil {
			r.fail(field, "probe failed: %v", err)
			continue
		}
		r.ok("route %s: %s OK", rt.Name, rt.Sink.Type)
	}
}

// sinkField names the field that says where a route's sink is.
func sinkField(i int, s config.Sink) string {
	key := ""
	switch s.Type {
	case "elasticsearch":
		key = ".urls"
		if s.Elasticsearch != nil && s.Elasticsearch.CloudID != "" {
			key = ".cloud_id"
		}
	case "splunk_hec", "webhook":
		key = ".url"
	case "syslog":
		key = ".address"
	case "file":
		key = ".path"
	}
	return fmt.Sprintf("routes[%d].sink%s", i, key)
}

package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/event"
)

// Limits checked by Validate.
const (
	MaxWorkers              = 256
	MaxInFlightPerPartition = 64
	maxTopicNameBytes       = 249
	maxAppNameBytes         = 48 // RFC 5424 APP-NAME
)

// Validate checks the whole configuration and returns a *FieldError naming
// the full path of the first problem, or nil. It expects ApplyDefaults to
// have run: a zero value that has a default is reported as invalid. It reads
// nothing but the existence of the TLS files it names.
func (c *Config) Validate() error {
	if c == nil {
		return fieldErr("(root)", "no configuration")
	}
	if len(c.Routes) == 0 {
		return fieldErr("routes", "at least one route is required")
	}
	if err := c.Kafka.validate("kafka"); err != nil {
		return err
	}
	names := make(map[string]int, len(c.Routes))
	groups := make(map[string]int, len(c.Routes))
	for i := range c.Routes {
		r := &c.Routes[i]
		path := fmt.Sprintf("routes[%d]", i)
		if err := r.validate(path); err != nil {
			return err
		}
		if j, dup := names[r.Name]; dup {
			return fieldErr(path+".name", fmt.Sprintf("duplicate route name %q (also routes[%d])", r.Name, j))
		}
		names[r.Name] = i
		if j, dup := groups[r.Group]; dup {
			return fieldErr(path+".group", fmt.Sprintf("consumer group %q is also used by routes[%d]; each route needs its own group", r.Group, j))
		}
		groups[r.Group] = i
	}
	if c.Metrics.Listen != "" {
		if err := checkHostPort(c.Metrics.Listen, true); err != nil {
			return fieldErr("metrics.listen", err.Error())
		}
	}
	if err := oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	if err := oneOf("log.format", c.Log.Format, "text", "json"); err != nil {
		return err
	}
	return positive("shutdown_timeout", c.ShutdownTimeout)
}

func (k *Kafka) validate(path string) error {
	if len(k.Brokers) == 0 {
		return fieldErr(path+".brokers", "at least one broker is required")
	}
	for i, b := range k.Brokers {
		if err := checkHostPort(b, false); err != nil {
			return fieldErr(fmt.Sprintf("%s.brokers[%d]", path, i), err.Error())
		}
	}
	if k.ClientID == "" {
		return fieldErr(path+".client_id", "required")
	}
	v, err := sarama.ParseKafkaVersion(k.Version)
	if err != nil {
		return fieldErr(path+".version", fmt.Sprintf("invalid Kafka version %q (want e.g. \"3.6.0\")", k.Version))
	}
	if !v.IsAtLeast(sarama.V0_10_2_0) {
		return fieldErr(path+".version", fmt.Sprintf("%s is too old; consumer groups need 0.10.2.0 or later", k.Version))
	}
	if err := k.TLS.validate(path + ".tls"); err != nil {
		return err
	}
	if err := k.SASL.validate(path + ".sasl"); err != nil {
		return err
	}
	if err := k.validateConsumer(path, v); err != nil {
		return err
	}
	if err := positive(path+".session_timeout", k.SessionTimeout); err != nil {
		return err
	}
	if err := positive(path+".heartbeat_interval", k.HeartbeatInterval); err != nil {
		return err
	}
	if k.HeartbeatInterval >= k.SessionTimeout {
		return fieldErr(path+".heartbeat_interval", fmt.Sprintf("%s must be less than session_timeout %s", k.HeartbeatInterval, k.SessionTimeout))
	}
	if err := positive(path+".rebalance_timeout", k.RebalanceTimeout); err != nil {
		return err
	}
	// Well below sarama.MaxResponseSize (100MiB), which a response of
	// fetch_max_bytes plus one oversized record batch must not exceed.
	const maxFetchBytes = 64 * MiB
	if k.FetchMaxBytes <= 0 || k.FetchMaxBytes > maxFetchBytes {
		return fieldErr(path+".fetch_max_bytes", fmt.Sprintf("%s must be between 1B and %s", k.FetchMaxBytes, ByteSize(maxFetchBytes)))
	}
	if k.MaxPartitionFetchBytes <= 0 || k.MaxPartitionFetchBytes > maxFetchBytes {
		return fieldErr(path+".max_partition_fetch_bytes", fmt.Sprintf("%s must be between 1B and %s", k.MaxPartitionFetchBytes, ByteSize(maxFetchBytes)))
	}
	return nil
}

func (t *TLS) validate(path string) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fieldErr(path+".cert_file", "cert_file and key_file must be set together")
	}
	return checkFiles(path, map[string]string{"ca_file": t.CAFile, "cert_file": t.CertFile, "key_file": t.KeyFile})
}

func (s *SASL) validate(path string) error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			return fieldErr(path+".mechanism", "required when username or password is set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return s.validateBlocks(path)
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	case "OAUTHBEARER", "GSSAPI", "AWS_MSK_IAM":
		return s.validateBlocks(path)
	default:
		return fieldErr(path+".mechanism", fmt.Sprintf("unknown mechanism %q (want one of %s)", s.Mechanism, strings.Join(saslMechanisms, ", ")))
	}
	if err := s.validateBlocks(path); err != nil {
		return err
	}
	if s.Username == "" {
		return fieldErr(path+".username", "required with mechanism "+s.Mechanism)
	}
	if s.Password == "" {
		return fieldErr(path+".password", "required with mechanism "+s.Mechanism+" (or password_file)")
	}
	return nil
}

func (r *Route) validate(path string) error {
	if r.Name == "" {
		return fieldErr(path+".name", "required")
	}
	if !validName(r.Name) {
		return fieldErr(path+".name", fmt.Sprintf("%q may only hold letters, digits, _ and -", r.Name))
	}
	if len(r.Topics) == 0 && r.TopicsRegex == "" {
		return fieldErr(path+".topics", "at least one topic (or topics_regex) is required")
	}
	if err := r.validateTopicsRegex(path); err != nil {
		return err
	}
	for i, t := range r.Topics {
		p := fmt.Sprintf("%s.topics[%d]", path, i)
		if err := checkTopic(t); err != nil {
			return fieldErr(p, err.Error())
		}
		if slices.Contains(r.Topics[:i], t) {
			return fieldErr(p, fmt.Sprintf("duplicate topic %q", t))
		}
	}
	if r.Group == "" {
		return fieldErr(path+".group", "required")
	}
	if err := oneOf(path+".start", r.Start, "oldest", "newest"); err != nil {
		return err
	}
	if err := validateFilter(path+".filter", r.Filter); err != nil {
		return err
	}
	if err := r.validateVolume(path); err != nil {
		return err
	}
	if r.Budget != nil {
		if err := r.Budget.validate(path+".budget", r); err != nil {
			return err
		}
	}
	if w := r.Sink.Webhook; w != nil && w.Filter != nil {
		return fieldErr(path+".sink.filter", "moved to "+path+".filter; remove it from the sink (the route sets a filter too)")
	}
	if err := r.validateFlow(path); err != nil {
		return err
	}
	if t := r.DeadLetter.Topic; t != "" {
		if err := checkTopic(t); err != nil {
			return fieldErr(path+".dead_letter.topic", err.Error())
		}
		if slices.Contains(r.Topics, t) {
			return fieldErr(path+".dead_letter.topic", fmt.Sprintf("%q is one of the route's own topics; rejected events would be consumed again", t))
		}
	}
	return r.Sink.validate(path + ".sink")
}

// validateFlow checks batch, rate, buffer, retry, breaker, commits and
// workers.
func (r *Route) validateFlow(path string) error {
	b, rt := &r.Batch, &r.Rate
	if b.MaxEvents <= 0 {
		return fieldErr(path+".batch.max_events", fmt.Sprintf("%d must be > 0", b.MaxEvents))
	}
	if err := positiveSize(path+".batch.max_bytes", b.MaxBytes); err != nil {
		return err
	}
	if err := positive(path+".batch.max_wait", b.MaxWait); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"events_per_second", rt.EventsPerSecond},
		{"bytes_per_second", float64(rt.BytesPerSecond)},
		{"burst", float64(rt.Burst)},
		{"catchup_lag", float64(rt.CatchupLag)},
		{"catchup_events_per_second", rt.CatchupEventsPerSecond},
		{"catchup_bytes_per_second", float64(rt.CatchupBytesPerSecond)},
		{"adaptive_floor", rt.AdaptiveFloor},
	} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fieldErr(path+".rate."+f.key, fmt.Sprintf("%v must be a number >= 0", f.v))
		}
	}
	if (rt.Adaptive == nil || *rt.Adaptive) && rt.AdaptiveFloor <= 0 {
		return fieldErr(path+".rate.adaptive_floor", fmt.Sprintf("%v must be > 0 when adaptive is on", rt.AdaptiveFloor))
	}
	if rt.EventsPerSecond > 0 || rt.CatchupEventsPerSecond > 0 {
		if rt.Burst <= 0 {
			return fieldErr(path+".rate.burst", "must be > 0 when events_per_second is set")
		}
		if b.MaxEvents > rt.Burst {
			return fieldErr(path+".batch.max_events", fmt.Sprintf("%d is larger than rate.burst %d; a batch must fit in the burst", b.MaxEvents, rt.Burst))
		}
	}
	if r.Buffer.MaxEvents < b.MaxEvents {
		return fieldErr(path+".buffer.max_events", fmt.Sprintf("%d is smaller than batch.max_events %d", r.Buffer.MaxEvents, b.MaxEvents))
	}
	if r.Buffer.MaxBytes < b.MaxBytes {
		return fieldErr(path+".buffer.max_bytes", fmt.Sprintf("%s is smaller than batch.max_bytes %s", r.Buffer.MaxBytes, b.MaxBytes))
	}
	if r.Workers < 1 || r.Workers > MaxWorkers {
		return fieldErr(path+".workers", fmt.Sprintf("%d must be between 1 and %d", r.Workers, MaxWorkers))
	}
	if r.MaxInFlightPerPartition < 1 || r.MaxInFlightPerPartition > MaxInFlightPerPartition {
		return fieldErr(path+".max_in_flight_per_partition", fmt.Sprintf("%d must be between 1 and %d", r.MaxInFlightPerPartition, MaxInFlightPerPartition))
	}
	if err := positive(path+".retry.initial_interval", r.Retry.InitialInterval); err != nil {
		return err
	}
	if err := positive(path+".retry.max_interval", r.Retry.MaxInterval); err != nil {
		return err
	}
	if r.Retry.InitialInterval > r.Retry.MaxInterval {
		return fieldErr(path+".retry.initial_interval", fmt.Sprintf("%s is larger than max_interval %s", r.Retry.InitialInterval, r.Retry.MaxInterval))
	}
	if r.Breaker.Failures < 1 {
		return fieldErr(path+".breaker.failures", fmt.Sprintf("%d must be >= 1", r.Breaker.Failures))
	}
	if err := positive(path+".breaker.initial_probe_interval", r.Breaker.InitialProbeInterval); err != nil {
		return err
	}
	if err := positive(path+".breaker.max_probe_interval", r.Breaker.MaxProbeInterval); err != nil {
		return err
	}
	if r.Breaker.InitialProbeInterval > r.Breaker.MaxProbeInterval {
		return fieldErr(path+".breaker.initial_probe_interval", fmt.Sprintf("%s is larger than max_probe_interval %s", r.Breaker.InitialProbeInterval, r.Breaker.MaxProbeInterval))
	}
	return positive(path+".commit_interval", r.CommitInterval)
}

func (s *Sink) validate(path string) error {
	if s.Type == "" {
		return fieldErr(path+".type", "required (one of "+strings.Join(sinkTypes, ", ")+")")
	}
	block, ok := s.block(false)
	if !ok {
		return fieldErr(path+".type", unknownSinkTypeMsg(s.Type))
	}
	// A block of another type is a programming error in whoever built the
	// Config (the YAML decoder never sets one), but it would be ignored
	// silently, so it is reported.
	for _, b := range []struct {
		name string
		set  bool
	}{
		{"elasticsearch", s.Elasticsearch != nil}, {"splunk_hec", s.SplunkHEC != nil},
		{"syslog", s.Syslog != nil}, {"webhook", s.Webhook != nil}, {"file", s.File != nil},
	} {
		if b.set && b.name != s.Type {
			return fieldErr(path, fmt.Sprintf("has a %s block but type %s", b.name, s.Type))
		}
	}
	if s.Type != "null" && !block.IsValid() {
		return fieldErr(path, "no "+s.Type+" settings (ApplyDefaults was not called?)")
	}
	switch {
	case s.Elasticsearch != nil:
		return s.Elasticsearch.validate(path)
	case s.SplunkHEC != nil:
		return s.SplunkHEC.validate(path)
	case s.Syslog != nil:
		return s.Syslog.validate(path)
	case s.Webhook != nil:
		return s.Webhook.validate(path)
	case s.File != nil:
		return s.File.validate(path)
	}
	return nil
}

func (e *Elasticsearch) validate(path string) error {
	if err := e.validateTarget(path); err != nil {
		return err
	}
	if err := e.validateAuth(path); err != nil {
		return err
	}
	if err := e.validateTransport(path); err != nil {
		return err
	}
	if err := positive(path+".timeout", e.Timeout); err != nil {
		return err
	}
	return positiveSize(path+".max_event_bytes", e.MaxEventBytes)
}

// validateTarget checks where documents go: the cluster (urls or
// cloud_id), the index or data stream, the action and the pipeline.
func (e *Elasticsearch) validateTarget(path string) error {
	switch {
	case len(e.URLs) > 0 && e.CloudID != "":
		return fieldErr(path+".cloud_id", "set either urls or cloud_id, not both")
	case len(e.URLs) == 0 && e.CloudID == "":
		return fieldErr(path+".urls", "at least one URL is required (or cloud_id)")
	case e.CloudID != "" && !strings.Contains(e.CloudID, ":"):
		// The client decodes the rest (sinks/elasticsearch.New).
		return fieldErr(path+".cloud_id", "expected <deployment name>:<base64 data>, as Elastic Cloud shows it")
	}
	for i, u := range e.URLs {
		if err := checkHTTPURL(u); err != nil {
			return fieldErr(fmt.Sprintf("%s.urls[%d]", path, i), err.Error())
		}
	}
	if err := oneOf(path+".action", e.Action, "create", "index"); err != nil {
		return err
	}
	if e.Pipeline != "" && strings.Contains(e.Pipeline, "%{") {
		if _, err := event.ParseIndexTemplate(e.Pipeline); err != nil {
			return fieldErr(path+".pipeline", err.Error())
		}
	}
	if e.DataStream != nil {
		if e.Index != "" {
			return fieldErr(path+".index", "set either index or data_stream, not both")
		}
		if e.Action != "create" {
			return fieldErr(path+".action", "data streams take only create")
		}
		return e.DataStream.validate(path + ".data_stream")
	}
	if e.Index == "" {
		return fieldErr(path+".index", "required")
	}
	if _, err := event.ParseIndexTemplate(e.Index); err != nil {
		return fieldErr(path+".index", err.Error())
	}
	return nil
}

// MaxDataStreamPartLen is Elastic's limit on a data stream's dataset and
// namespace, in bytes.
const MaxDataStreamPartLen = 100

func (d *DataStream) validate(path string) error {
	if err := oneOf(path+".type", d.Type, "logs", "metrics", "traces", "synthetics"); err != nil {
		return err
	}
	for _, p := range [][2]string{{"dataset", d.Dataset}, {"namespace", d.Namespace}} {
		if msg := DataStreamPartProblem(p[1]); msg != "" {
			return fieldErr(path+"."+p[0], fmt.Sprintf("%q %s", p[1], msg))
		}
	}
	return nil
}

// DataStreamPartProblem says why v cannot be the dataset or namespace of
// a data stream name, or returns "": it must be 1 to MaxDataStreamPartLen
// bytes, lowercase, without '-' (the separator of the name's parts) or any
// of \ / * ? " < > | , # : and space, and not start with '_', '+' or '.'.
func DataStreamPartProblem(v string) string {
	switch {
	case v == "":
		return "must not be empty"
	case len(v) > MaxDataStreamPartLen:
		return fmt.Sprintf("is longer than %d bytes", MaxDataStreamPartLen)
	case strings.ToLower(v) != v:
		return "must be lowercase"
	case strings.ContainsAny(v, "-\\/*?\"<>|,#: "):
		return `must not contain '-' or any of \ / * ? " < > | , # : and space`
	case strings.IndexAny(v[:1], "_+.") == 0:
		return "must not start with '_', '+' or '.'"
	}
	return ""
}

// validateAuth checks the credentials: one of api_key, username and
// password, or cloud_auth.
func (e *Elasticsearch) validateAuth(path string) error {
	if e.CloudAuth != "" {
		if e.APIKey != "" || e.Username != "" || e.Password != "" {
			return fieldErr(path+".cloud_auth", "set either cloud_auth, api_key or username and password")
		}
		// Never echo the value.
		if u, _, ok := strings.Cut(e.CloudAuth.Value(), ":"); !ok || u == "" {
			return fieldErr(path+".cloud_auth", `expected "user:password"`)
		}
	}
	if e.APIKey != "" && (e.Username != "" || e.Password != "") {
		return fieldErr(path+".api_key", "set either api_key or username and password, not both")
	}
	if e.Password != "" && e.Username == "" {
		return fieldErr(path+".username", "required with password")
	}
	if e.Username != "" && e.Password == "" {
		return fieldErr(path+".password", "required with username (or password_file)")
	}
	return nil
}

// esReservedHeaders are set by the client (or the compatibility mode) and
// cannot be configured.
var esReservedHeaders = []string{"Accept", "Content-Encoding", "Content-Length", "Content-Type", "Host"}

// validateTransport checks the TLS files, the headers and the proxy.
func (e *Elasticsearch) validateTransport(path string) error {
	if (e.CertFile == "") != (e.KeyFile == "") {
		return fieldErr(path+".cert_file", "cert_file and key_file must be set together")
	}
	if err := checkFiles(path, map[string]string{"ca_file": e.CAFile, "cert_file": e.CertFile, "key_file": e.KeyFile}); err != nil {
		return err
	}
	if err := checkHeaders(path+".headers", e.Headers); err != nil {
		return err
	}
	for name := range e.Headers {
		if i := slices.IndexFunc(esReservedHeaders, func(r string) bool { return strings.EqualFold(r, name) }); i >= 0 {
			return fieldErr(path+".headers", fmt.Sprintf("%q is set by the client", esReservedHeaders[i]))
		}
	}
	if e.ProxyURL != "" {
		u, err := url.Parse(e.ProxyURL)
		if err != nil || !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, u.Scheme) || u.Host == "" {
			return fieldErr(path+".proxy_url", "expected an http, https or socks5 URL such as http://proxy:3128")
		}
	}
	return nil
}

// checkHeaders checks configured HTTP headers: valid names, values without
// line breaks or NUL. It never echoes a value: it is usually a credential.
func checkHeaders(path string, headers map[string]Secret) error {
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if !validHeaderName(name) {
			return fieldErr(path, fmt.Sprintf("%q is not a valid header name", name))
		}
		if strings.ContainsAny(headers[name].Value(), "\r\n\x00") {
			return fieldErr(path+"."+name, "value holds a line break or NUL")
		}
	}
	return nil
}

func (h *SplunkHEC) validate(path string) error {
	if err := h.validateURLs(path); err != nil {
		return err
	}
	if h.Token == "" {
		return fieldErr(path+".token", "required (or token_file)")
	}
	if err := oneOf(path+".endpoint", h.Endpoint, "event", "raw"); err != nil {
		return err
	}
	if h.Sourcetype == "" && !h.RawEndpoint() {
		return fieldErr(path+".sourcetype", "required")
	}
	if err := h.validateMetadata(path); err != nil {
		return err
	}
	if err := h.validateFields(path); err != nil {
		return err
	}
	if err := checkFiles(path, map[string]string{"ca_file": h.CAFile}); err != nil {
		return err
	}
	if h.Ack {
		if err := positive(path+".ack_timeout", h.AckTimeout); err != nil {
			return err
		}
		if err := positive(path+".ack_poll_interval", h.AckPollInterval); err != nil {
			return err
		}
	}
	if err := positive(path+".url_cooldown", h.URLCooldown); err != nil {
		return err
	}
	if err := positive(path+".timeout", h.Timeout); err != nil {
		return err
	}
	return positiveSize(path+".max_event_bytes", h.MaxEventBytes)
}

// validateURLs checks url or urls: one of them, each an http(s) base URL
// (not the collector endpoint), no URL twice.
func (h *SplunkHEC) validateURLs(path string) error {
	switch {
	case h.URL != "" && len(h.URLs) > 0:
		return fieldErr(path+".urls", "set either url or urls, not both")
	case h.URL == "" && len(h.URLs) == 0:
		return fieldErr(path+".url", "required (or urls)")
	}
	key, urls := path+".url", []string{h.URL}
	if len(h.URLs) > 0 {
		urls = h.URLs
	}
	seen := make(map[string]int, len(urls))
	for i, u := range urls {
		if len(h.URLs) > 0 {
			key = fmt.Sprintf("%s.urls[%d]", path, i)
		}
		if err := checkHTTPURL(u); err != nil {
			return fieldErr(key, err.Error())
		}
		base := strings.TrimRight(u, "/")
		if strings.HasSuffix(base, "/services/collector") || strings.Contains(base, "/services/collector/") {
			return fieldErr(key, fmt.Sprintf("%q: give the base URL (https://host:8088), not the endpoint", u))
		}
		if j, dup := seen[base]; dup {
			return fieldErr(key, fmt.Sprintf("%q is urls[%d] again", u, j))
		}
		seen[base] = i
	}
	return nil
}

// validateMetadata parses the index, sourcetype, source and host
// templates. An index must render a Splunk index name (lowercase letters,
// digits, '_' and '-'); with the raw endpoint, whose metadata is per
// request, every value must be literal text.
func (h *SplunkHEC) validateMetadata(path string) error {
	for _, m := range []struct{ key, val string }{
		{"index", h.Index}, {"sourcetype", h.Sourcetype}, {"source", h.Source}, {"host", h.Host},
	} {
		if m.val == "" {
			continue
		}
		t, err := event.ParseTextTemplate(m.val)
		if err != nil {
			return fieldErr(path+"."+m.key, err.Error())
		}
		if h.RawEndpoint() && !t.IsStatic() {
			return fieldErr(path+"."+m.key, fmt.Sprintf("%q: endpoint raw takes one %s per request (a query parameter), so no %%{...} references; use endpoint event", m.val, m.key))
		}
		if m.key == "index" {
			if err := checkSplunkIndex(t.Sample()); err != nil {
				return fieldErr(path+".index", fmt.Sprintf("%q: %v", m.val, err))
			}
		}
	}
	if h.HostField != "" && h.RawEndpoint() {
		return fieldErr(path+".host_field", "not with endpoint raw (one host per request); use endpoint event")
	}
	return nil
}

// checkSplunkIndex checks the literal text of an index: Splunk index names
// hold lowercase letters, digits, '_' and '-' only.
func checkSplunkIndex(s string) error {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("a Splunk index name holds only lowercase letters, digits, '_' and '-', not %q", r)
		}
	}
	return nil
}

// hecReservedFields are names an indexed field must not take: HEC's
// metadata, and Splunk's default fields.
var hecReservedFields = []string{"host", "source", "sourcetype", "index", "time", "linecount", "punct", "splunk_server", "eventtype", "tag", "timestamp"}

// validateFields checks the indexed fields: endpoint event only; names that
// start with a letter and hold letters, digits, '_', '.' and '-', none of
// Splunk's own, not kafka_* when kafka_fields is on; non-empty dotted
// paths.
func (h *SplunkHEC) validateFields(path string) error {
	if h.RawEndpoint() {
		if len(h.Fields) > 0 {
			return fieldErr(path+".fields", "not with endpoint raw: Splunk does not index fields sent to /services/collector/raw")
		}
		return nil // kafka_fields does not apply (its default is on)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Fields)) {
		key := path + ".fields." + name
		if !validIndexedFieldName(name) {
			return fieldErr(key, "an indexed field name starts with a letter and holds letters, digits, '_', '.' and '-'")
		}
		if slices.Contains(hecReservedFields, strings.ToLower(name)) {
			return fieldErr(key, "is a Splunk default field; choose another name")
		}
		if h.WithKafkaFields() && (name == "kafka_topic" || name == "kafka_partition" || name == "kafka_offset") {
			return fieldErr(key, "is sent by kafka_fields already")
		}
		p := h.Fields[name]
		if p == "" {
			return fieldErr(key, "a dotted path into the event is required, e.g. source.ip")
		}
		for seg := range strings.SplitSeq(p, ".") {
			if seg == "" {
				return fieldErr(key, fmt.Sprintf("%q has an empty path segment", p))
			}
		}
	}
	return nil
}

func validIndexedFieldName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return len(s) <= 256
}

func (s *Syslog) validate(path string) error {
	if s.Address == "" {
		return fieldErr(path+".address", "required")
	}
	if err := checkHostPort(s.Address, false); err != nil {
		return fieldErr(path+".address", err.Error())
	}
	if err := oneOf(path+".network", s.Network, "tcp", "tls", "udp", "relp"); err != nil {
		return err
	}
	if err := oneOf(path+".format", s.Format, "json", "cef", "leef"); err != nil {
		return err
	}
	if err := s.validateFormat(path); err != nil {
		return err
	}
	if s.Facility == nil || *s.Facility < 0 || *s.Facility > 23 {
		f := "unset"
		if s.Facility != nil {
			f = strconv.Itoa(*s.Facility)
		}
		return fieldErr(path+".facility", f+" must be between 0 and 23")
	}
	if !validAppName(s.AppName) {
		return fieldErr(path+".app_name", fmt.Sprintf("%q must be 1 to %d printable ASCII characters without spaces (RFC 5424)", s.AppName, maxAppNameBytes))
	}
	if !s.TLS().Enabled {
		for _, f := range [][2]string{{"ca_file", s.CAFile}, {"cert_file", s.CertFile}, {"key_file", s.KeyFile}} {
			if f[1] != "" {
				return fieldErr(path+"."+f[0], "needs network: tls (or network: relp with relp_tls: true)")
			}
		}
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return fieldErr(path+".cert_file", "cert_file and key_file must be set together")
	}
	if err := checkFiles(path, map[string]string{"ca_file": s.CAFile, "cert_file": s.CertFile, "key_file": s.KeyFile}); err != nil {
		return err
	}
	if err := positive(path+".timeout", s.Timeout); err != nil {
		return err
	}
	// TCP_USER_TIMEOUT takes an int of milliseconds.
	if s.TCPUserTimeout < time.Millisecond || s.TCPUserTimeout > math.MaxInt32*time.Millisecond || s.TCPUserTimeout%time.Millisecond != 0 {
		return fieldErr(path+".tcp_user_timeout", fmt.Sprintf("%s must be whole milliseconds between 1ms and %s", s.TCPUserTimeout, math.MaxInt32*time.Millisecond))
	}
	return positiveSize(path+".max_message_bytes", s.MaxMessageBytes)
}

func (w *Webhook) validate(path string) error {
	if w.URL == "" {
		return fieldErr(path+".url", "required")
	}
	if err := checkHTTPURL(w.URL); err != nil {
		return fieldErr(path+".url", err.Error())
	}
	if err := oneOf(path+".method", w.Method, "POST", "PUT"); err != nil {
		return err
	}
	if err := checkHeaders(path+".headers", w.Headers); err != nil {
		return err
	}
	if err := oneOf(path+".mode", w.Mode, "single", "batch"); err != nil {
		return err
	}
	if err := checkFiles(path, map[string]string{"ca_file": w.CAFile}); err != nil {
		return err
	}
	return positive(path+".timeout", w.Timeout)
}

func (f *File) validate(path string) error {
	if f.Path == "" {
		return fieldErr(path+".path", "required")
	}
	if err := positiveSize(path+".max_size", f.MaxSize); err != nil {
		return err
	}
	if f.MaxFiles < 1 {
		return fieldErr(path+".max_files", fmt.Sprintf("%d must be >= 1", f.MaxFiles))
	}
	return nil
}

// SinkName is the route's sink type, e.g. "elasticsearch", for logs and
// metric labels.
func (r *Route) SinkName() string { return r.Sink.Type }

func positive(path string, d time.Duration) error {
	if d <= 0 {
		return fieldErr(path, fmt.Sprintf("%s must be > 0", d))
	}
	return nil
}

func positiveSize(path string, b ByteSize) error {
	if b <= 0 {
		return fieldErr(path, fmt.Sprintf("%s must be > 0", b))
	}
	return nil
}

func oneOf(path, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fieldErr(path, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
}

// checkFiles reports the first of the named files that is set but cannot be
// found, in key order.
func checkFiles(path string, files map[string]string) error {
	for _, key := range slices.Sorted(maps.Keys(files)) {
		name := files[key]
		if name == "" {
			continue
		}
		if _, err := os.Stat(name); err != nil {
			return &FieldError{Path: path + "." + key, Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// checkHostPort accepts host:port with a numeric port in 1..65535. With
// emptyHost the host may be empty (":9090", every interface).
func checkHostPort(s string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if host == "" && !emptyHost {
		return fmt.Errorf("%q has no host", s)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("%q has an invalid host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q needs a port between 1 and 65535", s)
	}
	return nil
}

// checkHTTPURL accepts an absolute http or https URL with a host.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// checkTopic applies Kafka's topic name rules.
func checkTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("empty topic name")
	case t == "." || t == "..":
		return fmt.Errorf("%q is not a valid topic name", t)
	case len(t) > maxTopicNameBytes:
		return fmt.Errorf("topic name is %d characters long, more than %d", len(t), maxTopicNameBytes)
	}
	for _, r := range t {
		if !isAlnum(r) && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("%q is not a valid topic name (letters, digits, ., _ and - only)", t)
		}
	}
	return nil
}

// validName matches [A-Za-z0-9_-]+.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// validHeaderName checks an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && !strings.ContainsRune("!#$%&'*+-.^_`|~", r) {
			return false
		}
	}
	return true
}

func validAppName(s string) bool {
	if s == "" || len(s) > maxAppNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// filterCheck compiles a filter expression; package filter sets it (see
// SetFilterCheck).
var filterCheck func(expr string) error

// SetFilterCheck makes Validate compile every routes[].filter expression
// with check, reporting its error under the field's path. Package filter
// calls it from its init, so that a program that links the filter
// language (every command does) rejects a bad expression at load time
// without config importing the language. It is not safe to call
// concurrently with Validate.
func SetFilterCheck(check func(expr string) error) { filterCheck = check }

// validateFilter checks a route's filter: an expression that compiles, or
// the mapping form's required field.
func validateFilter(path string, f *Filter) error {
	switch {
	case f == nil:
		return nil
	case f.Expr != "":
		if filterCheck != nil {
			if err := filterCheck(f.Expr); err != nil {
				return fieldErr(path, err.Error())
			}
		}
		return nil
	case f.Field == "":
		return fieldErr(path+".field", "required when filter is set")
	}
	return nil
}

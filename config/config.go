// Package config reads siembridge's YAML configuration.
//
// Every struct's zero value means "use the default"; ApplyDefaults fills the
// defaults in and Validate checks the result, naming the full field path of
// the first problem (routes[0].sink.urls: at least one URL is required).
// Load and Parse do both, after expanding ${ENV_VAR} references in scalar
// values, rejecting unknown keys and reading the *_file secrets.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	Kafka   Kafka   `yaml:"kafka"`
	Routes  []Route `yaml:"routes"`
	Metrics Metrics `yaml:"metrics"`
	Log     Log     `yaml:"log"`
	// ShutdownTimeout bounds how long SIGINT/SIGTERM waits for in-flight
	// batches before committing and exiting. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Kafka is how siembridge reaches the cluster.
type Kafka struct {
	// Brokers: host:port seed brokers. Required.
	Brokers []string `yaml:"brokers"`
	// ClientID sent to the brokers. Default "siembridge".
	ClientID string `yaml:"client_id"`
	// Version is the Kafka protocol version to speak, e.g. "3.6.0".
	// Default "2.8.0" (every broker since 2021 understands it).
	Version string `yaml:"version"`
	TLS     TLS    `yaml:"tls"`
	SASL    SASL   `yaml:"sasl"`
	// SessionTimeout of the consumer groups. Default 30s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval of the consumer groups. Default 3s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout: how long a member may take to leave its partitions
	// during a rebalance. Default 60s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// FetchMaxBytes caps one fetch response across all its partitions,
	// like Kafka's fetch.max.bytes (sarama Consumer.Fetch.MaxBytes); a
	// first record batch larger than it still comes whole. Each route
	// lowers it to a quarter of its buffer.max_bytes (at least 1MiB).
	// At most 64MiB (sarama reads responses of up to 100MiB). Default 8MiB.
	FetchMaxBytes ByteSize `yaml:"fetch_max_bytes"`
	// MaxPartitionFetchBytes is what one fetch asks of each partition,
	// like Kafka's max.partition.fetch.bytes (sarama
	// Consumer.Fetch.Default); a larger record still comes whole. Each
	// route lowers it so that one fetch over all the partitions of its
	// topics takes at most a quarter of its buffer.max_bytes (at least
	// 32KiB a partition). At most 64MiB. Default 512KiB.
	MaxPartitionFetchBytes ByteSize `yaml:"max_partition_fetch_bytes"`
	// IsolationLevel, like Kafka's isolation.level: "read_committed"
	// (the default) delivers only records of committed transactions;
	// "read_uncommitted" also those of aborted and open ones.
	IsolationLevel string `yaml:"isolation_level"`
	// PartitionAssignmentStrategy, like librdkafka's
	// partition.assignment.strategy: "roundrobin" (the default), "range",
	// "sticky" or "cooperative-sticky" (incremental rebalancing: members
	// keep the partitions they still own; needs version 2.4.0 or later).
	PartitionAssignmentStrategy string `yaml:"partition_assignment_strategy"`
	// GroupInstanceID turns on static membership (KIP-345), like Kafka's
	// group.instance.id: a member that restarts within session_timeout
	// gets its partitions back without a rebalance. Unique per siembridge
	// process (e.g. "${HOSTNAME}"); every route's group uses it. Needs
	// version 2.3.0 or later. Empty (the default): dynamic membership.
	GroupInstanceID string `yaml:"group_instance_id"`
	// TopicMetadataRefreshInterval is how often a route with
	// topics_regex looks for new or deleted matching topics, like
	// librdkafka's topic.metadata.refresh.interval.ms. Default 5m.
	TopicMetadataRefreshInterval time.Duration `yaml:"topic_metadata_refresh_interval"`
	// Headers passes Kafka record headers into the events. Off by default.
	Headers KafkaHeaders `yaml:"headers"`
}

// TLS for a client connection (Kafka, or a sink's ca_file and friends).
type TLS struct {
	// Enabled turns TLS on. Setting any file below implies it.
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks; logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL authentication to Kafka.
type SASL struct {
	// Mechanism: "" (none), PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
	// OAUTHBEARER, GSSAPI or AWS_MSK_IAM.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
	// PasswordFile is read instead of Password when set.
	PasswordFile string `yaml:"password_file"`
	// OAuthBearer: the token endpoint of mechanism OAUTHBEARER.
	OAuthBearer *OAuthBearer `yaml:"oauthbearer"`
	// Kerberos: the settings of mechanism GSSAPI.
	Kerberos *Kerberos `yaml:"kerberos"`
	// AWSMSKIAM: the settings of mechanism AWS_MSK_IAM.
	AWSMSKIAM *AWSMSKIAM `yaml:"aws_msk_iam"`
}

// Route is one consumer group feeding one sink.
type Route struct {
	// Name identifies the route in logs, metrics and commands. Required,
	// unique, [a-zA-Z0-9_-]+.
	Name string `yaml:"name"`
	// Topics to consume. Required unless TopicsRegex is set.
	Topics []string `yaml:"topics"`
	// TopicsRegex also consumes every topic whose whole name matches this
	// RE2 expression, found at start and every
	// kafka.topic_metadata_refresh_interval; a change rejoins the group.
	// Internal topics (__*), the route's dead-letter topic and its
	// budget.topic never match.
	TopicsRegex string `yaml:"topics_regex"`
	// Group is the consumer group. Default "siembridge-<name>" (see
	// GroupID).
	Group string `yaml:"group"`
	// Start: "oldest" or "newest", for a group with no committed offset.
	// Default "oldest".
	Start string `yaml:"start"`
	// Filter selects the events the route delivers; the others count as
	// done (their offsets are committed) without being sent or rate
	// limited. Nil: every event is delivered.
	Filter *Filter `yaml:"filter"`
	// DropFields are removed from each event sent, as Filebeat's
	// drop_fields: dotted paths (nested keys, dotted keys or a mix);
	// @timestamp and type are never removed. Applied after Filter and
	// Sample. Empty (the default): none.
	DropFields []string `yaml:"drop_fields,omitempty"`
	// KeepFields, when set, are the only fields sent, as Filebeat's
	// include_fields: each path keeps its whole value (an object with
	// everything in it) and the objects on the way to it; @timestamp and
	// type are always kept. Empty (the default): every field.
	KeepFields []string `yaml:"keep_fields,omitempty"`
	// RenameFields renames fields, after DropFields and KeepFields.
	// Nil (the default): none.
	RenameFields *RenameFields `yaml:"rename_fields"`
	// AddFields adds constant fields, last. Nil (the default): none.
	AddFields *AddFields `yaml:"add_fields"`
	// Sample keeps a deterministic share of the events Filter accepts.
	// Nil (the default): all of them.
	Sample *Sample `yaml:"sample"`
	// Budget caps what the route sends per day (see Budget). Nil (the
	// default): no budget.
	Budget *Budget `yaml:"budget"`
	Sink   Sink    `yaml:"sink"`
	Batch  Batch   `yaml:"batch"`
	// DeadLetter is where rejected events go. Default topic
	// "siembridge-<name>-dlq" (see DeadLetterTopic); it cannot be turned
	// off. If it cannot be written the partition waits and retries: a
	// rejected event is never dropped.
	DeadLetter DeadLetter `yaml:"dead_letter"`
	Rate       Rate       `yaml:"rate"`
	Buffer     Buffer     `yaml:"buffer"`
	Retry      Retry      `yaml:"retry"`
	Breaker    Breaker    `yaml:"breaker"`
	// CommitInterval between periodic offset commits. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// Workers bounds the requests a route has in flight at once, over all
	// its partitions. With AdaptiveConcurrency the bound in effect moves
	// below it with the sink's round-trip time. Default 32.
	Workers int `yaml:"workers"`
	// AdaptiveConcurrency grows the requests in flight while the sink's
	// round-trip time stays flat and shrinks them when it climbs or the
	// sink times out (see ratelimit.Concurrency). Default true; false
	// keeps Workers requests in flight whenever there is work.
	AdaptiveConcurrency *bool `yaml:"adaptive_concurrency"`
	// MaxInFlightPerPartition is how many batches of one partition may be
	// on their way to the sink at once. Offsets are still committed
	// contiguously: only up to the first event not yet delivered. Default
	// 4; 1 when Ordered.
	MaxInFlightPerPartition int `yaml:"max_in_flight_per_partition"`
	// Ordered keeps each partition's events in Kafka order at the sink:
	// one batch of a partition in flight at a time, and a retried event
	// goes before anything after it. Default true for the syslog and file
	// sinks (a stream read in order), false for the others.
	Ordered *bool `yaml:"ordered"`
}

// InFlightPerPartition returns the batches of one partition that may be in
// flight at once: 1 for an ordered route, MaxInFlightPerPartition
// otherwise.
func (r *Route) InFlightPerPartition() int {
	if r.Ordered != nil && *r.Ordered {
		return 1
	}
	return max(1, r.MaxInFlightPerPartition)
}

// ConcurrencyAdaptive reports whether the route's requests in flight
// follow the sink (AdaptiveConcurrency, default true).
func (r *Route) ConcurrencyAdaptive() bool {
	return r.AdaptiveConcurrency == nil || *r.AdaptiveConcurrency
}

// Batch bounds one request to the sink.
type Batch struct {
	// MaxEvents per batch. Default 1000.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes per batch (documents, before encoding). Default 5MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxWait before a partial batch is sent. Default 1s.
	MaxWait time.Duration `yaml:"max_wait"`
}

// DeadLetter topic settings.
type DeadLetter struct {
	// Topic receives rejected events with headers naming the original
	// topic, partition, offset, sink, status and reason. Empty: the default
	// "siembridge-<route name>-dlq", filled in by ApplyDefaults.
	Topic string `yaml:"topic"`
}

// Rate limits, applied at the sink. Zero means unlimited.
type Rate struct {
	EventsPerSecond float64  `yaml:"events_per_second"`
	BytesPerSecond  ByteSize `yaml:"bytes_per_second"`
	// Burst in events. Default, when a rate is set: max(batch.max_events,
	// ceil(r/10)) where r is the larger of events_per_second and
	// catchup_events_per_second. A batch larger than the burst is a config
	// error.
	Burst int `yaml:"burst"`
	// CatchupLag: above this many events behind the log end the route
	// runs at the catch-up rates. Default 10000.
	CatchupLag int64 `yaml:"catchup_lag"`
	// CatchupEventsPerSecond while catching up. Default: events_per_second.
	CatchupEventsPerSecond float64 `yaml:"catchup_events_per_second"`
	// CatchupBytesPerSecond while catching up. Default: bytes_per_second.
	CatchupBytesPerSecond ByteSize `yaml:"catchup_bytes_per_second"`
	// Adaptive turns AIMD on: the rate drops on 429/503/slow answers and
	// grows back while the sink is healthy. Default true (a pointer so that
	// "false" can be told from unset).
	Adaptive *bool `yaml:"adaptive"`
	// AdaptiveFloor is the lowest rate AIMD goes to, events/s. Default 10.
	AdaptiveFloor float64 `yaml:"adaptive_floor"`
}

// Buffer bounds what a route holds in memory; at either bound it pauses its
// partitions.
type Buffer struct {
	// MaxEvents consumed but not yet delivered. Default 100000.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes consumed but not yet delivered. Default 64MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Retry of failed deliveries (per batch, jittered exponential backoff).
type Retry struct {
	// InitialInterval. Default 200ms.
	InitialInterval time.Duration `yaml:"initial_interval"`
	// MaxInterval caps the backoff. Default 30s.
	MaxInterval time.Duration `yaml:"max_interval"`
}

// Breaker detects a sink outage.
type Breaker struct {
	// Failures: consecutive failed requests that mark the sink down.
	// Default 5.
	Failures int `yaml:"failures"`
	// InitialProbeInterval is the first interval between probes while
	// down, before jitter; it grows exponentially. Default 500ms, or
	// max_probe_interval when that is set lower.
	InitialProbeInterval time.Duration `yaml:"initial_probe_interval"`
	// MaxProbeInterval caps the backoff between probes while down.
	// Default 30s, or initial_probe_interval when that is set higher.
	MaxProbeInterval time.Duration `yaml:"max_probe_interval"`
}

// Metrics endpoint (Prometheus, health, status page).
type Metrics struct {
	// Listen address. Empty disables the listener. Binds to loopback
	// unless an address says otherwise.
	Listen string `yaml:"listen"`
}

// Log output.
type Log struct {
	// Level: debug, info, warn, error. Default info.
	Level string `yaml:"level"`
	// Format: text or json. Default text.
	Format string `yaml:"format"`
}

// Sink is a route's destination. Type selects which of the blocks below
// applies; keys of another type's block are rejected.
type Sink struct {
	// Type: elasticsearch, splunk_hec, syslog, webhook, file or null.
	Type string `yaml:"type"`

	Elasticsearch *Elasticsearch `yaml:"-"`
	SplunkHEC     *SplunkHEC     `yaml:"-"`
	Syslog        *Syslog        `yaml:"-"`
	Webhook       *Webhook       `yaml:"-"`
	File          *File          `yaml:"-"`
}

// Elasticsearch sink (type: elasticsearch), for Elasticsearch 8.x and 9.x
// and Elastic Cloud.
type Elasticsearch struct {
	// URLs of the cluster nodes. Required unless CloudID is set.
	URLs []string `yaml:"urls,omitempty"`
	// CloudID is an Elastic Cloud deployment's Cloud ID, as Beats'
	// cloud.id: the client decodes it to the cluster's URL. Exclusive with
	// URLs.
	CloudID string `yaml:"cloud_id"`
	// CloudAuth is "user:password" for basic authentication, as Beats'
	// cloud.auth. Exclusive with api_key, username and password.
	CloudAuth Secret `yaml:"cloud_auth"`
	// Index name template. %{+yyyy.MM.dd} style date patterns take the
	// event time. Default "siembridge-%{+yyyy.MM.dd}", none with
	// DataStream.
	Index string `yaml:"index"`
	// DataStream, when set, writes to the data stream
	// <type>-<dataset>-<namespace> instead of Index, with action create.
	DataStream *DataStream `yaml:"data_stream"`
	// Action: create (default; required for data streams) or index.
	Action     string `yaml:"action"`
	APIKey     Secret `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	Username   string `yaml:"username"`
	Password   Secret `yaml:"password"`
	// PasswordFile is read instead of Password when set.
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// for clusters that authenticate clients by certificate. Set both or
	// neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate checks; logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Headers added to every request; values may hold ${ENV} secrets.
	// Content-Type, Accept, Content-Encoding, Content-Length and Host are
	// the client's and cannot be set.
	Headers map[string]Secret `yaml:"headers,omitempty"`
	// ProxyURL is an http, https or socks5 proxy for every request.
	// Default: none configured, so HTTPS_PROXY, HTTP_PROXY and NO_PROXY
	// apply (net/http's ProxyFromEnvironment).
	ProxyURL string `yaml:"proxy_url"`
	// Timeout of each HTTP request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxEventBytes: larger documents go to the dead-letter topic.
	// Default 10MiB.
	MaxEventBytes ByteSize `yaml:"max_event_bytes"`
	// Gzip compresses request bodies. Default false.
	Gzip bool `yaml:"gzip"`
	// Pipeline is an ingest pipeline name, optional. With "%{" it is a
	// template in the syntax of Index, rendered per event (the _bulk
	// action's pipeline); when it is a single field reference and the
	// event lacks the field, the event is sent without a pipeline.
	Pipeline string `yaml:"pipeline"`
}

// DataStream names the data stream of an Elasticsearch sink, in Elastic's
// naming scheme <type>-<dataset>-<namespace>.
type DataStream struct {
	// Type: logs, metrics, traces or synthetics. Default "logs".
	Type string `yaml:"type"`
	// Dataset, e.g. "firewall.pan": lowercase, no '-', at most 100 bytes.
	// Default "generic".
	Dataset string `yaml:"dataset"`
	// Namespace, e.g. "prod": lowercase, no '-', at most 100 bytes.
	// Default "default".
	Namespace string `yaml:"namespace"`
	// AutoRouting takes each part from the event's own data_stream.type,
	// data_stream.dataset and data_stream.namespace fields when present
	// (sanitised as Elasticsearch requires), the values above otherwise,
	// as Logstash's data_stream_auto_routing. Default false: every event
	// goes to the configured stream.
	AutoRouting bool `yaml:"auto_routing"`
}

// SplunkHEC sink (type: splunk_hec).
type SplunkHEC struct {
	// URL of the HEC endpoint base, e.g. https://splunk:8088. Required
	// unless URLs is set; not both.
	URL string `yaml:"url"`
	// URLs of several HEC endpoints (indexers, or load balancers in front
	// of them), used round-robin; a URL whose request failed is skipped
	// for URLCooldown. Each has its own data channel and cookies, and an
	// acknowledgement is asked of the URL that took the events.
	URLs []string `yaml:"urls,omitempty"`
	// URLCooldown is how long a URL is skipped after a request to it
	// failed (refused, timed out, 5xx, busy) while another URL is usable.
	// Default 10s.
	URLCooldown time.Duration `yaml:"url_cooldown"`
	Token       Secret        `yaml:"token"`
	TokenFile   string        `yaml:"token_file"`
	// Endpoint: event (default; /services/collector/event, one JSON
	// envelope per event) or raw (/services/collector/raw, one line per
	// event, for events that are not JSON; metadata per request, no
	// indexed fields).
	Endpoint string `yaml:"endpoint"`
	// Index, Sourcetype, Source and Host are templates: literal text,
	// %{[field][sub]} (or %{field.sub}) with an optional :default, and
	// %{+yyyy.MM.dd} dates (see event.TextTemplate). A value that renders
	// missing is left out (HEC uses the token's default). With endpoint
	// raw they must be literal text. Index: none (the token's default).
	Index string `yaml:"index"`
	// Sourcetype. Default "_json" with endpoint event, none with raw.
	Sourcetype string `yaml:"sourcetype"`
	Source     string `yaml:"source"`
	// Host is the host value; HostField (e.g. host.name), when set and
	// present in the event, takes precedence.
	Host      string `yaml:"host"`
	HostField string `yaml:"host_field"`
	// Fields are indexed fields (HEC's "fields" object): indexed field
	// name → dotted path into the event. A string, number or boolean is
	// sent as a string, an array of them as a multi-value field; a
	// missing, null or empty value, or an object, leaves the field out.
	// Endpoint event only. Default none.
	Fields map[string]string `yaml:"fields,omitempty"`
	// KafkaFields adds the indexed fields kafka_topic, kafka_partition and
	// kafka_offset, which make duplicates findable. Default true; endpoint
	// event only.
	KafkaFields *bool  `yaml:"kafka_fields"`
	Gzip        bool   `yaml:"gzip"`
	CAFile      string `yaml:"ca_file"`
	// InsecureSkipVerify disables certificate checks; logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Ack turns on indexer acknowledgement.
	Ack bool `yaml:"ack"`
	// AckTimeout before an unacknowledged batch is sent again. Default 60s.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// AckPollInterval. Default 1s.
	AckPollInterval time.Duration `yaml:"ack_poll_interval"`
	// Timeout of each HTTP request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxEventBytes: larger events go to the dead-letter topic. Default 1MiB.
	MaxEventBytes ByteSize `yaml:"max_event_bytes"`
}

// BaseURLs returns the HEC base URLs: URLs, or URL alone.
func (h *SplunkHEC) BaseURLs() []string {
	if len(h.URLs) > 0 {
		return h.URLs
	}
	if h.URL == "" {
		return nil
	}
	return []string{h.URL}
}

// RawEndpoint reports whether events go to /services/collector/raw.
func (h *SplunkHEC) RawEndpoint() bool { return h.Endpoint == "raw" }

// WithKafkaFields reports whether the kafka_* indexed fields are sent
// (KafkaFields, default true).
func (h *SplunkHEC) WithKafkaFields() bool { return h.KafkaFields == nil || *h.KafkaFields }

// Syslog sink (type: syslog): RFC 5424 or RFC 3164 messages over TCP with
// octet counting (RFC 6587) or newline framing, TLS (RFC 5425), UDP
// (RFC 5426, lossy) or RELP (application-level acknowledgements).
type Syslog struct {
	// Address host:port. Required.
	Address string `yaml:"address"`
	// Network: tcp (default), tls, udp (no acknowledgement at all: lossy)
	// or relp (rsyslog's RELP: every message acknowledged by the receiver).
	Network string `yaml:"network"`
	// Format of the message body: json (default), cef or leef (LEEF 2.0).
	Format string `yaml:"format"`
	// RFC of the message header: rfc5424 (default) or rfc3164 (BSD).
	RFC string `yaml:"rfc"`
	// Framing over tcp and tls: octet_counting (default, RFC 6587 3.4.1)
	// or newline (non-transparent, RFC 6587 3.4.2). udp sends one message
	// per datagram and relp one per command, unframed.
	Framing string `yaml:"framing"`
	// CEF options (format: cef).
	CEF SyslogCEF `yaml:"cef"`
	// LEEF options (format: leef).
	LEEF SyslogLEEF `yaml:"leef"`
	// RELPWindow is the number of RELP commands sent but not yet
	// acknowledged (network: relp). Default 128, librelp's.
	RELPWindow int `yaml:"relp_window"`
	// RELPTLS runs RELP over TLS (network: relp), as rsyslog's imrelp
	// with tls="on" expects; ca_file, cert_file, key_file and
	// insecure_skip_verify apply as for network tls. Default false.
	RELPTLS bool `yaml:"relp_tls"`
	// Facility (0-23). Default 1 (user).
	Facility *int `yaml:"facility"`
	// AppName in the header. Default "siembridge".
	AppName string `yaml:"app_name"`
	// HostField (e.g. host.name) gives the HOSTNAME; default this host.
	HostField string `yaml:"host_field"`
	// CEF header fields (format: cef).
	CEFVendor  string `yaml:"cef_vendor"`
	CEFProduct string `yaml:"cef_product"`
	CEFVersion string `yaml:"cef_version"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate checks; logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout of a connect, and of a batch's write plus the wait for its
	// TCP acknowledgement (Linux). Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// TCPUserTimeout (TCP_USER_TIMEOUT, Linux): the kernel abandons the
	// connection when what it sent stays unacknowledged this long, so a
	// silently dead receiver is noticed without waiting ~15 minutes for
	// TCP to give up. Whole milliseconds. Default 30s. Ignored elsewhere.
	TCPUserTimeout time.Duration `yaml:"tcp_user_timeout"`
	// MaxMessageBytes: larger messages go to the dead-letter topic.
	// Default 64KiB.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"`
}

// SyslogCEF holds the CEF options of a syslog sink.
type SyslogCEF struct {
	// Mapping adds CEF extension keys or overrides the default ones: CEF
	// key → dotted ECS field; an empty field removes a default key.
	Mapping map[string]string `yaml:"mapping"`
}

// SyslogLEEF holds the LEEF options of a syslog sink.
type SyslogLEEF struct {
	// Delimiter between attributes: one character, or tab, or its hex
	// code (0x5E, x5E). Default tab.
	Delimiter string `yaml:"delimiter"`
	// Mapping adds LEEF attribute keys or overrides the default ones, as
	// SyslogCEF.Mapping does.
	Mapping map[string]string `yaml:"mapping"`
}

// Webhook sink (type: webhook) for SOAR platforms.
type Webhook struct {
	// URL to send to. Required.
	URL string `yaml:"url"`
	// Method: POST (default) or PUT.
	Method string `yaml:"method"`
	// Headers added to each request; values may hold ${ENV} secrets.
	Headers map[string]Secret `yaml:"headers"`
	// Mode: single (one event per request, default) or batch (a JSON
	// array per request).
	Mode string `yaml:"mode"`
	// Filter is deprecated: it moved to the route (routes[].filter).
	// ApplyDefaults moves a webhook filter there; Validate rejects one
	// left here (the route sets its own too).
	Filter *Filter `yaml:"filter"`
	CAFile string  `yaml:"ca_file"`
	// InsecureSkipVerify disables certificate checks; logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout of each HTTP request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// Filter selects the events a route delivers (package filter applies
// it); the others count as done. In YAML it is an expression (a string,
// see package filter: `event.action == "deny" && cidr(source.ip,
// "10.0.0.0/8")`) or the older mapping {field, equals}.
type Filter struct {
	// Expr is the filter expression, when routes[].filter is a string.
	Expr string `yaml:"-"`
	// Field is a dotted path into the event, e.g. event.kind: a nested key,
	// a key holding dots, or a mix (see event.Field). Required.
	Field string `yaml:"field"`
	// Equals: the field's value must equal one of these (as text: a
	// string unquoted, a number or boolean as written). Empty means the
	// field only has to exist (a JSON null counts as absent).
	Equals []string `yaml:"equals"`
}

// File sink (type: file): NDJSON with size-based rotation, fsync before
// acknowledging.
type File struct {
	// Path of the current file. Required.
	Path string `yaml:"path"`
	// MaxSize before rotation. Default 100MiB.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxFiles rotated files kept. Default 5.
	MaxFiles int `yaml:"max_files"`
}

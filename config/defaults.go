package config

import (
	"math"
	"strings"
	"time"
)

// Defaults. Each field's doc comment in config.go names its default too.
const (
	DefaultClientID          = "siembridge"
	DefaultKafkaVersion      = "2.8.0"
	DefaultSessionTimeout    = 30 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultFetchMaxBytes     = 8 * MiB
	DefaultMaxPartitionFetch = 512 * KiB
	DefaultShutdownTimeout   = 30 * time.Second

	DefaultStart          = "oldest"
	DefaultBatchMaxEvents = 1000
	DefaultBatchMaxBytes  = 5 * MiB
	DefaultBatchMaxWait   = time.Second
	// DefaultBufferMaxEvents lets max_bytes bind for events of a few
	// hundred bytes and more: at 20000 the pipelines of 16 partitions (4
	// batches of 1000 in flight each) kept hitting it, and pausing and
	// resuming cost a third of the throughput (issue 14).
	DefaultBufferMaxEvents = 100000
	DefaultBufferMaxBytes  = 64 * MiB
	DefaultCatchupLag      = 10000
	DefaultAdaptiveFloor   = 10.0
	DefaultRetryInitial    = 200 * time.Millisecond
	DefaultRetryMax        = 30 * time.Second
	DefaultCommitInterval  = time.Second
	DefaultWorkers         = 32
	// DefaultMaxInFlightPerPartition: measured with `siembridge bench
	// --scenarios rtt` (4 partitions, 100 ms away): 4 in flight gave 0.70
	// of the rate at once, 8 gave 0.79. The route's buffer and its bound
	// on bytes in flight (a quarter of the buffer) hold the memory either
	// way.
	DefaultMaxInFlightPerPartition = 8

	// Breaker: package breaker has no defaults of its own.
	DefaultBreakerFailures      = 5
	DefaultInitialProbeInterval = 500 * time.Millisecond
	// DefaultMaxProbeInterval is short on purpose: a probe is one small
	// request, and a sink that comes back must be noticed within a second
	// or two, not half a minute later (issue 14).
	DefaultMaxProbeInterval = 2 * time.Second

	// Volume settings (routes[].rename_fields, routes[].add_fields), as
	// Filebeat's rename and add_fields processors default them.
	DefaultRenameFailOnError = true
	DefaultAddFieldsTarget   = "fields"

	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// Sink defaults. The sink packages take their config blocks as given and
// default nothing: these are the only defaults of a sink.
const (
	DefaultIndex           = "siembridge-%{+yyyy.MM.dd}"
	DefaultESAction        = "create"
	DefaultESTimeout       = 30 * time.Second
	DefaultESMaxEventBytes = 10 * MiB
	// Elastic's defaults for a data stream's parts (logs-generic-default).
	DefaultDataStreamType      = "logs"
	DefaultDataStreamDataset   = "generic"
	DefaultDataStreamNamespace = "default"

	DefaultHECSourcetype      = "_json"
	DefaultHECAckTimeout      = 60 * time.Second
	DefaultHECAckPollInterval = time.Second
	DefaultHECTimeout         = 30 * time.Second
	DefaultHECMaxEventBytes   = 1 * MiB
	DefaultHECURLCooldown     = 10 * time.Second
	DefaultHECEndpoint        = "event"

	DefaultSyslogNetwork         = "tcp"
	DefaultSyslogFormat          = "json"
	DefaultSyslogFacility        = 1 // user
	DefaultSyslogAppName         = "siembridge"
	DefaultCEFVendor             = "siembridge"
	DefaultCEFProduct            = "siembridge"
	DefaultCEFVersion            = "1.0"
	DefaultSyslogTimeout         = 10 * time.Second
	DefaultSyslogTCPUserTimeout  = 30 * time.Second
	DefaultSyslogMaxMessageBytes = 64 * KiB
	DefaultSyslogRFC             = "rfc5424"
	DefaultSyslogFraming         = "octet_counting"
	DefaultLEEFDelimiter         = "\t"
	DefaultRELPWindow            = 128 // librelp's default window
	// DefaultSyslogUDPMaxMessageBytes is max_message_bytes for network
	// udp: rsyslog's default maximum message size. A larger message is
	// sent in IP fragments, which receivers and firewalls often drop.
	DefaultSyslogUDPMaxMessageBytes = 8 * KiB
	// MaxSyslogUDPMessageBytes is the largest UDP payload over IPv4.
	MaxSyslogUDPMessageBytes = 65507

	DefaultWebhookMethod  = "POST"
	DefaultWebhookMode    = "single"
	DefaultWebhookTimeout = 30 * time.Second

	DefaultFileMaxSize  = 100 * MiB
	DefaultFileMaxFiles = 5
)

// Budget defaults (routes[].budget).
const (
	DefaultBudgetReset        = "00:00"
	DefaultBudgetTimezone     = "UTC"
	DefaultBudgetWhenSpent    = "defer"
	DefaultBudgetSyncInterval = 5 * time.Second
	// BudgetSuffix is appended to GroupPrefix and a route's name to form
	// its default budget state topic.
	BudgetSuffix = "-budget"
)

// DefaultBudgetTopic is the budget state topic of a route named name:
// "siembridge-<name>-budget".
func DefaultBudgetTopic(name string) string { return GroupPrefix + name + BudgetSuffix }

// GroupPrefix is prepended to a route's name to form its default group
// (and its default dead-letter topic).
const GroupPrefix = "siembridge-"

// DeadLetterSuffix is appended to GroupPrefix and a route's name to form
// its default dead-letter topic.
const DeadLetterSuffix = "-dlq"

// DefaultGroupID is the consumer group of a route named name that sets
// none: "siembridge-<name>".
func DefaultGroupID(name string) string { return GroupPrefix + name }

// DefaultDeadLetterTopic is the dead-letter topic of a route named name
// that sets none: "siembridge-<name>-dlq".
func DefaultDeadLetterTopic(name string) string { return GroupPrefix + name + DeadLetterSuffix }

// GroupID is the route's consumer group: Group, or DefaultGroupID of its
// name when Group is empty. ApplyDefaults fills Group in, so after Load or
// Parse the two agree; GroupID also serves a Route built in code, so use it
// rather than reading Group.
func (r Route) GroupID() string {
	if r.Group != "" {
		return r.Group
	}
	return DefaultGroupID(r.Name)
}

// DeadLetterTopic is where the route writes the events a sink rejects:
// DeadLetter.Topic, or DefaultDeadLetterTopic of its name when that is
// empty. A route always has one; it cannot be turned off, because a
// rejected event is never dropped. ApplyDefaults fills DeadLetter.Topic in,
// so after Load or Parse the two agree; DeadLetterTopic also serves a Route
// built in code.
func (r Route) DeadLetterTopic() string {
	if r.DeadLetter.Topic != "" {
		return r.DeadLetter.Topic
	}
	return DefaultDeadLetterTopic(r.Name)
}

// ApplyDefaults fills in every zero field that has a default, allocates the
// sink block for the sink's type when it is missing, and normalizes the case
// of the few case-insensitive words (SASL mechanism, HTTP method, log level
// and format). It never fails, may be called more than once, and does not
// validate: Validate expects it to have run (Parse and Load call both).
func (c *Config) ApplyDefaults() {
	if c == nil {
		return
	}
	k := &c.Kafka
	setDefault(&k.ClientID, DefaultClientID)
	setDefault(&k.Version, DefaultKafkaVersion)
	setDefault(&k.SessionTimeout, DefaultSessionTimeout)
	setDefault(&k.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&k.RebalanceTimeout, DefaultRebalanceTimeout)
	setDefault(&k.FetchMaxBytes, DefaultFetchMaxBytes)
	setDefault(&k.MaxPartitionFetchBytes, DefaultMaxPartitionFetch)
	if k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.KeyFile != "" {
		k.TLS.Enabled = true
	}
	k.SASL.Mechanism = strings.ToUpper(k.SASL.Mechanism)
	k.applyConsumerDefaults()

	for i := range c.Routes {
		c.Routes[i].applyDefaults()
	}

	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
}

func (r *Route) applyDefaults() {
	if r.Name != "" {
		setDefault(&r.Group, DefaultGroupID(r.Name))
		setDefault(&r.DeadLetter.Topic, DefaultDeadLetterTopic(r.Name))
	}
	setDefault(&r.Start, DefaultStart)
	if r.Budget != nil {
		r.Budget.applyDefaults(r.Name)
	}
	setDefault(&r.Batch.MaxEvents, DefaultBatchMaxEvents)
	setDefault(&r.Batch.MaxBytes, DefaultBatchMaxBytes)
	setDefault(&r.Batch.MaxWait, DefaultBatchMaxWait)
	setDefault(&r.Buffer.MaxEvents, DefaultBufferMaxEvents)
	setDefault(&r.Buffer.MaxBytes, DefaultBufferMaxBytes)

	rt := &r.Rate
	setDefault(&rt.CatchupLag, DefaultCatchupLag)
	setDefault(&rt.CatchupEventsPerSecond, rt.EventsPerSecond)
	setDefault(&rt.CatchupBytesPerSecond, rt.BytesPerSecond)
	if rt.Adaptive == nil {
		on := true
		rt.Adaptive = &on
	}
	setDefault(&rt.AdaptiveFloor, DefaultAdaptiveFloor)
	// The burst must hold a whole batch (Validate rejects a smaller one) and
	// a tenth of a second at the highest configured rate. The catch-up rate
	// counts too: it is the one that runs while a backlog drains.
	if rate := max(rt.EventsPerSecond, rt.CatchupEventsPerSecond); rt.Burst == 0 && rate > 0 {
		rt.Burst = max(r.Batch.MaxEvents, ceilInt(rate/10))
	}

	setDefault(&r.Retry.InitialInterval, DefaultRetryInitial)
	setDefault(&r.Retry.MaxInterval, DefaultRetryMax)
	setDefault(&r.Breaker.Failures, DefaultBreakerFailures)
	// Each of the two probe intervals bends to the other when only that
	// one is set: a short max_probe_interval lowers the first interval, a
	// long initial_probe_interval raises the cap.
	br := &r.Breaker
	if m := br.MaxProbeInterval; br.InitialProbeInterval == 0 && m > 0 && m < DefaultInitialProbeInterval {
		br.InitialProbeInterval = m
	}
	setDefault(&br.InitialProbeInterval, DefaultInitialProbeInterval)
	setDefault(&br.MaxProbeInterval, max(DefaultMaxProbeInterval, br.InitialProbeInterval))
	setDefault(&r.CommitInterval, DefaultCommitInterval)
	setDefault(&r.Workers, DefaultWorkers)
	setDefault(&r.MaxInFlightPerPartition, DefaultMaxInFlightPerPartition)
	if r.Ordered == nil {
		// A stream read in order (a syslog receiver, a file) keeps the
		// partition's order by default.
		ordered := r.Sink.Type == "syslog" || r.Sink.Type == "file"
		r.Ordered = &ordered
	}
	r.Sink.applyDefaults()
	r.applyVolumeDefaults()
	// The filter moved from the webhook block to the route: carry an old
	// config's over. With both set Validate names the one to remove.
	if w := r.Sink.Webhook; w != nil && w.Filter != nil && r.Filter == nil {
		r.Filter, w.Filter = w.Filter, nil
	}
}

func (s *Sink) applyDefaults() {
	s.block(true)
	if es := s.Elasticsearch; es != nil {
		if ds := es.DataStream; ds != nil {
			setDefault(&ds.Type, DefaultDataStreamType)
			setDefault(&ds.Dataset, DefaultDataStreamDataset)
			setDefault(&ds.Namespace, DefaultDataStreamNamespace)
		} else {
			setDefault(&es.Index, DefaultIndex)
		}
		setDefault(&es.Action, DefaultESAction)
		setDefault(&es.Timeout, DefaultESTimeout)
		setDefault(&es.MaxEventBytes, DefaultESMaxEventBytes)
	}
	if h := s.SplunkHEC; h != nil {
		setDefault(&h.Endpoint, DefaultHECEndpoint)
		if !h.RawEndpoint() {
			// Raw lines are not JSON: their sourcetype is the token's
			// unless one is set.
			setDefault(&h.Sourcetype, DefaultHECSourcetype)
		}
		setDefault(&h.URLCooldown, DefaultHECURLCooldown)
		if h.KafkaFields == nil {
			on := true
			h.KafkaFields = &on
		}
		setDefault(&h.AckTimeout, DefaultHECAckTimeout)
		setDefault(&h.AckPollInterval, DefaultHECAckPollInterval)
		setDefault(&h.Timeout, DefaultHECTimeout)
		setDefault(&h.MaxEventBytes, DefaultHECMaxEventBytes)
	}
	if sl := s.Syslog; sl != nil {
		setDefault(&sl.Network, DefaultSyslogNetwork)
		setDefault(&sl.Format, DefaultSyslogFormat)
		if sl.Facility == nil {
			f := DefaultSyslogFacility
			sl.Facility = &f
		}
		setDefault(&sl.AppName, DefaultSyslogAppName)
		setDefault(&sl.CEFVendor, DefaultCEFVendor)
		setDefault(&sl.CEFProduct, DefaultCEFProduct)
		setDefault(&sl.CEFVersion, DefaultCEFVersion)
		setDefault(&sl.Timeout, DefaultSyslogTimeout)
		setDefault(&sl.TCPUserTimeout, DefaultSyslogTCPUserTimeout)
		if sl.Network == "udp" {
			setDefault(&sl.MaxMessageBytes, DefaultSyslogUDPMaxMessageBytes)
		}
		setDefault(&sl.MaxMessageBytes, DefaultSyslogMaxMessageBytes)
		setDefault(&sl.RFC, DefaultSyslogRFC)
		setDefault(&sl.Framing, DefaultSyslogFraming)
		setDefault(&sl.LEEF.Delimiter, DefaultLEEFDelimiter)
		setDefault(&sl.RELPWindow, DefaultRELPWindow)
	}
	if w := s.Webhook; w != nil {
		w.Method = strings.ToUpper(w.Method)
		setDefault(&w.Method, DefaultWebhookMethod)
		setDefault(&w.Mode, DefaultWebhookMode)
		setDefault(&w.Timeout, DefaultWebhookTimeout)
	}
	if f := s.File; f != nil {
		setDefault(&f.MaxSize, DefaultFileMaxSize)
		setDefault(&f.MaxFiles, DefaultFileMaxFiles)
	}
}

// setDefault sets *p to def when *p is the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// ceilInt rounds x up, saturating at math.MaxInt.
func ceilInt(x float64) int {
	x = math.Ceil(x)
	if x >= math.MaxInt {
		return math.MaxInt
	}
	return int(x)
}

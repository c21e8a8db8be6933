package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(kafkaOK + `
routes:
  - {name: es, topics: [t], sink: {type: elasticsearch, urls: ["http://e:9200"]}}
  - {name: hec, topics: [t], sink: {type: splunk_hec, url: "https://s:8088", token: x}}
  - {name: sys, topics: [t], sink: {type: syslog, address: "q:514"}}
  - {name: hook, topics: [t], sink: {type: webhook, url: "https://w", method: put}}
  - {name: file, topics: [t], sink: {type: file, path: /x}}
  - {name: fast, topics: [t], sink: {type: "null"}, rate: {events_per_second: 50000, bytes_per_second: 1MiB}}
  - {name: slow, topics: [t], sink: {type: "null"}, rate: {events_per_second: 2000, adaptive: false}, batch: {max_events: 100}}
  - {name: catchup, topics: [t], sink: {type: "null"}, rate: {catchup_events_per_second: 30000}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes
	tests := []struct {
		name      string
		got, want any
	}{
		{"kafka.client_id", c.Kafka.ClientID, "siembridge"},
		{"kafka.version", c.Kafka.Version, "2.8.0"},
		{"kafka.session_timeout", c.Kafka.SessionTimeout, 30 * time.Second},
		{"kafka.heartbeat_interval", c.Kafka.HeartbeatInterval, 3 * time.Second},
		{"kafka.rebalance_timeout", c.Kafka.RebalanceTimeout, 60 * time.Second},
		{"kafka.fetch_max_bytes", c.Kafka.FetchMaxBytes, 8 * MiB},
		{"kafka.max_partition_fetch_bytes", c.Kafka.MaxPartitionFetchBytes, 512 * KiB},
		{"kafka.tls.enabled", c.Kafka.TLS.Enabled, false},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"metrics.listen", c.Metrics.Listen, ""},
		{"shutdown_timeout", c.ShutdownTimeout, 30 * time.Second},
		{"group", r[0].Group, "siembridge-es"},
		{"start", r[0].Start, "oldest"},
		{"batch.max_events", r[0].Batch.MaxEvents, 1000},
		{"batch.max_bytes", r[0].Batch.MaxBytes, 5 * MiB},
		{"batch.max_wait", r[0].Batch.MaxWait, time.Second},
		{"buffer.max_events", r[0].Buffer.MaxEvents, 100000},
		{"buffer.max_bytes", r[0].Buffer.MaxBytes, 64 * MiB},
		{"rate.events_per_second", r[0].Rate.EventsPerSecond, 0.0},
		{"rate.burst unlimited", r[0].Rate.Burst, 0},
		{"rate.catchup_lag", r[0].Rate.CatchupLag, int64(10000)},
		{"rate.adaptive", *r[0].Rate.Adaptive, true},
		{"rate.adaptive_floor", r[0].Rate.AdaptiveFloor, 10.0},
		{"retry.initial_interval", r[0].Retry.InitialInterval, 200 * time.Millisecond},
		{"retry.max_interval", r[0].Retry.MaxInterval, 30 * time.Second},
		{"breaker.failures", r[0].Breaker.Failures, 5},
		{"breaker.initial_probe_interval", r[0].Breaker.InitialProbeInterval, 500 * time.Millisecond},
		{"breaker.max_probe_interval", r[0].Breaker.MaxProbeInterval, 2 * time.Second},
		{"commit_interval", r[0].CommitInterval, time.Second},
		{"workers", r[0].Workers, 32},
		{"max_in_flight_per_partition", r[0].MaxInFlightPerPartition, 8},
		{"in flight per partition, elasticsearch", r[0].InFlightPerPartition(), 8},
		{"in flight per partition, syslog (ordered)", r[2].InFlightPerPartition(), 1},
		{"adaptive concurrency", r[0].ConcurrencyAdaptive(), true},
		{"dead_letter.topic", r[0].DeadLetter.Topic, "siembridge-es-dlq"},
		{"es.index", r[0].Sink.Elasticsearch.Index, "siembridge-%{+yyyy.MM.dd}"},
		{"es.action", r[0].Sink.Elasticsearch.Action, "create"},
		{"es.timeout", r[0].Sink.Elasticsearch.Timeout, 30 * time.Second},
		{"es.max_event_bytes", r[0].Sink.Elasticsearch.MaxEventBytes, 10 * MiB},
		{"es.gzip", r[0].Sink.Elasticsearch.Gzip, false},
		{"hec.sourcetype", r[1].Sink.SplunkHEC.Sourcetype, "_json"},
		{"hec.ack_timeout", r[1].Sink.SplunkHEC.AckTimeout, 60 * time.Second},
		{"hec.ack_poll_interval", r[1].Sink.SplunkHEC.AckPollInterval, time.Second},
		{"hec.timeout", r[1].Sink.SplunkHEC.Timeout, 30 * time.Second},
		{"hec.max_event_bytes", r[1].Sink.SplunkHEC.MaxEventBytes, MiB},
		{"syslog.network", r[2].Sink.Syslog.Network, "tcp"},
		{"syslog.format", r[2].Sink.Syslog.Format, "json"},
		{"syslog.facility", *r[2].Sink.Syslog.Facility, 1},
		{"syslog.app_name", r[2].Sink.Syslog.AppName, "siembridge"},
		{"syslog.cef_vendor", r[2].Sink.Syslog.CEFVendor, "siembridge"},
		{"syslog.cef_product", r[2].Sink.Syslog.CEFProduct, "siembridge"},
		{"syslog.cef_version", r[2].Sink.Syslog.CEFVersion, "1.0"},
		{"syslog.timeout", r[2].Sink.Syslog.Timeout, 10 * time.Second},
		{"syslog.tcp_user_timeout", r[2].Sink.Syslog.TCPUserTimeout, 30 * time.Second},
		{"syslog.max_message_bytes", r[2].Sink.Syslog.MaxMessageBytes, 64 * KiB},
		{"webhook.method normalized", r[3].Sink.Webhook.Method, "PUT"},
		{"webhook.mode", r[3].Sink.Webhook.Mode, "single"},
		{"webhook.timeout", r[3].Sink.Webhook.Timeout, 30 * time.Second},
		{"file.max_size", r[4].Sink.File.MaxSize, 100 * MiB},
		{"file.max_files", r[4].Sink.File.MaxFiles, 5},
		{"null sink has no block", r[5].Sink, Sink{Type: "null"}},
		{"burst from rate", r[5].Rate.Burst, 5000},
		{"catchup eps from eps", r[5].Rate.CatchupEventsPerSecond, 50000.0},
		{"catchup bps from bps", r[5].Rate.CatchupBytesPerSecond, MiB},
		{"burst from batch", r[6].Rate.Burst, 200},
		{"adaptive false kept", *r[6].Rate.Adaptive, false},
		{"burst from catch-up rate", r[7].Rate.Burst, 3000},
		{"catch-up alone leaves eps unlimited", r[7].Rate.EventsPerSecond, 0.0},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	// ApplyDefaults is idempotent.
	before := *c
	before.Routes = append([]Route(nil), c.Routes...)
	c.ApplyDefaults()
	if !reflect.DeepEqual(before, *c) {
		t.Error("a second ApplyDefaults changed the config")
	}
}

func TestDefaultsTLSImplied(t *testing.T) {
	t.Parallel()
	c := Config{Kafka: Kafka{TLS: TLS{CAFile: "ca.pem"}}}
	c.ApplyDefaults()
	if !c.Kafka.TLS.Enabled {
		t.Error("tls.ca_file did not imply tls.enabled")
	}
}

// TestRouteNames: the group and dead-letter topic of a route come from one
// place, whether the route went through ApplyDefaults or was built in code.
func TestRouteNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		route      Route
		group, dlq string
	}{
		{"defaults", Route{Name: "elastic"}, "siembridge-elastic", "siembridge-elastic-dlq"},
		{"set", Route{Name: "elastic", Group: "g", DeadLetter: DeadLetter{Topic: "parked"}}, "g", "parked"},
	}
	for _, tt := range tests {
		r := tt.route
		if got := r.GroupID(); got != tt.group {
			t.Errorf("%s: GroupID() = %q, want %q", tt.name, got, tt.group)
		}
		if got := r.DeadLetterTopic(); got != tt.dlq {
			t.Errorf("%s: DeadLetterTopic() = %q, want %q", tt.name, got, tt.dlq)
		}
		r.applyDefaults()
		if r.Group != tt.group || r.DeadLetter.Topic != tt.dlq {
			t.Errorf("%s: applyDefaults filled group %q, dead_letter.topic %q; want %q, %q", tt.name, r.Group, r.DeadLetter.Topic, tt.group, tt.dlq)
		}
		if r.GroupID() != tt.group || r.DeadLetterTopic() != tt.dlq {
			t.Errorf("%s: accessors changed after applyDefaults", tt.name)
		}
	}
}

// TestDefaultsProbeIntervals: when only one of the breaker's probe
// intervals is set, the other's default bends to it instead of failing
// Validate.
func TestDefaultsProbeIntervals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		set, want Breaker
	}{
		{"none", Breaker{}, Breaker{InitialProbeInterval: 500 * time.Millisecond, MaxProbeInterval: 2 * time.Second}},
		{"initial above the default max", Breaker{InitialProbeInterval: time.Minute}, Breaker{InitialProbeInterval: time.Minute, MaxProbeInterval: time.Minute}},
		{"max below the default initial", Breaker{MaxProbeInterval: 300 * time.Millisecond}, Breaker{InitialProbeInterval: 300 * time.Millisecond, MaxProbeInterval: 300 * time.Millisecond}},
		{"max above the default initial", Breaker{MaxProbeInterval: 5 * time.Second}, Breaker{InitialProbeInterval: 500 * time.Millisecond, MaxProbeInterval: 5 * time.Second}},
		{"both set, wrong order, kept for Validate", Breaker{InitialProbeInterval: time.Minute, MaxProbeInterval: time.Second}, Breaker{InitialProbeInterval: time.Minute, MaxProbeInterval: time.Second}},
	}
	for _, tt := range tests {
		r := Route{Name: "r", Breaker: tt.set}
		r.applyDefaults()
		r.Breaker.Failures = 0
		if r.Breaker != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, r.Breaker, tt.want)
		}
	}
}

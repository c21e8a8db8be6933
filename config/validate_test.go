package config

import (
	"errors"
	"strings"
	"testing"
)

const kafkaOK = "kafka: {brokers: [\"k:9092\"]}\n"

// route returns a config with kafkaOK and one route named r on topic t,
// with body (YAML at route level, unindented) added.
func route(body string) string {
	return kafkaOK + "routes:\n  - name: r\n    topics: [t]\n" + indent(body, "    ")
}

// sink returns a config with one route whose sink block is body.
func sink(body string) string {
	return route("sink:\n" + indent(body, "  "))
}

func indent(s, pre string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(pre + line)
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

const fileSink = "sink: {type: file, path: /tmp/out.ndjson}\n"

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 250)
	tests := []struct {
		name string
		yaml string
		path string // the error must start with path + ": "
		msg  string // and contain msg, when set
	}{
		{"empty file", "", "routes", "at least one route is required"},
		{"no routes", kafkaOK + "routes: []\n", "routes", ""},
		{"no brokers", "routes: [{name: r, topics: [t], sink: {type: \"null\"}}]\n", "kafka.brokers", "at least one broker"},
		{"broker without port", "kafka: {brokers: [k]}\nroutes: [{name: r, topics: [t], sink: {type: \"null\"}}]\n", "kafka.brokers[0]", "host:port"},
		{"broker port 0", "kafka: {brokers: [\"k:1\", \"k:0\"]}\nroutes: [{name: r, topics: [t], sink: {type: \"null\"}}]\n", "kafka.brokers[1]", "port"},
		{"broker port name", "kafka: {brokers: [\"k:kafka\"]}\nroutes: [{name: r, topics: [t], sink: {type: \"null\"}}]\n", "kafka.brokers[0]", ""},
		{"kafka version", strings.Replace(route(fileSink), "]}", "], version: banana}", 1), "kafka.version", "banana"},
		{"kafka version too old", strings.Replace(route(fileSink), "]}", "], version: 0.9.0.0}", 1), "kafka.version", "too old"},
		{"sasl mechanism", strings.Replace(route(fileSink), "]}", "], sasl: {mechanism: KERBEROS}}", 1), "kafka.sasl.mechanism", "KERBEROS"},
		{"sasl no username", strings.Replace(route(fileSink), "]}", "], sasl: {mechanism: plain, password: x}}", 1), "kafka.sasl.username", ""},
		{"sasl no password", strings.Replace(route(fileSink), "]}", "], sasl: {mechanism: SCRAM-SHA-256, username: u}}", 1), "kafka.sasl.password", ""},
		{"sasl user without mechanism", strings.Replace(route(fileSink), "]}", "], sasl: {username: u}}", 1), "kafka.sasl.mechanism", ""},
		{"tls file missing", strings.Replace(route(fileSink), "]}", "], tls: {ca_file: /nonexistent/ca.pem}}", 1), "kafka.tls.ca_file", "no such file"},
		{"tls cert without key", strings.Replace(route(fileSink), "]}", "], tls: {cert_file: testdata/tls/cert.pem}}", 1), "kafka.tls.cert_file", ""},
		{"heartbeat not below session", strings.Replace(route(fileSink), "]}", "], session_timeout: 3s}", 1), "kafka.heartbeat_interval", "less than session_timeout"},
		{"fetch_max_bytes over int32", strings.Replace(route(fileSink), "]}", "], fetch_max_bytes: 3GiB}", 1), "kafka.fetch_max_bytes", ""},
		{"fetch_max_bytes over sarama's responses", strings.Replace(route(fileSink), "]}", "], fetch_max_bytes: 100MiB}", 1), "kafka.fetch_max_bytes", "between 1B and 64MiB"},
		{"max_partition_fetch_bytes over 64MiB", strings.Replace(route(fileSink), "]}", "], max_partition_fetch_bytes: 65MiB}", 1), "kafka.max_partition_fetch_bytes", "between 1B and 64MiB"},
		{"unknown top-level key", "kafak: {}\n" + route(fileSink), "kafak", "unknown key"},
		{"unknown kafka key suggests", strings.Replace(route(fileSink), "]}", "], clientid: x}", 1), "kafka.clientid", `did you mean "client_id"`},
		{"unknown sink key", sink("type: splunk_hec\nurl: https://s:8088\ntokn: x\n"), "routes[0].sink.tokn", "unknown key"},
		{"key of another sink type", sink("type: elasticsearch\nurls: [http://e:9200]\ntoken: x\n"), "routes[0].sink.token", "unknown key for sink type elasticsearch"},
		{"key on null sink", sink("type: \"null\"\npath: /x\n"), "routes[0].sink.path", "unknown key for sink type null"},
		{"sink type missing", sink("path: /x\n"), "routes[0].sink.type", "required"},
		{"sink missing", route("batch: {max_events: 1}\n"), "routes[0].sink.type", "required"},
		{"sink type unknown", sink("type: kafka\n"), "routes[0].sink.type", `unknown sink type "kafka"`},
		{"unknown batch key", route(fileSink + "batch: {max_event: 5}\n"), "routes[0].batch.max_event", `did you mean "max_events"`},
		{"merge key", route(fileSink + "batch: {<<: {max_events: 5}}\n"), "routes[0].batch.<<", "merge keys"},
		{"duplicate key", route(fileSink + "name: again\n"), "routes[0].name", "duplicate key"},
		{"name missing", kafkaOK + "routes: [{topics: [t], sink: {type: \"null\"}}]\n", "routes[0].name", "required"},
		{"name bad characters", kafkaOK + "routes: [{name: a.b, topics: [t], sink: {type: \"null\"}}]\n", "routes[0].name", ""},
		{"duplicate name", kafkaOK + "routes: [{name: a, topics: [t], sink: {type: \"null\"}}, {name: a, topics: [u], group: g, sink: {type: \"null\"}}]\n", "routes[1].name", "duplicate route name"},
		{"duplicate group", kafkaOK + "routes: [{name: a, topics: [t], sink: {type: \"null\"}}, {name: b, topics: [u], group: siembridge-a, sink: {type: \"null\"}}]\n", "routes[1].group", "routes[0]"},
		{"no topics", kafkaOK + "routes: [{name: a, sink: {type: \"null\"}}]\n", "routes[0].topics", "at least one topic"},
		{"topics not a list", kafkaOK + "routes: [{name: a, topics: t, sink: {type: \"null\"}}]\n", "routes[0].topics", "expected a list"},
		{"topic invalid", kafkaOK + "routes: [{name: a, topics: [ok, \"a b\"], sink: {type: \"null\"}}]\n", "routes[0].topics[1]", "not a valid topic"},
		{"topic too long", kafkaOK + "routes: [{name: a, topics: [" + long + "], sink: {type: \"null\"}}]\n", "routes[0].topics[0]", "249"},
		{"duplicate topic", kafkaOK + "routes: [{name: a, topics: [t, t], sink: {type: \"null\"}}]\n", "routes[0].topics[1]", "duplicate"},
		{"start", route(fileSink + "start: latest\n"), "routes[0].start", `"latest"`},
		{"batch max_events negative", route(fileSink + "batch: {max_events: -1}\n"), "routes[0].batch.max_events", ""},
		{"batch max_bytes negative", route(fileSink + "batch: {max_bytes: -5}\n"), "routes[0].batch.max_bytes", "negative"},
		{"batch max_bytes bad unit", route(fileSink + "batch: {max_bytes: 5 parsecs}\n"), "routes[0].batch.max_bytes", "invalid size"},
		{"batch larger than burst", route(fileSink + "batch: {max_events: 2000}\nrate: {events_per_second: 100, burst: 500}\nbuffer: {max_events: 5000}\n"), "routes[0].batch.max_events", "2000 is larger than rate.burst 500"},
		{"rate negative", route(fileSink + "rate: {events_per_second: -1}\n"), "routes[0].rate.events_per_second", ""},
		{"rate not a number", route(fileSink + "rate: {events_per_second: .nan}\n"), "routes[0].rate.events_per_second", "invalid number"},
		{"burst negative", route(fileSink + "rate: {burst: -1}\n"), "routes[0].rate.burst", ""},
		{"buffer events below batch", route(fileSink + "buffer: {max_events: 10}\n"), "routes[0].buffer.max_events", "smaller than batch.max_events 1000"},
		{"buffer bytes below batch", route(fileSink + "buffer: {max_bytes: 1MiB}\n"), "routes[0].buffer.max_bytes", "smaller than batch.max_bytes 5MiB"},
		{"workers too many", route(fileSink + "workers: 257\n"), "routes[0].workers", "between 1 and 256"},
		{"in flight per partition negative", route(fileSink + "max_in_flight_per_partition: -1\n"), "routes[0].max_in_flight_per_partition", "between 1 and 64"},
		{"in flight per partition too many", route(fileSink + "max_in_flight_per_partition: 65\n"), "routes[0].max_in_flight_per_partition", "between 1 and 64"},
		{"ordered not a bool", route(fileSink + "ordered: maybe\n"), "routes[0].ordered", ""},
		{"workers not a number", route(fileSink + "workers: four\n"), "routes[0].workers", "invalid integer"},
		{"retry initial above max", route(fileSink + "retry: {initial_interval: 1m, max_interval: 10s}\n"), "routes[0].retry.initial_interval", ""},
		{"retry negative", route(fileSink + "retry: {max_interval: -1s}\n"), "routes[0].retry.max_interval", "> 0"},
		{"breaker failures", route(fileSink + "breaker: {failures: -1}\n"), "routes[0].breaker.failures", ""},
		{"breaker initial probe negative", route(fileSink + "breaker: {initial_probe_interval: -1s}\n"), "routes[0].breaker.initial_probe_interval", "> 0"},
		{"breaker max probe negative", route(fileSink + "breaker: {max_probe_interval: -1s}\n"), "routes[0].breaker.max_probe_interval", "> 0"},
		{"breaker initial above max", route(fileSink + "breaker: {initial_probe_interval: 1m, max_probe_interval: 10s}\n"), "routes[0].breaker.initial_probe_interval", "larger than max_probe_interval"},
		{"duration without unit", route(fileSink + "commit_interval: 30\n"), "routes[0].commit_interval", "invalid duration"},
		{"dead letter is own topic", route(fileSink + "dead_letter: {topic: t}\n"), "routes[0].dead_letter.topic", "own topics"},
		{"dead letter invalid", route(fileSink + "dead_letter: {topic: \"dl q\"}\n"), "routes[0].dead_letter.topic", ""},
		{"es no urls", sink("type: elasticsearch\n"), "routes[0].sink.urls", "at least one URL is required"},
		{"es url scheme", sink("type: elasticsearch\nurls: [\"http://e:9200\", \"ftp://e\"]\n"), "routes[0].sink.urls[1]", "http(s)"},
		{"es action", sink("type: elasticsearch\nurls: [\"http://e:9200\"]\naction: upsert\n"), "routes[0].sink.action", ""},
		{"es api key and basic auth", sink("type: elasticsearch\nurls: [\"http://e:9200\"]\napi_key: k\nusername: u\npassword: p\n"), "routes[0].sink.api_key", ""},
		{"es password without username", sink("type: elasticsearch\nurls: [\"http://e:9200\"]\npassword: p\n"), "routes[0].sink.username", ""},
		{"es api_key and api_key_file", sink("type: elasticsearch\nurls: [\"http://e:9200\"]\napi_key: k\napi_key_file: testdata/secrets/es_api_key\n"), "routes[0].sink.api_key_file", "only one"},
		{"hec url missing", sink("type: splunk_hec\ntoken: x\n"), "routes[0].sink.url", "required"},
		{"hec url not http", sink("type: splunk_hec\nurl: splunk:8088\ntoken: x\n"), "routes[0].sink.url", ""},
		{"hec url is the endpoint", sink("type: splunk_hec\nurl: https://s:8088/services/collector/event\ntoken: x\n"), "routes[0].sink.url", "base URL"},
		{"hec token missing", sink("type: splunk_hec\nurl: https://s:8088\n"), "routes[0].sink.token", "required"},
		{"syslog address", sink("type: syslog\naddress: qradar\n"), "routes[0].sink.address", "host:port"},
		{"syslog network", sink("type: syslog\naddress: q:514\nnetwork: quic\n"), "routes[0].sink.network", ""},
		{"syslog format", sink("type: syslog\naddress: q:514\nformat: xml\n"), "routes[0].sink.format", ""},
		{"syslog facility", sink("type: syslog\naddress: q:514\nfacility: 24\n"), "routes[0].sink.facility", "between 0 and 23"},
		{"syslog tls file on tcp", sink("type: syslog\naddress: q:514\nca_file: testdata/tls/ca.pem\n"), "routes[0].sink.ca_file", "network: tls"},
		{"syslog app name", sink("type: syslog\naddress: q:514\napp_name: has space\n"), "routes[0].sink.app_name", ""},
		{"syslog tcp_user_timeout negative", sink("type: syslog\naddress: q:514\ntcp_user_timeout: -1s\n"), "routes[0].sink.tcp_user_timeout", "between 1ms and"},
		{"syslog tcp_user_timeout fraction", sink("type: syslog\naddress: q:514\ntcp_user_timeout: 1500us\n"), "routes[0].sink.tcp_user_timeout", "whole milliseconds"},
		{"webhook url", sink("type: webhook\n"), "routes[0].sink.url", "required"},
		{"webhook method", sink("type: webhook\nurl: https://w\nmethod: GET\n"), "routes[0].sink.method", ""},
		{"webhook mode", sink("type: webhook\nurl: https://w\nmode: stream\n"), "routes[0].sink.mode", ""},
		{"route filter field", route(fileSink + "filter: {equals: [a]}\n"), "routes[0].filter.field", "required"},
		{"route filter unknown key", route(fileSink + "filter: {field: a, equal: [b]}\n"), "routes[0].filter.equal", `did you mean "equals"`},
		{"webhook filter moved, field missing", sink("type: webhook\nurl: https://w\nfilter: {equals: [a]}\n"), "routes[0].filter.field", "required"},
		{"webhook filter beside route filter", route("filter: {field: a}\nsink: {type: webhook, url: \"https://w\", filter: {field: b}}\n"), "routes[0].sink.filter", "moved to routes[0].filter"},
		{"webhook header name", sink("type: webhook\nurl: https://w\nheaders: {\"X Bad\": v}\n"), "routes[0].sink.headers", "header name"},
		{"webhook header value", sink("type: webhook\nurl: https://w\nheaders: {X-Token: \"a\\r\\nb\"}\n"), "routes[0].sink.headers.X-Token", "line break"},
		{"webhook filter unknown key", sink("type: webhook\nurl: https://w\nfilter: {field: a, equal: [b]}\n"), "routes[0].sink.filter.equal", "unknown key"},
		{"file path", sink("type: file\n"), "routes[0].sink.path", "required"},
		{"file max_files", sink("type: file\npath: /x\nmax_files: -1\n"), "routes[0].sink.max_files", ""},
		{"metrics listen", route(fileSink) + "metrics: {listen: nope}\n", "metrics.listen", "host:port"},
		{"log level", route(fileSink) + "log: {level: verbose}\n", "log.level", ""},
		{"log format", route(fileSink) + "log: {format: xml}\n", "log.format", ""},
		{"shutdown timeout", route(fileSink) + "shutdown_timeout: -1s\n", "shutdown_timeout", ""},
		{"duplicate top-level key", route(fileSink) + "kafka: {}\n", "kafka", "duplicate key"},
		{"unset env", sink("type: elasticsearch\nurls: [\"http://e:9200\"]\napi_key: ${SIEMBRIDGE_TEST_SURELY_UNSET}\n"), "routes[0].sink.api_key", "environment variable SIEMBRIDGE_TEST_SURELY_UNSET is not set"},
		{"root not a mapping", "- a\n- b\n", "(root)", "expected a mapping"},
		{"syntax error", "kafka: {brokers: [\n", "yaml", "line"},
		{"syntax error tab", "kafka:\n\tbrokers: []\n", "yaml", "line 2"},
		{"two documents", route(fileSink) + "---\nlog: {}\n", "yaml", "only one document"},
	}
	if len(tests) < 35 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at %s; routes: %+v", tt.path, c.Routes)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %q is not a *FieldError", err, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, tt.path+": ") {
				t.Errorf("error %q, want path %s", msg, tt.path)
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q, want it to contain %q", msg, tt.msg)
			}
		})
	}
}

func TestValidateProgrammatic(t *testing.T) {
	t.Parallel()
	var nilCfg *Config
	if err := nilCfg.Validate(); err == nil {
		t.Error("nil Config validated")
	}
	nilCfg.ApplyDefaults() // must not panic

	c := &Config{
		Kafka:  Kafka{Brokers: []string{"k:9092"}},
		Routes: []Route{{Name: "r", Topics: []string{"t"}, Sink: Sink{Type: "file", File: &File{Path: "/x"}, Webhook: &Webhook{}}}},
	}
	c.ApplyDefaults()
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "routes[0].sink: has a webhook block") {
		t.Errorf("Validate = %v, want a complaint about the stray webhook block", err)
	}
	c.Routes[0].Sink.Webhook = nil
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	if got := c.Routes[0].SinkName(); got != "file" {
		t.Errorf("SinkName = %q", got)
	}
	// Only a Config built in code can have adaptive on with no floor:
	// ApplyDefaults fills a zero floor in.
	c.Routes[0].Rate.AdaptiveFloor = 0
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "routes[0].rate.adaptive_floor: ") {
		t.Errorf("Validate = %v, want a complaint about rate.adaptive_floor", err)
	}
	off := false
	c.Routes[0].Rate.Adaptive = &off
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with adaptive off and no floor = %v", err)
	}
}

package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestFullExample(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 11 {
		t.Fatalf("%d routes", len(c.Routes))
	}
	r := c.Routes
	tests := []struct {
		name      string
		got, want any
	}{
		{"kafka.brokers", c.Kafka.Brokers, []string{"kafka-1:9092", "kafka-2:9092", "[::1]:9093"}},
		{"kafka.sasl.password from file", c.Kafka.SASL.Password.Value(), "kafka-file-password"},
		{"kafka.fetch_max_bytes", c.Kafka.FetchMaxBytes, 16 * MiB},
		{"kafka.max_partition_fetch_bytes", c.Kafka.MaxPartitionFetchBytes, 1 * MiB},
		{"kafka.rebalance_timeout", c.Kafka.RebalanceTimeout, 90 * time.Second},
		{"es api_key from default", r[0].Sink.Elasticsearch.APIKey.Value(), "c2llbWJyaWRnZTpzM2NyZXQ="},
		{"es index", r[0].Sink.Elasticsearch.Index, "security-%{+yyyy.MM.dd}"},
		{"batch.max_bytes with space", r[0].Batch.MaxBytes, 4 * MiB},
		{"rate.adaptive false", *r[0].Rate.Adaptive, false},
		{"rate.catchup_bytes_per_second", r[0].Rate.CatchupBytesPerSecond, 20 * MiB},
		{"es api_key_file", r[1].Sink.Elasticsearch.APIKey.Value(), "es-file-api-key"},
		{"es cloud_auth", r[10].Sink.Elasticsearch.CloudAuth.Value(), "siembridge:s3cret"},
		{"es data_stream", *r[10].Sink.Elasticsearch.DataStream, DataStream{Type: "logs", Dataset: "firewall.pan", Namespace: "prod", AutoRouting: true}},
		{"es headers", r[10].Sink.Elasticsearch.Headers["X-Tenant"].Value(), "blue"},
		{"es password", r[2].Sink.Elasticsearch.Password.Value(), "changeme"},
		{"es password_file crlf", r[3].Sink.Elasticsearch.Password.Value(), "es-file-password"},
		{"hec ack", r[4].Sink.SplunkHEC.Ack, true},
		{"hec max_event_bytes", r[4].Sink.SplunkHEC.MaxEventBytes, 512 * KiB},
		{"hec token_file", r[5].Sink.SplunkHEC.Token.Value(), "hec-file-token"},
		{"hec fields", r[4].Sink.SplunkHEC.Fields, map[string]string{"user": "user.name", "src_ip": "source.ip"}},
		{"hec urls", r[5].Sink.SplunkHEC.BaseURLs(), []string{"http://splunk-2:8088", "http://splunk-3:8088"}},
		{"hec endpoint raw", r[5].Sink.SplunkHEC.RawEndpoint(), true},
		{"syslog facility", *r[6].Sink.Syslog.Facility, 4},
		{"syslog cef_version", r[6].Sink.Syslog.CEFVersion, "2.1"},
		{"webhook header", r[7].Sink.Webhook.Headers["Authorization"].Value(), "Bearer t0k3n"},
		{"route filter", *r[0].Filter, Filter{Field: "event.kind", Equals: []string{"alert", "signal"}}},
		{"breaker.initial_probe_interval", r[0].Breaker.InitialProbeInterval, 250 * time.Millisecond},
		{"webhook filter moved to the route", *r[7].Filter, Filter{Field: "event.severity", Equals: []string{"high", "critical"}}},
		{"webhook filter left the sink", r[7].Sink.Webhook.Filter, (*Filter)(nil)},
		{"file max_size", r[8].Sink.File.MaxSize, GiB},
		{"null sink", r[9].Sink, Sink{Type: "null"}},
		{"default group", r[9].Group, "siembridge-discard"},
		{"log.format", c.Log.Format, "json"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

// TestFullExampleRoundTrip marshals the full example and parses it back.
// Secrets come back as "[redacted]", so the comparison redacts the original
// the same way; *_file fields are dropped because their secret was read.
func TestFullExampleRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	redactAll(reflect.ValueOf(c).Elem())
	c.Kafka.SASL.PasswordFile = ""
	for _, r := range c.Routes {
		if es := r.Sink.Elasticsearch; es != nil {
			es.APIKeyFile, es.PasswordFile = "", ""
			// Validation wants cloud_auth as user:password, which the
			// redaction marker is not.
			es.CloudAuth = ""
		}
		if h := r.Sink.SplunkHEC; h != nil {
			h.TokenFile = ""
		}
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("parse of marshalled config: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, back) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", c, back)
	}
}

// redactAll sets every non-empty Secret below v to the redaction marker.
func redactAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			redactAll(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			redactAll(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			redactAll(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if s, ok := v.MapIndex(k).Interface().(Secret); ok && s != "" {
				v.SetMapIndex(k, reflect.ValueOf(Secret(redacted)))
			}
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[Secret]() && v.String() != "" {
			v.SetString(redacted)
		}
	}
}

// TestFullExampleCoversSchema fails when a yaml key of config.go does not
// appear in testdata/full.yaml, so that the example stays complete.
func TestFullExampleCoversSchema(t *testing.T) {
	t.Parallel()
	// kafka.sasl.password cannot sit beside password_file in one file;
	// TestSecretNeverPrinted and TestSecretFiles cover it.
	exempt := map[string]bool{"SASL.password": true}
	// One file has one SASL mechanism; the blocks of the others (and of
	// this one's GSSAPI, OAUTHBEARER and AWS_MSK_IAM siblings) are covered
	// by TestKafkaSASLMechanisms.
	for _, typ := range []reflect.Type{reflect.TypeFor[OAuthBearer](), reflect.TypeFor[Kerberos](), reflect.TypeFor[AWSMSKIAM]()} {
		for name := range yamlFields(typ) {
			exempt[typ.Name()+"."+name] = true
		}
	}
	exempt["SASL.oauthbearer"], exempt["SASL.kerberos"], exempt["SASL.aws_msk_iam"] = true, true, true

	want := map[string]bool{}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[Config](), reflect.TypeFor[Elasticsearch](), reflect.TypeFor[SplunkHEC](),
		reflect.TypeFor[Syslog](), reflect.TypeFor[Webhook](), reflect.TypeFor[File](),
	} {
		schemaKeys(typ, want)
	}
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	exampleKeys(doc.Content[0], reflect.TypeFor[Config](), seen)
	var missing []string
	for k := range want {
		if !seen[k] && !exempt[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("testdata/full.yaml lacks %s", strings.Join(missing, ", "))
	}
	if len(want) < 100 {
		t.Errorf("only %d schema keys found; is schemaKeys broken?", len(want))
	}
}

// schemaKeys adds "Type.key" for every yaml key of t and the structs below.
func schemaKeys(t reflect.Type, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Duration]() {
		return
	}
	for name, idx := range yamlFields(t) {
		out[t.Name()+"."+name] = true
		schemaKeys(t.FieldByIndex(idx).Type, out)
	}
}

// exampleKeys adds "Type.key" for every key in n read as t.
func exampleKeys(n *yaml.Node, t reflect.Type, out map[string]bool) {
	n = deref(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			exampleKeys(c, t.Elem(), out)
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		if t == reflect.TypeFor[Sink]() {
			var s Sink
			if err := s.UnmarshalYAML(n); err != nil {
				return
			}
			out["Sink.type"] = true
			if b, _ := s.block(false); b.IsValid() {
				t, fields = b.Type(), yamlFields(b.Type())
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if idx, ok := fields[key]; ok {
				out[t.Name()+"."+key] = true
				exampleKeys(n.Content[i+1], t.FieldByIndex(idx).Type, out)
			}
		}
	}
}

package config

import (
	"errors"
	"strings"
	"testing"
)

func TestElasticsearchKeys(t *testing.T) {
	t.Parallel()
	es := "type: elasticsearch\n"
	tests := []struct {
		name string
		body string // the sink block
		path string // "" when valid; else the error must start with path + ": "
		msg  string
	}{
		{"cloud id", es + "cloud_id: \"prod:ZXUtd2VzdC0xLmF3cy5mb3VuZC5pbyRhYmMkZGVm\"\ncloud_auth: \"elastic:pw\"\n", "", ""},
		{"urls and cloud id", es + "urls: [\"http://es:9200\"]\ncloud_id: \"p:eA==\"\n", "routes[0].sink.cloud_id", "not both"},
		{"neither urls nor cloud id", es, "routes[0].sink.urls", "cloud_id"},
		{"cloud id without a colon", es + "cloud_id: ZXUtd2VzdC0x\n", "routes[0].sink.cloud_id", "<deployment name>"},
		{"cloud auth without a colon", es + "cloud_id: \"p:eA==\"\ncloud_auth: elastic\n", "routes[0].sink.cloud_auth", "user:password"},
		{"cloud auth and api key", es + "cloud_id: \"p:eA==\"\ncloud_auth: \"u:p\"\napi_key: k\n", "routes[0].sink.cloud_auth", ""},
		{"client certificate", es + "urls: [\"https://es:9200\"]\ncert_file: testdata/tls/cert.pem\nkey_file: testdata/tls/key.pem\n", "", ""},
		{"cert without key", es + "urls: [\"https://es:9200\"]\ncert_file: testdata/tls/cert.pem\n", "routes[0].sink.cert_file", "together"},
		{"key file missing", es + "urls: [\"https://es:9200\"]\ncert_file: testdata/tls/cert.pem\nkey_file: /nonexistent/k.pem\n", "routes[0].sink.key_file", ""},
		{"headers", es + "urls: [\"http://es:9200\"]\nheaders: {X-Foo: bar, X-Tenant: blue}\n", "", ""},
		{"bad header name", es + "urls: [\"http://es:9200\"]\nheaders: {\"X Foo\": bar}\n", "routes[0].sink.headers", "not a valid header name"},
		{"reserved header", es + "urls: [\"http://es:9200\"]\nheaders: {content-type: text/plain}\n", "routes[0].sink.headers", "Content-Type"},
		{"proxy", es + "urls: [\"http://es:9200\"]\nproxy_url: \"http://proxy:3128\"\n", "", ""},
		{"socks proxy", es + "urls: [\"http://es:9200\"]\nproxy_url: \"socks5://proxy:1080\"\n", "", ""},
		{"bad proxy", es + "urls: [\"http://es:9200\"]\nproxy_url: \"ftp://proxy\"\n", "routes[0].sink.proxy_url", ""},
		{"data stream", es + "urls: [\"http://es:9200\"]\ndata_stream: {dataset: firewall.pan, namespace: prod}\n", "", ""},
		{"data stream and index", es + "urls: [\"http://es:9200\"]\nindex: x\ndata_stream: {dataset: a}\n", "routes[0].sink.index", "not both"},
		{"data stream with index action", es + "urls: [\"http://es:9200\"]\naction: index\ndata_stream: {dataset: a}\n", "routes[0].sink.action", "only create"},
		{"data stream type", es + "urls: [\"http://es:9200\"]\ndata_stream: {type: events}\n", "routes[0].sink.data_stream.type", "events"},
		{"dataset with a dash", es + "urls: [\"http://es:9200\"]\ndata_stream: {dataset: fire-wall}\n", "routes[0].sink.data_stream.dataset", "'-'"},
		{"namespace uppercase", es + "urls: [\"http://es:9200\"]\ndata_stream: {namespace: Prod}\n", "routes[0].sink.data_stream.namespace", "lowercase"},
		{"dataset too long", es + "urls: [\"http://es:9200\"]\ndata_stream: {dataset: " + strings.Repeat("a", 101) + "}\n", "routes[0].sink.data_stream.dataset", "100 bytes"},
		{"pipeline template", es + "urls: [\"http://es:9200\"]\npipeline: \"%{[event][module]}\"\n", "", ""},
		{"pipeline static with capitals", es + "urls: [\"http://es:9200\"]\npipeline: GeoIP\n", "", ""},
		{"pipeline template unclosed", es + "urls: [\"http://es:9200\"]\npipeline: \"%{[event\"\n", "routes[0].sink.pipeline", "unclosed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(sink(tc.body)))
			if tc.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.path+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %s: ...%s", err, tc.path, tc.msg)
			}
		})
	}
}

func TestElasticsearchDataStreamDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(sink("type: elasticsearch\nurls: [\"http://es:9200\"]\ndata_stream: {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Routes[0].Sink.Elasticsearch
	ds := e.DataStream
	if ds.Type != DefaultDataStreamType || ds.Dataset != DefaultDataStreamDataset || ds.Namespace != DefaultDataStreamNamespace || ds.AutoRouting {
		t.Errorf("data stream defaults %+v", ds)
	}
	if e.Index != "" || e.Action != "create" {
		t.Errorf("index %q action %q", e.Index, e.Action)
	}
	tls := e.TLS()
	if tls.Enabled {
		t.Errorf("TLS enabled without TLS settings: %+v", tls)
	}
	e.CertFile, e.KeyFile = "c.pem", "k.pem"
	if tls = e.TLS(); !tls.Enabled || tls.CertFile != "c.pem" || tls.KeyFile != "k.pem" {
		t.Errorf("client certificate not in the TLS block: %+v", tls)
	}
}

func TestDataStreamPartProblem(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{
		"generic": true, "nginx.access": true, "zeek_dns": true, "ü": true, strings.Repeat("a", 100): true,
		"": false, "a-b": false, "A": false, "a b": false, "a*": false, "_x": false, "+x": false, ".x": false,
		strings.Repeat("a", 101): false, "a:b": false, "a#b": false, "a,b": false,
	} {
		if got := DataStreamPartProblem(v) == ""; got != ok {
			t.Errorf("%q: valid %v, want %v (%s)", v, got, ok, DataStreamPartProblem(v))
		}
	}
}

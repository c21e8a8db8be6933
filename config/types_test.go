package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string // YAML scalar
		want    ByteSize
		wantErr string
	}{
		{"0", 0, ""},
		{"512", 512, ""},
		{"\"512\"", 512, ""},
		{"512B", 512, ""},
		{"1KB", 1000, ""},
		{"1kb", 1000, ""},
		{"5MB", 5_000_000, ""},
		{"2GB", 2_000_000_000, ""},
		{"64KiB", 64 << 10, ""},
		{"5MiB", 5 << 20, ""},
		{"5 MiB", 5 << 20, ""},
		{"5mib", 5 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"8589934591GiB", 8589934591 << 30, ""},
		{"~", 0, ""},
		{"\"\"", 0, ""},
		{"-1", 0, "negative"},
		{"-5MiB", 0, "negative"},
		{"8589934592GiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"1.5MiB", 0, "invalid size"},
		{"5 XB", 0, "invalid size"},
		{"MiB", 0, "invalid size"},
		{"0x10", 0, "invalid size"},
		{"+5", 0, "invalid size"},
		{"[1]", 0, "expected a size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var got struct {
				Size ByteSize `yaml:"size"`
			}
			err := yaml.Unmarshal([]byte("size: "+tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != tt.want {
				t.Errorf("got %d, want %d", got.Size, tt.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1500, "1500B"}, {1000, "1KB"}, {1024, "1KiB"},
		{5 * MiB, "5MiB"}, {10 * MB, "10MB"}, {64 * KiB, "64KiB"}, {GiB, "1GiB"},
		{3 * GB, "3GB"}, {1536 * MiB, "1536MiB"}, {-2, "-2B"},
		{math.MaxInt64, "9223372036854775807B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in < 0 {
			continue
		}
		back, err := ParseByteSize(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.want, back, err, tt.in)
		}
	}
}

// TestSecretNeverPrinted loads a config holding a secret in every Secret
// field and checks that no output path shows any of them.
func TestSecretNeverPrinted(t *testing.T) {
	const s = "TOPSECRET"
	c, err := parse([]byte(`
kafka:
  brokers: ["k:9092"]
  sasl: {mechanism: PLAIN, username: u, password: "TOPSECRET-kafka"}
routes:
  - name: es
    topics: [t]
    sink: {type: elasticsearch, urls: ["http://e:9200"], username: u, password: TOPSECRET-es-password}
  - name: es-key
    topics: [t]
    sink: {type: elasticsearch, urls: ["http://e:9200"], api_key: TOPSECRET-es-key}
  - name: hec
    topics: [t]
    sink: {type: splunk_hec, url: "https://s:8088", token: TOPSECRET-hec}
  - name: hook
    topics: [t]
    sink: {type: webhook, url: "https://w", headers: {Authorization: "Bearer ${TOKEN}"}}
`), func(string) (string, bool) { return "TOPSECRET-header", true })
	if err != nil {
		t.Fatal(err)
	}
	// Sanity: the secrets are there to leak.
	if c.Routes[3].Sink.Webhook.Headers["Authorization"].Value() != "Bearer TOPSECRET-header" {
		t.Fatal("secret not loaded")
	}

	var outputs []string
	for _, v := range []any{c, *c, c.Kafka.SASL, c.Routes, *c.Routes[0].Sink.Elasticsearch, *c.Routes[1].Sink.Elasticsearch,
		*c.Routes[2].Sink.SplunkHEC, *c.Routes[3].Sink.Webhook, c.Kafka.SASL.Password} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%10.3s"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(j), string(y))
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "v", v)
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
			t.Errorf("secret in output: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", *c.Routes[2].Sink.SplunkHEC), "Token:[redacted]") {
		t.Errorf("redaction marker missing: %+v", *c.Routes[2].Sink.SplunkHEC)
	}
	var empty Secret
	if got := fmt.Sprintf("%v|%s", empty, empty); got != "|" {
		t.Errorf("empty secret printed as %q", got)
	}
	if got := fmt.Sprintf("%#v", Secret("x")); got != `"[redacted]"` {
		t.Errorf("%%#v = %s", got)
	}
}

package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TOKEN":   "abc123",
		"EMPTY":   "",
		"SPECIAL": "p@ss: w#rd 'q' \"dq\" {x} ${TOKEN} $$ - [a, b]\t---",
		"NULLISH": "null",
		"TOPIC":   "edr.alerts",
		"WORKERS": "16",
		"HOST":    "kafka-9",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name  string
		value string // YAML for the Authorization header value
		want  string
	}{
		{"plain", "${TOKEN}", "abc123"},
		{"inside text", "Bearer ${TOKEN}!", "Bearer abc123!"},
		{"quoted", `"${TOKEN}"`, "abc123"},
		{"default unused", "${TOKEN:-nope}", "abc123"},
		{"default for unset", "${UNSET_VAR:-fallback value}", "fallback value"},
		{"default for empty", "${EMPTY:-fallback}", "fallback"},
		{"empty default", "x${UNSET_VAR:-}y", "xy"},
		{"set but empty", `"[${EMPTY}]"`, "[]"},
		{"dollar escape", "pa$$word", "pa$word"},
		{"escape then var", "$$${TOKEN}", "$abc123"},
		{"escaped braces", "$${TOKEN}", "${TOKEN}"},
		{"lone dollar", "costs $5 or $", "costs $5 or $"},
		{"special characters are not YAML", "${SPECIAL}", env["SPECIAL"]},
		{"null stays text", "${NULLISH}", "null"},
		{"two vars", "${TOKEN}-${TOPIC}", "abc123-edr.alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse([]byte(sink("type: webhook\nurl: https://w\nheaders:\n  Authorization: "+tt.value+"\n")), lookup)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Routes[0].Sink.Webhook.Headers["Authorization"].Value(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("lists, ints and keys", func(t *testing.T) {
		t.Parallel()
		doc := "kafka: {brokers: [\"${HOST}:9092\", \"k:${PORT:-9093}\"]}\n" +
			"routes:\n  - name: r\n    topics: [\"${TOPIC}\", other]\n    workers: ${WORKERS}\n" +
			"    sink:\n      type: webhook\n      url: https://w/${TOKEN}\n      headers:\n        X-$$TOKEN: v\n"
		c, err := parse([]byte(doc), lookup)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.Kafka.Brokers, ","); got != "kafka-9:9092,k:9093" {
			t.Errorf("brokers %q", got)
		}
		if got := strings.Join(c.Routes[0].Topics, ","); got != "edr.alerts,other" {
			t.Errorf("topics %q", got)
		}
		if c.Routes[0].Workers != 16 {
			t.Errorf("workers %d", c.Routes[0].Workers)
		}
		if c.Routes[0].Sink.Webhook.URL != "https://w/abc123" {
			t.Errorf("url %q", c.Routes[0].Sink.Webhook.URL)
		}
		if _, ok := c.Routes[0].Sink.Webhook.Headers["X-$$TOKEN"]; !ok {
			t.Errorf("keys must not be expanded: %v", c.Routes[0].Sink.Webhook.Headers)
		}
	})

	t.Run("empty expansion means default", func(t *testing.T) {
		t.Parallel()
		c, err := parse([]byte(route("sink: {type: syslog, address: \"q:514\", facility: \"${UNSET_VAR:-}\"}\n"+
			"rate: {adaptive: \"${EMPTY}\"}\nworkers: ${UNSET_VAR:-}\n")), lookup)
		if err != nil {
			t.Fatal(err)
		}
		r := c.Routes[0]
		if !*r.Rate.Adaptive || *r.Sink.Syslog.Facility != 1 || r.Workers != DefaultWorkers {
			t.Errorf("adaptive %v, facility %d, workers %d; want the defaults", *r.Rate.Adaptive, *r.Sink.Syslog.Facility, r.Workers)
		}
	})

	errTests := []struct {
		name, value, want string
	}{
		{"unset", "${UNSET_VAR}", "routes[0].sink.headers.Authorization: environment variable UNSET_VAR is not set"},
		{"unterminated", "${TOKEN", "routes[0].sink.headers.Authorization: unterminated ${"},
		{"bad name", "${1X}", `routes[0].sink.headers.Authorization: invalid environment variable name "1X"`},
		{"empty name", "${:-x}", `routes[0].sink.headers.Authorization: invalid environment variable name ""`},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse([]byte(sink("type: webhook\nurl: https://w\nheaders:\n  Authorization: "+tt.value+"\n")), lookup)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want prefix %q", err, tt.want)
			}
		})
	}

	t.Run("in a list", func(t *testing.T) {
		t.Parallel()
		_, err := parse([]byte(kafkaOK+"routes:\n  - name: r\n    topics: [a, \"${NOPE}\"]\n    "+fileSink), lookup)
		if err == nil || err.Error() != "routes[0].topics[1]: environment variable NOPE is not set" {
			t.Errorf("error %v", err)
		}
	})
}

// TestParseReadsProcessEnv covers Parse itself, which uses os.LookupEnv.
func TestParseReadsProcessEnv(t *testing.T) {
	t.Setenv("SIEMBRIDGE_TEST_API_KEY", "k3y: #not a comment")
	c, err := Parse([]byte(sink("type: elasticsearch\nurls: [\"http://e:9200\"]\napi_key: ${SIEMBRIDGE_TEST_API_KEY}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Sink.Elasticsearch.APIKey.Value(); got != "k3y: #not a comment" {
		t.Errorf("api_key %q", got)
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lf := write("lf", "secret-lf\n")
	crlf := write("crlf", "secret-crlf\r\n")
	bare := write("bare", "secret-bare")
	inner := write("inner", "line1\nline2\n\n")
	empty := write("empty", "\n")
	big := write("big", strings.Repeat("x", maxSecretFileBytes+1))
	missing := filepath.Join(dir, "missing")

	es := func(key, file string) string {
		return sink("type: elasticsearch\nurls: [\"http://e:9200\"]\n" + key + ": " + file + "\n" + map[bool]string{true: "username: u\n"}[key == "password_file"])
	}
	tests := []struct {
		name    string
		yaml    string
		get     func(*Config) Secret
		want    string
		wantErr string
	}{
		{"api_key_file", es("api_key_file", lf), func(c *Config) Secret { return c.Routes[0].Sink.Elasticsearch.APIKey }, "secret-lf", ""},
		{"password_file crlf", es("password_file", crlf), func(c *Config) Secret { return c.Routes[0].Sink.Elasticsearch.Password }, "secret-crlf", ""},
		{"token_file no newline", sink("type: splunk_hec\nurl: https://s:8088\ntoken_file: " + bare + "\n"), func(c *Config) Secret { return c.Routes[0].Sink.SplunkHEC.Token }, "secret-bare", ""},
		{"inner newlines kept", es("api_key_file", inner), func(c *Config) Secret { return c.Routes[0].Sink.Elasticsearch.APIKey }, "line1\nline2", ""},
		{"kafka password_file", strings.Replace(route(fileSink), "]}", "], sasl: {mechanism: PLAIN, username: u, password_file: "+lf+"}}", 1), func(c *Config) Secret { return c.Kafka.SASL.Password }, "secret-lf", ""},
		{"missing file", es("api_key_file", missing), nil, "", "routes[0].sink.api_key_file: cannot read secret: open " + missing},
		{"empty file", es("token_file", empty), nil, "", "routes[0].sink.token_file: unknown key for sink type elasticsearch"},
		{"empty hec file", sink("type: splunk_hec\nurl: https://s:8088\ntoken_file: " + empty + "\n"), nil, "", "routes[0].sink.token_file: " + empty + " is empty"},
		{"huge file", es("api_key_file", big), nil, "", "routes[0].sink.api_key_file: " + big + " is larger than 1MiB"},
		{"directory", es("api_key_file", dir), nil, "", "routes[0].sink.api_key_file: cannot read secret"},
		{"both set", strings.Replace(route(fileSink), "]}", "], sasl: {mechanism: PLAIN, username: u, password: p, password_file: "+lf+"}}", 1), nil, "", "kafka.sasl.password_file: set only one of password and password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want prefix %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c).Value(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("errors.Is", func(t *testing.T) {
		t.Parallel()
		_, err := Parse([]byte(es("api_key_file", missing)))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
}

func TestLoad(t *testing.T) {
	t.Parallel()
	if _, err := Load("testdata/full.yaml"); err != nil {
		t.Fatal(err)
	}
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "testdata/does-not-exist.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

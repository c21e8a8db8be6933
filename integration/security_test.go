package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/internal/fake/hecfake"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
	"github.com/siembridge/siembridge/internal/gen"
	"github.com/siembridge/siembridge/kafka"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, the latter two also written as PEM files.
type testPKI struct {
	dir    string
	serial int64
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool  // holds ca
	server tls.Certificate // for 127.0.0.1 and localhost
	// PEM files: the CA, a client certificate and key it signed, and a
	// CA that signed nothing here.
	caFile, clientCertFile, clientKey, otherCAFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	p.ca, p.caKey, p.caFile = p.newCA(t, "ca.pem")
	p.pool.AddCert(p.ca)
	_, _, p.otherCAFile = p.newCA(t, "other-ca.pem")

	certPEM, keyPEM := p.issue(t, "kafka-broker", x509.ExtKeyUsageServerAuth)
	var err error
	if p.server, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM = p.issue(t, "siembridge", x509.ExtKeyUsageClientAuth)
	p.clientCertFile = p.write(t, "client.pem", certPEM)
	p.clientKey = p.write(t, "client-key.pem", keyPEM)
	return p
}

func (p *testPKI) newCA(t *testing.T, file string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(p.serial),
		Subject:               pkix.Name{CommonName: "siembridge test CA " + file},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, p.write(t, file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// issue signs a leaf certificate for 127.0.0.1 and localhost.
func (p *testPKI) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func (p *testPKI) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverTLS requires and verifies a client certificate from the test CA.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// produceWith writes generated events with sequence numbers 1..n through
// a producer built from the bridge's own Kafka settings.
func produceWith(t *testing.T, k config.Kafka, topic string, n int) {
	t.Helper()
	sc, err := kafka.SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer(k.Brokers, sc)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	g := gen.New(3)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(g.Next(int64(i+1), time.Now()))}
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
}

// connectErr builds a client from k and returns the connection error.
func connectErr(t *testing.T, k config.Kafka) error {
	t.Helper()
	sc, err := kafka.SaramaConfig(k)
	if err != nil {
		return err
	}
	sc.Net.DialTimeout = 3 * time.Second
	sc.Metadata.Retry.Max = 0
	c, err := sarama.NewClient(k.Brokers, sc)
	if err == nil {
		c.Close()
	}
	return err
}

// secureYAML is one route from topic into Elasticsearch with the given
// kafka section.
func secureYAML(k config.Kafka, topic, esURL string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
  tls: {enabled: %t, ca_file: %q, cert_file: %q, key_file: %q}
  sasl: {mechanism: %q, username: %q, password: %q}
routes:
  - name: secure
    topics: [%q]
    sink: {type: elasticsearch, urls: [%q], timeout: 5s}
    batch: {max_events: 100, max_wait: 50ms}
    commit_interval: 100ms
shutdown_timeout: 5s
`, k.Brokers[0], k.TLS.Enabled, k.TLS.CAFile, k.TLS.CertFile, k.TLS.KeyFile,
		k.SASL.Mechanism, k.SASL.Username, k.SASL.Password.Value(), topic, esURL)
}

// consumeThroughBridge runs the bridge with k and waits for n events in
// Elasticsearch.
func consumeThroughBridge(t *testing.T, k config.Kafka, topic string, n int) {
	t.Helper()
	es := startES(t, esfake.Options{})
	cfg := parseConfig(t, secureYAML(k, topic, es.URL()))
	_, stop := runBridge(t, cfg)
	waitFor(t, 30*time.Second, fmt.Sprintf("%d events delivered", n), func() bool { return es.Count() >= n })
	stop()
	if got := len(seqs(t, es)); got != n {
		t.Fatalf("%d distinct events in the sink, want %d", got, n)
	}
}

// TestKafkaTLSClientCertificate: the broker requires a client certificate
// signed by its CA; the bridge, configured with ca_file, cert_file and
// key_file, consumes and delivers. Without the CA or without the client
// certificate it cannot connect.
func TestKafkaTLSClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	cluster, err := kafkatest.Start(2, []string{"tls-events"}, kfake.TLS(pki.serverTLS()))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	k := config.Kafka{Brokers: cluster.Brokers(), TLS: config.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCertFile, KeyFile: pki.clientKey}}
	produceWith(t, k, "tls-events", 250)
	consumeThroughBridge(t, k, "tls-events", 250)

	t.Run("wrong CA", func(t *testing.T) {
		bad := k
		bad.TLS.CAFile = pki.otherCAFile
		err := connectErr(t, bad)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("error %v, want an unknown authority", err)
		}
	})
	t.Run("system roots", func(t *testing.T) {
		bad := k
		bad.TLS.CAFile = ""
		if err := connectErr(t, bad); err == nil {
			t.Fatal("connected without the CA")
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		bad := k
		bad.TLS.CertFile, bad.TLS.KeyFile = "", ""
		if err := connectErr(t, bad); err == nil {
			t.Fatal("connected without a client certificate")
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		if err := connectErr(t, config.Kafka{Brokers: k.Brokers}); err == nil {
			t.Fatal("a plaintext client connected to a TLS listener")
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		ok := k
		ok.TLS.CAFile, ok.TLS.InsecureSkipVerify = "", true
		if err := connectErr(t, ok); err != nil {
			t.Fatalf("insecure_skip_verify with a client certificate: %v", err)
		}
	})
}

// TestKafkaSASL: for each mechanism a non-superuser consumes through the
// bridge (the superuser produces); a wrong password fails with an error
// that does not quote it.
func TestKafkaSASL(t *testing.T) {
	const (
		adminPW  = "admin-pw-5f1e"
		bridgePW = "bridge-SASL-secret-8c2d"
	)
	pki := newTestPKI(t)
	cases := []struct {
		mech string
		tls  bool
	}{
		{"PLAIN", false},
		{"SCRAM-SHA-256", false},
		{"SCRAM-SHA-512", false},
		{"SCRAM-SHA-512", true},
	}
	for _, tc := range cases {
		name := tc.mech
		if tc.tls {
			name += "+TLS"
		}
		t.Run(name, func(t *testing.T) {
			opts := []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(tc.mech, "admin", adminPW), kfake.User(tc.mech, "bridge", bridgePW)}
			var tlsCfg config.TLS
			if tc.tls {
				opts = append(opts, kfake.TLS(pki.serverTLS()))
				tlsCfg = config.TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCertFile, KeyFile: pki.clientKey}
			}
			cluster, err := kafkatest.Start(3, []string{"sasl-events"}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			admin := config.Kafka{Brokers: cluster.Brokers(), TLS: tlsCfg, SASL: config.SASL{Mechanism: tc.mech, Username: "admin", Password: adminPW}}
			produceWith(t, admin, "sasl-events", 300)

			k := admin
			k.SASL.Username, k.SASL.Password = "bridge", bridgePW
			consumeThroughBridge(t, k, "sasl-events", 300)

			k.SASL.Password = "not-the-" + bridgePW
			err = connectErr(t, k)
			if err == nil {
				t.Fatal("a wrong password connected")
			}
			if strings.Contains(err.Error(), bridgePW) {
				t.Fatalf("the error quotes the password: %v", err)
			}
			k.SASL.Password, k.SASL.Username = bridgePW, "nobody"
			if err := connectErr(t, k); err == nil {
				t.Fatal("an unknown user connected")
			}
		})
	}
}

// Distinctive secrets: none may appear in anything siembridge prints or
// serves.
const (
	secretKafka      = "kafkaPW-zq81-SECRET"
	secretESKey      = "esAPIKEY-mx44-SECRET"
	secretESPassword = "esPASSWORD-vv07-SECRET"
	secretHEC        = "hecTOKEN-kk29-SECRET"
	secretWebhook    = "webhookBEARER-pp63-SECRET"
	secretWebhook2   = "webhookAPIKEY-rr15-SECRET"
)

var allSecrets = []string{secretKafka, secretESKey, secretESPassword, secretHEC, secretWebhook, secretWebhook2}

func assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows secret %q:\n%s", where, s, text)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// leakYAML: four routes whose sinks all refuse or cannot be reached, with
// every kind of secret, some from ${ENV}, some from *_file.
func leakYAML(t *testing.T, brokers []string, esURL, hecURL, deadURL, metricsAddr string) string {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "es_api_key")
	pwFile := filepath.Join(dir, "es_password")
	for path, v := range map[string]string{keyFile: secretESKey + "\n", pwFile: secretESPassword} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
  sasl: {mechanism: SCRAM-SHA-256, username: bridge, password: "${SB_LEAK_KAFKA_PW}"}
log: {level: debug}
metrics: {listen: %q}
routes:
  - name: es-key
    topics: [leak]
    sink: {type: elasticsearch, urls: [%q], api_key_file: %q, timeout: 2s}
    retry: {initial_interval: 50ms, max_interval: 200ms}
    breaker: {failures: 2, max_probe_interval: 200ms}
  - name: es-basic
    topics: [leak]
    sink: {type: elasticsearch, urls: [%q], username: elastic, password_file: %q, timeout: 2s}
    retry: {initial_interval: 50ms, max_interval: 200ms}
    breaker: {failures: 2, max_probe_interval: 200ms}
  - name: hec
    topics: [leak]
    sink: {type: splunk_hec, url: %q, token: "${SB_LEAK_HEC_TOKEN}", timeout: 2s}
    retry: {initial_interval: 50ms, max_interval: 200ms}
    breaker: {failures: 2, max_probe_interval: 200ms}
  - name: hook
    topics: [leak]
    sink:
      type: webhook
      url: %q
      timeout: 1s
      headers:
        Authorization: "Bearer ${SB_LEAK_WEBHOOK}"
        X-Api-Key: %q
    retry: {initial_interval: 50ms, max_interval: 200ms}
    breaker: {failures: 2, max_probe_interval: 200ms}
shutdown_timeout: 3s
`, brokers[0], metricsAddr, esURL, keyFile, esURL, pwFile, hecURL, deadURL+"/hook", secretWebhook2)
}

// TestSecretsNeverShown runs siembridge run, check and status against sinks
// that refuse the credentials or cannot be reached, and against Kafka with
// the right and the wrong password; no secret may appear in their output,
// on the status page or in the metrics.
func TestSecretsNeverShown(t *testing.T) {
	cluster, err := kafkatest.Start(2, []string{"leak"}, kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"), kfake.User("SCRAM-SHA-256", "bridge", secretKafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	produceWith(t, config.Kafka{Brokers: cluster.Brokers(), SASL: config.SASL{Mechanism: "SCRAM-SHA-256", Username: "admin", Password: "admin-pw"}}, "leak", 100)

	es := startES(t, esfake.Options{APIKey: "a-different-key", Username: "elastic", Password: "a-different-password"})
	hec := hecfake.New(hecfake.Options{Token: "a-different-token"})
	if err := hec.Start(); err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	deadURL := "http://" + freeAddr(t)
	metricsAddr := freeAddr(t)
	cfgPath := writeConfig(t, leakYAML(t, cluster.Brokers(), es.URL(), hec.URL(), deadURL, metricsAddr))
	t.Setenv("SB_LEAK_HEC_TOKEN", secretHEC)
	t.Setenv("SB_LEAK_WEBHOOK", secretWebhook)

	t.Run("run with failing sinks", func(t *testing.T) {
		t.Setenv("SB_LEAK_KAFKA_PW", secretKafka)
		p := startProc(t, "run", "--config", cfgPath)
		// Wait on what the fakes saw, so the failures were logged.
		waitFor(t, 30*time.Second, "the sinks to refuse requests", func() bool {
			return es.Requests() >= 4 && hec.Requests() >= 2
		})
		time.Sleep(time.Second) // the webhook's dial failures and the status page catch up
		for _, path := range []string{"/", "/api/status", "/metrics", "/api/history", "/readyz"} {
			body := httpGet(t, "http://"+metricsAddr+path)
			assertNoSecrets(t, "GET "+path, body)
		}
		p.stop(t, syscall.SIGTERM)
		out := p.out.String()
		if !strings.Contains(out, "401") && !strings.Contains(out, "403") {
			t.Errorf("expected logged sink refusals; output:\n%s", out)
		}
		assertNoSecrets(t, "siembridge run", out)
		if testing.Verbose() {
			t.Logf("siembridge run:\n%s", out)
		}
	})
	t.Run("run with the wrong kafka password", func(t *testing.T) {
		t.Setenv("SB_LEAK_KAFKA_PW", "wrong-"+secretKafka)
		p := startProc(t, "run", "--config", cfgPath)
		time.Sleep(3 * time.Second) // connection attempts fail and are logged
		p.stop(t, syscall.SIGTERM)
		if !strings.Contains(p.out.String(), "kafka") {
			t.Errorf("no logged Kafka failure:\n%s", p.out)
		}
		// The wrong password contains the right one: checking for the
		// right one covers both.
		assertNoSecrets(t, "siembridge run (wrong kafka password)", p.out.String())
	})
	for _, pw := range []string{secretKafka, "wrong-" + secretKafka} {
		t.Run("check and status, kafka password "+map[bool]string{true: "right", false: "wrong"}[pw == secretKafka], func(t *testing.T) {
			t.Setenv("SB_LEAK_KAFKA_PW", pw)
			out := runCmd(t, "check", "--config", cfgPath, "--timeout", "3s")
			if !strings.Contains(out, "FAIL routes[0].sink.urls") || !strings.Contains(out, "FAIL routes[3].sink.url") {
				t.Errorf("check did not report the failing sinks:\n%s", out)
			}
			assertNoSecrets(t, "siembridge check", out)
			if testing.Verbose() {
				t.Logf("siembridge check:\n%s", out)
			}
			assertNoSecrets(t, "siembridge status", runCmd(t, "status", "--config", cfgPath))
		})
	}
	t.Run("bad config", func(t *testing.T) {
		t.Setenv("SB_LEAK_KAFKA_PW", secretKafka)
		// A header value with a line break is refused; the error names
		// the header, never the value.
		bad := strings.Replace(leakYAML(t, cluster.Brokers(), es.URL(), hec.URL(), deadURL, metricsAddr),
			secretWebhook2+`"`, secretWebhook2+`\nX-Injected: 1"`, 1)
		path := writeConfig(t, bad)
		out := runCmd(t, "check", "--config", path)
		if !strings.Contains(out, "routes[3].sink.headers.X-Api-Key") {
			t.Errorf("check did not name the bad header:\n%s", out)
		}
		assertNoSecrets(t, "siembridge check (bad config)", out)
		assertNoSecrets(t, "siembridge run (bad config)", runCmd(t, "run", "--config", path))
	})
}

// runCmd runs the binary to completion and returns its combined output.
func runCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(siembridgeBinary(t), args...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

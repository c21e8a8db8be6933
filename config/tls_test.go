package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files in
// dir and returns their paths.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "siembridge test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSClientConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     TLS
		err     string // prefix of the error; "" for success
		roots   bool
		certs   int
		server  string
		skipped bool
	}{
		{"nothing set", TLS{}, "", false, 0, "", false},
		{"server name and insecure", TLS{ServerName: "kafka.example", InsecureSkipVerify: true}, "", false, 0, "kafka.example", true},
		{"ca", TLS{CAFile: cert}, "", true, 0, "", false},
		{"ca and client cert", TLS{CAFile: cert, CertFile: cert, KeyFile: key}, "", true, 1, "", false},
		{"ca missing", TLS{CAFile: filepath.Join(dir, "nope.pem")}, "kafka.tls.ca_file: open ", false, 0, "", false},
		{"ca without PEM", TLS{CAFile: notPEM}, "kafka.tls.ca_file: no PEM certificate found in " + notPEM, false, 0, "", false},
		{"cert without key", TLS{CertFile: cert}, "kafka.tls.cert_file: ", false, 0, "", false},
		{"key is not a key", TLS{CertFile: cert, KeyFile: notPEM}, "kafka.tls.cert_file: ", false, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tc, err := tt.tls.ClientConfig("kafka.tls")
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("ClientConfig error = %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x", tc.MinVersion)
			}
			if (tc.RootCAs != nil) != tt.roots {
				t.Errorf("RootCAs set = %v, want %v", tc.RootCAs != nil, tt.roots)
			}
			if len(tc.Certificates) != tt.certs {
				t.Errorf("%d certificates, want %d", len(tc.Certificates), tt.certs)
			}
			if tc.ServerName != tt.server || tc.InsecureSkipVerify != tt.skipped {
				t.Errorf("ServerName %q InsecureSkipVerify %v", tc.ServerName, tc.InsecureSkipVerify)
			}
		})
	}
}

func TestSinkTLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want TLS
	}{
		{"es none", Elasticsearch{}.TLS(), TLS{}},
		{"es ca", Elasticsearch{CAFile: "ca.pem"}.TLS(), TLS{Enabled: true, CAFile: "ca.pem"}},
		{"hec insecure", SplunkHEC{InsecureSkipVerify: true}.TLS(), TLS{Enabled: true, InsecureSkipVerify: true}},
		{"webhook ca", Webhook{CAFile: "ca.pem"}.TLS(), TLS{Enabled: true, CAFile: "ca.pem"}},
		{"syslog tcp", Syslog{Address: "q:514", Network: "tcp"}.TLS(), TLS{ServerName: "q"}},
		{"syslog tls", Syslog{Address: "[::1]:6514", Network: "tls", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}.TLS(),
			TLS{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "::1"}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

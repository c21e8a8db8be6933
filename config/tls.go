package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// ClientConfig builds the client TLS configuration t describes: TLS 1.2 or
// later, the CA file's certificates as the only roots when CAFile is set
// (the system roots otherwise), the client certificate when CertFile and
// KeyFile are set, ServerName and InsecureSkipVerify as given. It reads the
// files on every call and contacts nothing. Enabled is not consulted: the
// caller decides whether to use TLS at all.
//
// field names t's place in the configuration ("kafka.tls",
// "routes[0].sink"); errors start with it and the key at fault, e.g.
// "kafka.tls.ca_file: no PEM certificate found in ca.pem". The caller logs
// InsecureSkipVerify loudly.
func (t TLS) ClientConfig(field string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice, logged by the caller
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate found in %s", field, t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", field, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// TLS is the sink's TLS settings as a TLS block, for ClientConfig. Enabled
// reports whether any is set (the scheme of the URLs decides whether TLS is
// used).
func (e Elasticsearch) TLS() TLS {
	return TLS{
		Enabled: e.CAFile != "" || e.CertFile != "" || e.InsecureSkipVerify,
		CAFile:  e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile,
		InsecureSkipVerify: e.InsecureSkipVerify,
	}
}

// TLS is the sink's TLS settings as a TLS block, for ClientConfig. Enabled
// reports whether any is set (the scheme of the URL decides whether TLS is
// used).
func (h SplunkHEC) TLS() TLS {
	return TLS{Enabled: h.CAFile != "" || h.InsecureSkipVerify, CAFile: h.CAFile, InsecureSkipVerify: h.InsecureSkipVerify}
}

// TLS is the sink's TLS settings as a TLS block, for ClientConfig. Enabled
// reports whether any is set (the scheme of the URL decides whether TLS is
// used).
func (w Webhook) TLS() TLS {
	return TLS{Enabled: w.CAFile != "" || w.InsecureSkipVerify, CAFile: w.CAFile, InsecureSkipVerify: w.InsecureSkipVerify}
}

// TLS is the sink's TLS settings as a TLS block, for ClientConfig: Enabled
// with network tls or relp with relp_tls, and ServerName the host of Address, which is what a
// TLS dialer would check.
func (s Syslog) TLS() TLS {
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		host = ""
	}
	return TLS{
		Enabled: s.Network == "tls" || (s.Network == "relp" && s.RELPTLS), CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile,
		ServerName: host, InsecureSkipVerify: s.InsecureSkipVerify,
	}
}

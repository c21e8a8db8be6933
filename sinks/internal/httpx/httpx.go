// Package httpx builds the HTTP transport of siembridge's HTTP sinks
// (elasticsearch, splunkhec, webhook), so that the three agree on
// timeouts, connection reuse and TLS. It lives under sinks/internal because
// only the sinks use it.
package httpx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/siembridge/siembridge/config"
)

// MaxIdleConnsPerHost is the idle connections a sink keeps per host: the
// bridge sends several batches of a route at once (routes[].workers, up to
// config.MaxWorkers), so keep more than net/http's default of 2.
const MaxIdleConnsPerHost = 32

// ErrTransportTLS is returned by Transport when TLS settings are given
// with a round tripper it cannot apply them to.
var ErrTransportTLS = errors.New("ca_file and insecure_skip_verify need an *http.Transport")

// Transport returns the round tripper of an HTTP sink.
//
// With given nil it is a clone of http.DefaultTransport (proxy from the
// environment, dial and idle timeouts) whose ResponseHeaderTimeout is
// timeout (the context deadline bounds the whole request; this bounds the
// wait for the answer's first byte on the connection), keeping
// MaxIdleConnsPerHost idle connections per host, with t's client TLS
// configuration when t.Enabled.
//
// A given round tripper (tests, instrumentation) is used as it is, unless
// t.Enabled: then an *http.Transport is cloned and given t's TLS
// configuration, and any other round tripper is an error wrapping
// ErrTransportTLS. field names t in errors (see config.TLS.ClientConfig).
// Transport reads the TLS files and contacts nothing.
func Transport(given http.RoundTripper, timeout time.Duration, t config.TLS, field string) (http.RoundTripper, error) {
	var tc *tls.Config
	if t.Enabled {
		var err error
		if tc, err = t.ClientConfig(field); err != nil {
			return nil, err
		}
	}
	switch g := given.(type) {
	case nil:
		base, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("http.DefaultTransport is not an *http.Transport")
		}
		tr := base.Clone()
		tr.ResponseHeaderTimeout = timeout
		tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
		if tc != nil {
			tr.TLSClientConfig = tc
		}
		return tr, nil
	case *http.Transport:
		if tc == nil {
			return g, nil
		}
		tr := g.Clone()
		tr.TLSClientConfig = tc
		return tr, nil
	default:
		if tc != nil {
			return nil, fmt.Errorf("%s: %w", field, ErrTransportTLS)
		}
		return given, nil
	}
}

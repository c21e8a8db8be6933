package elasticsearch

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/siembridge/siembridge/sinks"
)

// Probe asks the cluster who the credentials are (GET
// /_security/_authenticate) with the configured timeout. Any authenticated
// principal may call that API, whatever its privileges, so a key holding
// only create_doc and auto_configure on its indices passes, where GET /
// would need the monitor cluster privilege. The client's product check
// runs on this answer as on any first successful one.
//
// When the cluster has no security API to answer (security disabled: a
// 500 naming xpack.security.enabled, or a 4xx other than 401/403/429 for
// an unknown endpoint), Probe asks GET / instead, which then needs no
// privilege.
//
// It returns nil for a 2xx answer from a genuine Elasticsearch, a fatal
// *sinks.RequestError for 401/403 or a product check failure, and a
// retryable one otherwise. Probe never rejects events.
func (s *Sink) Probe(ctx context.Context) error {
	if s.closed.Load() {
		return sinks.ErrClosed
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	res, err := esapi.SecurityAuthenticateRequest{}.Do(ctx, s.client)
	if err != nil {
		return transportError(parent, err)
	}
	status, body := probeAnswer(res)
	if status == 0 {
		return nil
	}
	if securityUnavailable(status, body) {
		res, err = esapi.InfoRequest{}.Do(ctx, s.client)
		if err != nil {
			return transportError(parent, err)
		}
		if status, body = probeAnswer(res); status == 0 {
			return nil
		}
	}
	re := statusError(status, 0, res.Header, body)
	if re.Outcome == sinks.Reject {
		re.Outcome = sinks.Retry // a probe never rejects events
	}
	return re
}

// probeAnswer reads and closes res: status 0 for a 2xx answer, otherwise
// the status and up to 64KiB of the body (best effort: it only enriches
// the message).
func probeAnswer(res *esapi.Response) (int, []byte) {
	defer res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // keep the connection reusable
		return 0, nil
	}
	body, _ := readAll(nil, res.Body, 64<<10)
	return res.StatusCode, body
}

// securityUnavailable reports whether an answer to _security/_authenticate
// says the cluster runs without security: Elasticsearch answers 500 "Security
// must be explicitly enabled ... [xpack.security.enabled]" when it is
// switched off, and a cluster or proxy without the endpoint answers 400,
// 404, 405 or 410.
func securityUnavailable(status int, body []byte) bool {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone:
		return true
	case http.StatusInternalServerError:
		return bytes.Contains(body, []byte("xpack.security.enabled"))
	}
	return false
}

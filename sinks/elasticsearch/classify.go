package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siembridge/siembridge/sinks"
)

// classifyItem decides what one bulk item's answer means. create reports
// whether we sent "create" actions; errType and reason are the item's
// error.type and error.reason (raw JSON string contents).
//
//	2xx                                   delivered
//	409 version_conflict_engine_exception delivered on create: the document
//	                                      is already indexed under our
//	                                      deterministic _id (a replay)
//	409 otherwise                         retry (a concurrent write)
//	a problem of the cluster, not of the  blocked: retried with backoff,
//	document (see sinkProblem)            never dead-lettered; the sink is
//	                                      reported degraded
//	429                                   throttled (write queue full)
//	503                                   throttled (shard unavailable; the
//	                                      cluster answered, so per item this
//	                                      is no outage)
//	5xx, 408                              retry
//	other 4xx                             reject: mapping and parsing errors,
//	                                      invalid index name, 413; sending
//	                                      the same document again cannot work
//	anything else (0, 1xx, 3xx)           retry: not an answer we understand
func classifyItem(status int, errType, reason []byte, create bool) sinks.Outcome {
	switch {
	case status >= 200 && status < 300:
		return sinks.Delivered
	case status == http.StatusConflict:
		if create && string(errType) == "version_conflict_engine_exception" {
			return sinks.Delivered
		}
		return sinks.Retry
	case sinkProblem(status, errType, reason):
		return sinks.Blocked
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return sinks.Throttled
	case status >= 500 && status < 600, status == http.StatusRequestTimeout:
		return sinks.Retry
	case status >= 400 && status < 500:
		return sinks.Reject
	}
	return sinks.Retry
}

// sinkProblem reports an item error that says nothing about the document
// and everything about the cluster or our access to it; sending the same
// document again works once an operator fixes the cause, so it must never
// go to the dead-letter topic:
//
//	401, 403 security_exception    the API key or role lacks create_doc or
//	                               auto_configure on the index
//	404 index_not_found_exception  the index does not exist and
//	                               action.auto_create_index forbids it
//	cluster_block_exception        the index or cluster is read-only (a
//	                               disk flood-stage watermark, an admin);
//	                               403, or 429 since 7.x
//	index_closed_exception         the target index is closed
//	op_type of create              an "index" action into a data stream:
//	                               only create is allowed (configuration)
func sinkProblem(status int, errType, reason []byte) bool {
	switch string(errType) {
	case "security_exception", "index_not_found_exception", "cluster_block_exception", "index_closed_exception":
		return true
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return true
	}
	return status == http.StatusBadRequest && bytes.Contains(reason, []byte("op_type of create"))
}

// statusError classifies a whole-request HTTP failure (any non-2xx status).
// sent is the number of events in the request.
//
//	401, 403     fatal: the cluster refuses our credentials whatever we
//	             send; the bridge marks the sink down and keeps the events
//	             (never dead-letter them)
//	429          throttled, with Retry-After: the cluster is alive and
//	             asks us to slow down
//	503          unavailable, with Retry-After: throttled, and it counts
//	             toward the breaker
//	5xx, 408     retry
//	413          more than one event: too large (the request, not an
//	             event, is over http.max_content_length; the bridge splits
//	             the batch); one event: reject, that event can never be
//	             indexed
//	other 4xx    fatal. A request-level 4xx does not depend on the events:
//	             documents are only parsed per item, and index names are
//	             per-item too. It comes from the action lines we generate
//	             from config (pipeline), a wrong URL path (404, 405) or a
//	             proxy, and every batch would get the same answer. Reject
//	             would send the whole stream to the dead-letter topic;
//	             fatal stops and keeps everything until an operator looks.
//	1xx, 3xx     fatal, for the same reason: a redirect (http→https, a
//	             login page) is a configuration problem; the client does
//	             not follow redirects.
func statusError(status, sent int, header http.Header, body []byte) *sinks.RequestError {
	re := &sinks.RequestError{Status: status}
	msg := describeErrorBody(body)
	if msg == "" {
		msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		re.Outcome = sinks.Fatal
	case status == http.StatusTooManyRequests:
		re.Outcome = sinks.Throttled
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status == http.StatusServiceUnavailable:
		re.Outcome = sinks.Unavailable
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status >= 500 || status == http.StatusRequestTimeout:
		re.Outcome = sinks.Retry
	case status == http.StatusRequestEntityTooLarge:
		re.Outcome = sinks.TooLarge
		if sent <= 1 {
			re.Outcome = sinks.Reject
		}
	default:
		re.Outcome = sinks.Fatal
	}
	re.Err = fmt.Errorf("elasticsearch bulk request: %s", msg)
	return re
}

// transportError classifies a failure to get any answer. parent is the
// caller's context: when it ended, the caller gave up (retry); when only
// our own timeout fired, the cluster was too slow (unavailable); any other
// failure is retry.
func transportError(parent context.Context, err error) *sinks.RequestError {
	re := &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("elasticsearch: %w", err)}
	switch {
	case parent.Err() != nil:
		re.Err = fmt.Errorf("elasticsearch: %w", parent.Err())
	case errors.Is(err, context.DeadlineExceeded) || sinks.IsTimeout(err):
		re.Outcome = sinks.Unavailable
	case isProductCheck(err):
		// The server answered 2xx without "X-Elastic-Product:
		// Elasticsearch": it is not Elasticsearch (or a proxy strips the
		// header). Nothing we send will change that.
		re.Outcome = sinks.Fatal
	}
	return re
}

// isProductCheck recognises the go-elasticsearch product check failure,
// which is a plain errors.New in that package (elasticsearch.go,
// unknownProduct), so the text is all there is to match.
func isProductCheck(err error) bool {
	return strings.Contains(err.Error(), "server is not Elasticsearch")
}

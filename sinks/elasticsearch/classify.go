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
//	429                                   retry, throttled (write queue full)
//	503                                   retry, throttled (shard unavailable)
//	5xx, 408                              retry
//	other 4xx                             reject: mapping and parsing errors,
//	                                      invalid index name, 413; sending
//	                                      the same document again cannot work
//	anything else (0, 1xx, 3xx)           retry: not an answer we understand
func classifyItem(status int, errType, reason []byte, create bool) (o sinks.Outcome, throttled bool) {
	switch {
	case status >= 200 && status < 300:
		return sinks.Delivered, false
	case status == http.StatusConflict:
		if create && string(errType) == "version_conflict_engine_exception" {
			return sinks.Delivered, false
		}
		return sinks.Retry, false
	case sinkProblem(status, errType, reason):
		return sinks.Blocked, false
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return sinks.Retry, true
	case status >= 500 && status < 600, status == http.StatusRequestTimeout:
		return sinks.Retry, false
	case status >= 400 && status < 500:
		return sinks.Reject, false
	}
	return sinks.Retry, false
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
//	429          retry, throttled, with Retry-After
//	503          retry, throttled, with Retry-After
//	5xx, 408     retry
//	413          more than one event: retry (the request, not an event, is
//	             too large for http.max_content_length; the bridge may split
//	             the batch or lower batch.max_bytes); one event: permanent,
//	             that event can never be indexed
//	other 4xx    fatal. A request-level 4xx does not depend on the events:
//	             documents are only parsed per item, and index names are
//	             per-item too. It comes from the action lines we generate
//	             from config (pipeline), a wrong URL path (404, 405) or a
//	             proxy, and every batch would get the same answer. Permanent
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
		re.Fatal = true
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		re.Throttled = true
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status >= 500 || status == http.StatusRequestTimeout:
	case status == http.StatusRequestEntityTooLarge:
		if sent <= 1 {
			re.Permanent = true
		}
	default:
		re.Fatal = true
	}
	re.Err = fmt.Errorf("elasticsearch bulk request: %s", msg)
	return re
}

// transportError classifies a failure to get any answer. parent is the
// caller's context: when it ended, the caller gave up; when only our own
// timeout fired, the cluster was too slow, which counts as throttling.
func transportError(parent context.Context, err error) *sinks.RequestError {
	re := &sinks.RequestError{Err: fmt.Errorf("elasticsearch: %w", err)}
	switch {
	case parent.Err() != nil:
		re.Err = fmt.Errorf("elasticsearch: %w", parent.Err())
	case errors.Is(err, context.DeadlineExceeded) || sinks.IsTimeout(err):
		re.Throttled = true
	case isProductCheck(err):
		// The server answered 2xx without "X-Elastic-Product:
		// Elasticsearch": it is not Elasticsearch (or a proxy strips the
		// header). Nothing we send will change that.
		re.Fatal = true
	}
	return re
}

// isProductCheck recognises the go-elasticsearch product check failure,
// which is a plain errors.New in that package (elasticsearch.go,
// unknownProduct), so the text is all there is to match.
func isProductCheck(err error) bool {
	return strings.Contains(err.Error(), "server is not Elasticsearch")
}

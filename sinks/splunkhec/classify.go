package splunkhec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siembridge/siembridge/internal/text"
	"github.com/siembridge/siembridge/sinks"
)

// HEC status codes, as documented for /services/collector.
const (
	codeSuccess          = 0
	codeTokenDisabled    = 1  // 403
	codeTokenRequired    = 2  // 401
	codeInvalidAuth      = 3  // 401
	codeInvalidToken     = 4  // 403
	codeNoData           = 5  // 400
	codeInvalidFormat    = 6  // 400, with invalid-event-number
	codeIncorrectIndex   = 7  // 400
	codeInternalError    = 8  // 500
	codeServerBusy       = 9  // 503
	codeChannelMissing   = 10 // 400
	codeInvalidChannel   = 11 // 400
	codeEventRequired    = 12 // 400, with invalid-event-number
	codeEventBlank       = 13 // 400, with invalid-event-number
	codeAckDisabled      = 14 // 400
	codeIndexedFields    = 15 // 400, with invalid-event-number
	codeQueryStringAuth  = 16 // 400
	codeHealthy          = 17 // 200, health endpoint
	codeUnhealthyQueues  = 18 // 503, health endpoint; 19 and up: other unhealthy states
	maxResponseBytes     = 64 << 10
	maxReasonBytes       = 512
	healthPath           = "/services/collector/health"
	eventPath            = "/services/collector/event"
	rawPath              = "/services/collector/raw"
	ackPath              = "/services/collector/ack"
	channelHeader        = "X-Splunk-Request-Channel"
	invalidEventNumberKV = "invalid-event-number"
)

// response is the JSON body of every HEC answer. Pointers tell a missing
// member from a zero.
type response struct {
	Text         string `json:"text"`
	Code         *int   `json:"code"`
	AckID        *int64 `json:"ackId"`
	InvalidEvent *int   `json:"invalid-event-number"`
}

// parseResponse decodes a HEC answer; ok is false when body is not one
// (a proxy's HTML page, an empty body).
func parseResponse(body []byte) (r response, ok bool) {
	if err := json.Unmarshal(body, &r); err != nil {
		return response{}, false
	}
	return r, r.Code != nil || r.Text != ""
}

// classify turns the answer to an event request of n events into nil
// (delivered, or accepted pending the indexer acknowledgement when the
// response carries an ackId), a *sinks.BatchError whose item indexes are
// positions in the request, or a *sinks.RequestError.
//
// The HEC code, when the body has one, decides; otherwise the HTTP status:
//
//	code 0 (2xx)                    delivered (with ack: once acknowledged)
//	codes 1-4, HTTP 401/403         fatal: token disabled, missing, malformed
//	                                or unknown. The sink is marked down and
//	                                keeps every event; never dead-letter.
//	code 7 incorrect index          fatal: the configured index is not in the
//	                                token's allowed list. It is our
//	                                configuration, not the events' fault.
//	                                With an index rendered per event
//	                                (perEventIndex) and a usable
//	                                invalid-event-number N: event N is
//	                                blocked (held and retried, never
//	                                dead-lettered, the sink degraded until
//	                                an operator allows the index), every
//	                                other event retried, as for code 6.
//	codes 10, 11, 14, 16            fatal: the token's acknowledgement setting
//	                                and ours disagree, or an unusable channel
//	                                or authorization form; configuration.
//	codes 6, 12, 13, 15 (400)       event invalid-event-number N is rejected
//	                                (dead-letter); every other event of the
//	                                request is retried (see below). Without a
//	                                usable N: a one-event request rejects
//	                                that event, a larger one is fatal (the
//	                                body we generate is broken: a bug, not
//	                                bad data, so keep the events).
//	code 9, HTTP 503, codes 18+     unavailable (server busy, queues full),
//	                                with Retry-After: throttled, and the
//	                                request counts toward the breaker
//	HTTP 429                        throttled, with Retry-After: HEC (or a
//	                                proxy) is alive and pushes back
//	code 8, 5xx, 408                retry (throttled when HTTP 429)
//	code 5 no data                  retry: we sent data, so it was lost on
//	                                the way
//	HTTP 413                        one event: reject it; more: too large
//	                                whatever the HEC code (the request
//	                                exceeds max_content_length; the bridge
//	                                splits the batch)
//	other 4xx, 1xx, 3xx             fatal: a wrong URL path or a proxy in the
//	                                way; every batch would get the same
//	                                answer
//	2xx that is not a HEC answer    retry: nothing says the events arrived
//
// The rule for a rejected event N: HEC validates the envelopes of a request
// in order and answers 400 at the first bad one. Events after N were
// certainly not indexed. Whether events 0..N-1 were is not documented
// (Splunk parses the stream as it reads it, so they may well have been)
// and, with indexer acknowledgement, a 400 carries no ackId to confirm
// them. So they are not counted as delivered: they are retried, without
// the bad event. At worst that indexes them twice, which at-least-once
// delivery allows, and each copy carries the same kafka_topic,
// kafka_partition and kafka_offset indexed fields, so duplicates can be
// found.
func classify(status int, header http.Header, body []byte, n int, now time.Time, perEventIndex bool) (response, error) {
	r, isHEC := parseResponse(body)
	code := -1
	if isHEC && r.Code != nil {
		code = *r.Code
	}
	msg := describe(status, r, isHEC, body)
	re := &sinks.RequestError{Outcome: sinks.Retry, Status: status, Err: errors.New("splunk hec: " + msg)}
	if status == http.StatusRequestEntityTooLarge && n > 1 {
		re.Outcome = sinks.TooLarge
		return r, re
	}

	switch code {
	case codeSuccess:
		if status >= 200 && status < 300 {
			return r, nil
		}
	case codeTokenDisabled, codeTokenRequired, codeInvalidAuth, codeInvalidToken:
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: %s: check the token", msg)
		return r, re
	case codeIncorrectIndex:
		if perEventIndex {
			if be := blockedEvent(status, r, n, msg); be != nil {
				return r, be
			}
		}
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: %s: the configured index is not allowed for this token", msg)
		return r, re
	case codeChannelMissing:
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: %s: the token requires indexer acknowledgement; set ack: true", msg)
		return r, re
	case codeAckDisabled:
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: %s: the token has indexer acknowledgement disabled; set ack: false", msg)
		return r, re
	case codeInvalidChannel, codeQueryStringAuth:
		re.Outcome = sinks.Fatal
		return r, re
	case codeInvalidFormat, codeEventRequired, codeEventBlank, codeIndexedFields:
		return r, invalidEvent(status, r, n, msg)
	case codeServerBusy:
		re.Outcome = pushBack(status, true)
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), now)
		return r, re
	case codeInternalError, codeNoData:
		re.Outcome = pushBack(status, false)
		return r, re
	}
	if code >= codeUnhealthyQueues && code < 100 && status == http.StatusServiceUnavailable {
		re.Outcome = sinks.Unavailable
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), now)
		return r, re
	}

	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		re.Outcome = sinks.Fatal
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		re.Outcome = pushBack(status, true)
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), now)
	case status >= 500 || status == http.StatusRequestTimeout:
	case status == http.StatusRequestEntityTooLarge: // one event (or none): more is TooLarge above
		return r, &sinks.BatchError{Items: []sinks.ItemError{{Index: 0, Outcome: sinks.Reject, Status: status, Reason: msg}}}
	case status >= 200 && status < 300:
		re.Err = fmt.Errorf("splunk hec: HTTP %d without a HEC answer: %s", status, msg)
	default:
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: %s: is url the HEC base URL (https://host:8088)?", msg)
	}
	return r, re
}

// probeAckID is the ack ID Probe asks about to check the ack endpoint. HEC
// numbers acks per channel from 0, so it never issued this one (2^53-1, the
// largest integer every JSON reader keeps exact): the answer is false and
// no pending acknowledgement is consumed (HEC forgets an ack once it
// reported it true).
const probeAckID = 1<<53 - 1

// ackAnswer classifies the answer to an ack request (a poll, or Probe's
// check) and returns the acks HEC reported:
//
//	200 {"acks":{...}}              the acks
//	code 9, HTTP 503, 429           unavailable (throttled for HTTP 429):
//	                                waiters keep waiting
//	code 8, 5xx, 408, other 2xx     retry: waiters keep waiting (until
//	                                ack_timeout)
//	any other answer (4xx, 3xx)     fatal: acknowledgement is refused (code
//	                                14 "ACK is disabled", a proxy or load
//	                                balancer that does not pass /ack, ...)
//
// A refused ack is a configuration problem of the sink, not of the events:
// HEC took them (it answered an ackId) but their indexing can never be
// confirmed. Retrying would post every batch again and again, so the sink
// is marked down with the reason instead; see ackPoller.
func ackAnswer(status int, header http.Header, body []byte, now time.Time) (map[string]bool, error) {
	if status == http.StatusOK {
		var r struct {
			Acks map[string]bool `json:"acks"`
		}
		if err := json.Unmarshal(body, &r); err == nil && r.Acks != nil {
			return r.Acks, nil
		}
	}
	r, isHEC := parseResponse(body)
	code := -1
	if isHEC && r.Code != nil {
		code = *r.Code
	}
	msg := describe(status, r, isHEC, body)
	re := &sinks.RequestError{Outcome: sinks.Retry, Status: status}
	switch {
	case code == codeServerBusy || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		re.Outcome = pushBack(status, true)
		re.RetryAfter = sinks.ParseRetryAfter(header.Get("Retry-After"), now)
		re.Err = errors.New("splunk hec: ack request: " + msg)
	case code == codeInternalError || status >= 500 || status == http.StatusRequestTimeout:
		re.Err = errors.New("splunk hec: ack request: " + msg)
	case status >= 200 && status < 300:
		re.Err = errors.New("splunk hec: ack request: unexpected answer " + msg)
	default:
		re.Outcome = sinks.Fatal
		re.Err = fmt.Errorf("splunk hec: indexer acknowledgement refused (%s) while events are accepted: "+
			"set ack: false, or enable indexer acknowledgement on the token and let any proxy or load balancer in front of HEC pass %s (with sticky sessions)",
			msg, ackPath)
	}
	return nil, re
}

// invalidEvent builds the outcome of a 400 naming one invalid event; see
// classify for the rule.
func invalidEvent(status int, r response, n int, msg string) error {
	bad := -1
	if r.InvalidEvent != nil && *r.InvalidEvent >= 0 && *r.InvalidEvent < n {
		bad = *r.InvalidEvent
	} else if n == 1 {
		bad = 0
	}
	if bad < 0 {
		return &sinks.RequestError{Outcome: sinks.Fatal, Status: status,
			Err: fmt.Errorf("splunk hec: %s: the answer names no event of the %d sent (invalid-event-number %s); a bug in the request encoding?", msg, n, optInt(r.InvalidEvent))}
	}
	be := &sinks.BatchError{Items: make([]sinks.ItemError, n)}
	for i := range n {
		be.Items[i] = sinks.ItemError{Index: i, Outcome: sinks.Retry, Status: status,
			Reason: "not indexed: HEC rejected the request at event " + strconv.Itoa(bad)}
	}
	be.Items[bad] = sinks.ItemError{Index: bad, Outcome: sinks.Reject, Status: status, Reason: msg}
	return be
}

// blockedEvent is the outcome of a 400 code 7 naming event N of a request
// whose index is rendered per event: N blocked, the others retried (see
// classify); nil without a usable N.
func blockedEvent(status int, r response, n int, msg string) *sinks.BatchError {
	if r.InvalidEvent == nil || *r.InvalidEvent < 0 || *r.InvalidEvent >= n {
		return nil
	}
	bad := *r.InvalidEvent
	be := &sinks.BatchError{Items: make([]sinks.ItemError, n)}
	for i := range n {
		be.Items[i] = sinks.ItemError{Index: i, Outcome: sinks.Retry, Status: status,
			Reason: "not indexed: HEC refused the index of event " + strconv.Itoa(bad)}
	}
	be.Items[bad] = sinks.ItemError{Index: bad, Outcome: sinks.Blocked, Status: status,
		Reason: msg + ": the token does not allow this event's index"}
	return be
}

func optInt(p *int) string {
	if p == nil {
		return "missing"
	}
	return strconv.Itoa(*p)
}

// describe renders an answer for an error message:
// "HTTP 403, code 4: Invalid token".
func describe(status int, r response, isHEC bool, body []byte) string {
	var b strings.Builder
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(status))
	switch {
	case isHEC && r.Code != nil:
		b.WriteString(", code ")
		b.WriteString(strconv.Itoa(*r.Code))
		if r.Text != "" {
			b.WriteString(": ")
			b.WriteString(text.Truncate(r.Text, maxReasonBytes))
		}
		if r.InvalidEvent != nil {
			b.WriteString(" (invalid-event-number ")
			b.WriteString(strconv.Itoa(*r.InvalidEvent))
			b.WriteString(")")
		}
	case isHEC:
		b.WriteString(": ")
		b.WriteString(text.Truncate(r.Text, maxReasonBytes))
	default:
		if t := strings.TrimSpace(string(body)); t != "" {
			b.WriteString(": ")
			b.WriteString(text.Truncate(t, 200))
		} else if st := http.StatusText(status); st != "" {
			b.WriteString(" ")
			b.WriteString(st)
		}
	}
	return b.String()
}

// transportError classifies a failure to get any answer. parent is the
// caller's context: when it ended, the caller gave up (retry); when only
// our own timeout fired, HEC was too slow (unavailable); any other failure
// is retry. label names the URL when the sink has several ("" otherwise).
func transportError(parent context.Context, label, op string, err error) *sinks.RequestError {
	where := "splunk hec"
	if label != "" {
		where = "[" + strings.TrimSpace(label) + "] splunk hec"
	}
	re := &sinks.RequestError{Outcome: sinks.Retry, Err: fmt.Errorf("%s: %s: %w", where, op, err)}
	switch {
	case parent.Err() != nil:
		re.Err = fmt.Errorf("%s: %s: %w", where, op, parent.Err())
	case errors.Is(err, context.DeadlineExceeded) || sinks.IsTimeout(err):
		re.Outcome = sinks.Unavailable
	}
	return re
}

// pushBack is the outcome of an answer to send again later. HTTP 429 is
// HEC or a proxy alive and asking us to slow down: throttled, whatever the
// HEC code. Otherwise busy (503, code 9 "server busy", full queues) is
// unavailable: throttled, and the request counts toward the breaker; and
// anything else is a plain retry.
func pushBack(status int, busy bool) sinks.Outcome {
	switch {
	case status == http.StatusTooManyRequests:
		return sinks.Throttled
	case busy:
		return sinks.Unavailable
	}
	return sinks.Retry
}

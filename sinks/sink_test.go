package sinks

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"3", 3 * time.Second},
		{" 10 ", 10 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"99999", time.Hour},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		outcome   Outcome
		fatal     bool
		throttled bool
		after     time.Duration
	}{
		{"nil", nil, Delivered, false, false, 0},
		{"plain error", errors.New("reset"), Retry, false, false, 0},
		{"request error", &RequestError{Status: 502, Err: errors.New("bad gateway")}, Retry, false, false, 0},
		{"throttled", &RequestError{Status: 429, Err: errors.New("slow down"), Throttled: true, RetryAfter: 2 * time.Second}, Retry, false, true, 2 * time.Second},
		{"permanent", &RequestError{Status: 413, Err: errors.New("too large"), Permanent: true}, Reject, false, false, 0},
		{"fatal wins over permanent", &RequestError{Status: 401, Err: errors.New("no"), Permanent: true, Fatal: true}, Retry, true, false, 0},
		{"wrapped", fmt.Errorf("send: %w", &RequestError{Err: errors.New("x"), Fatal: true}), Retry, true, false, 0},
		{"batch error", &BatchError{Items: []ItemError{{Index: 1, Outcome: Retry}}, Throttled: true, RetryAfter: time.Second}, Retry, false, true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.outcome {
				t.Errorf("Classify = %s, want %s", got, tt.outcome)
			}
			if got := IsFatal(tt.err); got != tt.fatal {
				t.Errorf("IsFatal = %v, want %v", got, tt.fatal)
			}
			if got := IsThrottled(tt.err); got != tt.throttled {
				t.Errorf("IsThrottled = %v, want %v", got, tt.throttled)
			}
			if got := RetryAfter(tt.err); got != tt.after {
				t.Errorf("RetryAfter = %s, want %s", got, tt.after)
			}
		})
	}
}

func TestBatchErrorMessage(t *testing.T) {
	be := &BatchError{Items: []ItemError{
		{Index: 0, Outcome: Reject, Status: 400, Reason: "mapper_parsing_exception: bad"},
		{Index: 3, Outcome: Retry, Status: 429},
	}}
	if got, want := be.Error(), "1 events to retry, 1 rejected (first: status 400: mapper_parsing_exception: bad)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIsTimeout(t *testing.T) {
	if !IsTimeout(os.ErrDeadlineExceeded) || !IsTimeout(fmt.Errorf("w: %w", os.ErrDeadlineExceeded)) {
		t.Error("a deadline is a timeout")
	}
	if IsTimeout(errors.New("refused")) || IsTimeout(nil) {
		t.Error("not timeouts")
	}
}

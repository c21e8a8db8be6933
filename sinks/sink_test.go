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

func TestOf(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		outcome Outcome
		after   time.Duration
	}{
		{"nil", nil, Delivered, 0},
		{"plain error", errors.New("reset"), Retry, 0},
		{"zero outcome is retry", &RequestError{Status: 502, Err: errors.New("bad gateway")}, Retry, 0},
		{"retry", &RequestError{Outcome: Retry, Status: 502, Err: errors.New("bad gateway")}, Retry, 0},
		{"throttled", &RequestError{Outcome: Throttled, Status: 429, Err: errors.New("slow down"), RetryAfter: 2 * time.Second}, Throttled, 2 * time.Second},
		{"unavailable", &RequestError{Outcome: Unavailable, Status: 503, Err: errors.New("busy")}, Unavailable, 0},
		{"reject", &RequestError{Outcome: Reject, Status: 413, Err: errors.New("too large")}, Reject, 0},
		{"too large", &RequestError{Outcome: TooLarge, Status: 413, Err: errors.New("too large")}, TooLarge, 0},
		{"fatal", &RequestError{Outcome: Fatal, Status: 401, Err: errors.New("no")}, Fatal, 0},
		{"wrapped", fmt.Errorf("send: %w", &RequestError{Outcome: Fatal, Err: errors.New("x")}), Fatal, 0},
		{"batch error", &BatchError{Items: []ItemError{{Index: 1, Outcome: Throttled}}, RetryAfter: time.Second}, Delivered, time.Second},
		{"wrapped batch error", fmt.Errorf("send: %w", &BatchError{Items: []ItemError{{Index: 0, Outcome: Reject}}}), Delivered, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.outcome {
				t.Errorf("Of = %s, want %s", got, tt.outcome)
			}
			if got := RetryAfter(tt.err); got != tt.after {
				t.Errorf("RetryAfter = %s, want %s", got, tt.after)
			}
		})
	}
}

func TestOutcomeString(t *testing.T) {
	want := []string{"delivered", "retry", "throttled", "unavailable", "reject", "blocked", "fatal", "too_large"}
	for o := Delivered; o <= TooLarge; o++ {
		if got := o.String(); got != want[o] {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want[o])
		}
	}
	if got := Outcome(200).String(); got != "Outcome(200)" {
		t.Errorf("unknown outcome: %q", got)
	}
}

func TestBatchErrorCount(t *testing.T) {
	be := &BatchError{Items: []ItemError{
		{Index: 0, Outcome: Reject}, {Index: 1, Outcome: Throttled}, {Index: 2, Outcome: Throttled}, {Index: 4, Outcome: Blocked},
	}}
	for o, n := range map[Outcome]int{Reject: 1, Throttled: 2, Blocked: 1, Retry: 0, Delivered: 0} {
		if got := be.Count(o); got != n {
			t.Errorf("Count(%s) = %d, want %d", o, got, n)
		}
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

package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	plus2 := time.FixedZone("", 2*3600)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "now", want: now},
		{in: "NOW", want: now},
		{in: " now ", want: now},
		{in: "-2h", want: now.Add(-2 * time.Hour)},
		{in: "-30m", want: now.Add(-30 * time.Minute)},
		{in: "-90s", want: now.Add(-90 * time.Second)},
		{in: "-1d", want: now.Add(-24 * time.Hour)},
		{in: "-1h30m", want: now.Add(-90 * time.Minute)},
		{in: "-1d12h", want: now.Add(-36 * time.Hour)},
		{in: "-1.5h", want: now.Add(-90 * time.Minute)},
		{in: "-0.5d", want: now.Add(-12 * time.Hour)},
		{in: "-250ms", want: now.Add(-250 * time.Millisecond)},
		{in: "2024-04-30T13:00:00Z", want: time.Date(2024, 4, 30, 13, 0, 0, 0, time.UTC)},
		{in: "2024-04-30T13:00:00.125Z", want: time.Date(2024, 4, 30, 13, 0, 0, 125e6, time.UTC)},
		{in: "2024-04-30T15:00:00+02:00", want: time.Date(2024, 4, 30, 15, 0, 0, 0, plus2)},
		{in: "2024-04-30T15:00:00.5+02:00", want: time.Date(2024, 4, 30, 15, 0, 0, 5e8, plus2)},
		{in: "2024-04-30T13:00:00", want: time.Date(2024, 4, 30, 13, 0, 0, 0, time.UTC)},
		{in: "2024-04-30", want: time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC)},

		{in: "", wantErr: "empty time"},
		{in: "-", wantErr: "missing duration"},
		{in: "-h", wantErr: "expected a number"},
		{in: "-2", wantErr: "missing unit"},
		{in: "-2w", wantErr: "unknown unit"},
		{in: "-2h-1m", wantErr: "unknown unit"},
		{in: "-1.2.3h", wantErr: "bad number"},
		{in: "+2h", wantErr: "is not a time"},
		{in: "2h", wantErr: "is not a time"},
		{in: "yesterday", wantErr: "is not a time"},
		{in: "2024-13-01T00:00:00Z", wantErr: "is not a time"},
		{in: "-1000000d", wantErr: "too far"},
		{in: "-9999999999h", wantErr: "too far"},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseTime(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

package budget

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
)

func mustSchedule(t *testing.T, c config.Budget) Schedule {
	t.Helper()
	s, err := NewSchedule(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTime(t *testing.T, loc, s string) time.Time {
	t.Helper()
	l, err := time.LoadLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestScheduleDays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tz, reset, at string
		start, next         string // local times
		dayLen              time.Duration
	}{
		{"utc midnight", "UTC", "00:00", "2026-11-29 18:45", "2026-11-29 00:00", "2026-11-30 00:00", 24 * time.Hour},
		{"utc at the reset", "UTC", "00:00", "2026-11-30 00:00", "2026-11-30 00:00", "2026-12-01 00:00", 24 * time.Hour},
		{"before the local reset", "Europe/Berlin", "06:00", "2026-11-29 05:59", "2026-11-28 06:00", "2026-11-29 06:00", 24 * time.Hour},
		{"spring forward: 23h day", "Europe/Berlin", "00:00", "2026-03-29 12:00", "2026-03-29 00:00", "2026-03-30 00:00", 23 * time.Hour},
		{"fall back: 25h day", "Europe/Berlin", "00:00", "2026-10-25 12:00", "2026-10-25 00:00", "2026-10-26 00:00", 25 * time.Hour},
		{"new york fall back", "America/New_York", "00:00", "2026-11-01 23:00", "2026-11-01 00:00", "2026-11-02 00:00", 25 * time.Hour},
		{"year end", "Asia/Tokyo", "09:30", "2027-01-01 09:00", "2026-12-31 09:30", "2027-01-01 09:30", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSchedule(t, config.Budget{Timezone: tt.tz, Reset: tt.reset})
			at := mustTime(t, tt.tz, tt.at)
			start, next := s.DayStart(at), s.NextReset(at)
			if want := mustTime(t, tt.tz, tt.start); !start.Equal(want) {
				t.Errorf("DayStart = %v, want %v", start, want)
			}
			if want := mustTime(t, tt.tz, tt.next); !next.Equal(want) {
				t.Errorf("NextReset = %v, want %v", next, want)
			}
			if got := next.Sub(start); got != tt.dayLen {
				t.Errorf("day length %v, want %v", got, tt.dayLen)
			}
		})
	}
}

// A reset inside the hour that a spring-forward day skips still gives one
// day start per date, in order, and never a reset at or before t.
func TestScheduleResetInDSTGap(t *testing.T) {
	t.Parallel()
	s := mustSchedule(t, config.Budget{Timezone: "Europe/Berlin", Reset: "02:30"})
	at := mustTime(t, "Europe/Berlin", "2026-03-27 12:00")
	prev := s.DayStart(at)
	for i := 0; i < 4*24; i++ {
		at = at.Add(time.Hour)
		next := s.NextReset(at)
		if !next.After(at) {
			t.Fatalf("NextReset(%v) = %v, not after", at, next)
		}
		start := s.DayStart(at)
		if start.After(at) || start.Before(prev) {
			t.Fatalf("DayStart(%v) = %v, previous %v", at, start, prev)
		}
		if d := next.Sub(start); d < 22*time.Hour || d > 26*time.Hour {
			t.Fatalf("day from %v to %v is %v long", start, next, d)
		}
		prev = start
	}
}

func TestScheduleWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		window, at string
		in         bool
		opens      string
	}{
		{"22:00-06:00", "2026-11-29 21:59", false, "2026-11-29 22:00"},
		{"22:00-06:00", "2026-11-29 22:00", true, "2026-11-29 22:00"},
		{"22:00-06:00", "2026-11-30 05:59", true, "2026-11-30 05:59"},
		{"22:00-06:00", "2026-11-30 06:00", false, "2026-11-30 22:00"},
		{"01:00-05:00", "2026-11-30 06:00", false, "2026-12-01 01:00"},
		{"01:00-05:00", "2026-11-30 00:30", false, "2026-11-30 01:00"},
		{"", "2026-11-30 12:00", true, "2026-11-30 12:00"},
	}
	for _, tt := range tests {
		s := mustSchedule(t, config.Budget{Timezone: "Europe/Berlin", DeferWindow: tt.window})
		at := mustTime(t, "Europe/Berlin", tt.at)
		if got := s.InWindow(at); got != tt.in {
			t.Errorf("%s at %s: InWindow = %v", tt.window, tt.at, got)
		}
		if got, want := s.WindowOpens(at), mustTime(t, "Europe/Berlin", tt.opens); !got.Equal(want) {
			t.Errorf("%s at %s: WindowOpens = %v, want %v", tt.window, tt.at, got, want)
		}
	}
}

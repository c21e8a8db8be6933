package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // budget timezones work in images without /usr/share/zoneinfo
)

// Budget caps what a route sends in a day (routes[].budget), counted as
// sent to the sink: after the filter, shaping and sampling. Package budget
// keeps the account; docs/budget.md explains the design.
type Budget struct {
	// BytesPerDay sent to the sink per day. 0: no byte cap. At least one
	// of bytes_per_day and events_per_day must be set.
	BytesPerDay ByteSize `yaml:"bytes_per_day"`
	// EventsPerDay sent to the sink per day. 0: no event cap.
	EventsPerDay int64 `yaml:"events_per_day"`
	// Reset is the local time of day ("HH:MM") at which a new day's
	// budget starts. Default "00:00".
	Reset string `yaml:"reset"`
	// Timezone of reset and defer_window, an IANA name. Default "UTC".
	Timezone string `yaml:"timezone"`
	// Priority is a filter expression (the language of routes[].filter):
	// events it accepts are sent even when the day's budget is spent.
	// Empty: none.
	Priority string `yaml:"priority"`
	// WhenSpent: "defer" (the other events wait in Kafka, uncommitted,
	// until the budget resets) or "drop" (they are committed and counted
	// as dropped). Default "defer".
	WhenSpent string `yaml:"when_spent"`
	// DeferWindow ("HH:MM-HH:MM", local time, may wrap midnight) is when
	// deferred events are drained after the reset. Empty: at the reset.
	DeferWindow string `yaml:"defer_window"`
	// Topic is the compacted Kafka topic in which the route's processes
	// share what they spent. Default "siembridge-<name>-budget".
	Topic string `yaml:"topic"`
	// SyncInterval between two exchanges of the spent counts through the
	// topic. Default 5s.
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// ParseClock parses a local time of day "HH:MM" into minutes after
// midnight.
func ParseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 23:59)", s)
	}
	return h*60 + m, nil
}

// ParseWindow parses a daily window "HH:MM-HH:MM" into its start and end
// in minutes after midnight; the end may be before the start (the window
// wraps midnight), but not equal to it.
func ParseWindow(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a window HH:MM-HH:MM", s)
	}
	if from, err = ParseClock(strings.TrimSpace(a)); err != nil {
		return 0, 0, err
	}
	if to, err = ParseClock(strings.TrimSpace(b)); err != nil {
		return 0, 0, err
	}
	if from == to {
		return 0, 0, fmt.Errorf("%q is empty: start and end are equal", s)
	}
	return from, to, nil
}

func (b *Budget) applyDefaults(route string) {
	setDefault(&b.Reset, DefaultBudgetReset)
	setDefault(&b.Timezone, DefaultBudgetTimezone)
	setDefault(&b.WhenSpent, DefaultBudgetWhenSpent)
	setDefault(&b.SyncInterval, DefaultBudgetSyncInterval)
	if route != "" {
		setDefault(&b.Topic, DefaultBudgetTopic(route))
	}
	b.WhenSpent = strings.ToLower(b.WhenSpent)
}

func (b *Budget) validate(path string, r *Route) error {
	if b.BytesPerDay < 0 || b.EventsPerDay < 0 {
		return fieldErr(path, "bytes_per_day and events_per_day must be >= 0")
	}
	if b.BytesPerDay == 0 && b.EventsPerDay == 0 {
		return fieldErr(path+".bytes_per_day", "bytes_per_day or events_per_day is required with a budget")
	}
	if _, err := ParseClock(b.Reset); err != nil {
		return fieldErr(path+".reset", err.Error())
	}
	if _, err := time.LoadLocation(b.Timezone); err != nil || b.Timezone == "Local" {
		return fieldErr(path+".timezone", fmt.Sprintf("%q is not an IANA time zone (e.g. UTC, Europe/Berlin)", b.Timezone))
	}
	if b.Priority != "" && filterCheck != nil {
		if err := filterCheck(b.Priority); err != nil {
			return fieldErr(path+".priority", err.Error())
		}
	}
	if err := oneOf(path+".when_spent", b.WhenSpent, "defer", "drop"); err != nil {
		return err
	}
	if b.DeferWindow != "" {
		if b.WhenSpent == "drop" {
			return fieldErr(path+".defer_window", "has no use with when_spent: drop")
		}
		if _, _, err := ParseWindow(b.DeferWindow); err != nil {
			return fieldErr(path+".defer_window", err.Error())
		}
	}
	if err := checkTopic(b.Topic); err != nil {
		return fieldErr(path+".topic", err.Error())
	}
	if t := b.Topic; t == r.DeadLetterTopic() || slices.Contains(r.Topics, t) {
		return fieldErr(path+".topic", fmt.Sprintf("%q is already used by the route", t))
	}
	return positive(path+".sync_interval", b.SyncInterval)
}

// Location is the budget's time zone; Validate has checked it.
func (b *Budget) Location() *time.Location {
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

package budget

import (
	"time"

	"github.com/siembridge/siembridge/config"
)

// Schedule is a budget's calendar: when each day's budget begins (a local
// time of day in a time zone, so a day is 23 or 25 hours long across a
// daylight-saving change) and the optional daily window in which deferred
// events may drain. A Schedule is a value, safe for concurrent use.
type Schedule struct {
	loc   *time.Location
	reset int // minutes after local midnight
	// window [from, to) in minutes after local midnight; to < from wraps
	// midnight. hasWindow false: deferred events drain at any time.
	from, to  int
	hasWindow bool
}

// NewSchedule makes the schedule of a validated budget configuration.
func NewSchedule(c config.Budget) (Schedule, error) {
	s := Schedule{loc: time.UTC}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return Schedule{}, err
		}
		s.loc = loc
	}
	if c.Reset != "" {
		m, err := config.ParseClock(c.Reset)
		if err != nil {
			return Schedule{}, err
		}
		s.reset = m
	}
	if c.DeferWindow != "" {
		from, to, err := config.ParseWindow(c.DeferWindow)
		if err != nil {
			return Schedule{}, err
		}
		s.from, s.to, s.hasWindow = from, to, true
	}
	return s, nil
}

// at is the instant of local time of day m on the date y-mo-d (normalized:
// d may be 0 or one past the month's end). On a day when m falls in a
// daylight-saving gap, time.Date picks one of the two offsets; the result
// stays within an hour of the wall time and days stay in order.
func (s Schedule) at(y int, mo time.Month, d, m int) time.Time {
	return time.Date(y, mo, d, m/60, m%60, 0, 0, s.loc)
}

// DayStart returns the start of the budget day that holds t: the last
// reset at or before t.
func (s Schedule) DayStart(t time.Time) time.Time {
	l := t.In(s.loc)
	y, mo, d := l.Date()
	start := s.at(y, mo, d, s.reset)
	if start.After(t) {
		start = s.at(y, mo, d-1, s.reset)
	}
	return start
}

// NextReset returns the first reset after t.
func (s Schedule) NextReset(t time.Time) time.Time {
	y, mo, d := s.DayStart(t).In(s.loc).Date()
	next := s.at(y, mo, d+1, s.reset)
	if !next.After(t) { // a reset in a DST gap can land back on t's day
		next = s.at(y, mo, d+2, s.reset)
	}
	return next
}

// InWindow reports whether deferred events may drain at t: always when
// there is no window.
func (s Schedule) InWindow(t time.Time) bool {
	if !s.hasWindow {
		return true
	}
	l := t.In(s.loc)
	m := l.Hour()*60 + l.Minute()
	if s.from < s.to {
		return m >= s.from && m < s.to
	}
	return m >= s.from || m < s.to
}

// WindowOpens returns t when deferred events may drain at t, else the
// next time the window opens.
func (s Schedule) WindowOpens(t time.Time) time.Time {
	if s.InWindow(t) {
		return t
	}
	l := t.In(s.loc)
	y, mo, d := l.Date()
	open := s.at(y, mo, d, s.from)
	if !open.After(t) {
		open = s.at(y, mo, d+1, s.from)
	}
	return open
}

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }

package bench

import (
	"fmt"
	"strings"
)

// Check is one target of a row: Value ≥ Limit, or ≤ Limit with AtMost.
type Check struct {
	Name   string  // what Value is, e.g. "rate / H" or "429s / delivered"
	Value  float64 // measured
	Limit  float64
	AtMost bool
}

// Pass reports whether the check holds.
func (c Check) Pass() bool {
	if c.AtMost {
		return c.Value <= c.Limit
	}
	return c.Value >= c.Limit
}

// Target renders the limit, e.g. "≥ 0.85".
func (c Check) Target() string {
	op := "≥"
	if c.AtMost {
		op = "≤"
	}
	return fmt.Sprintf("%s %.2f", op, c.Limit)
}

// Row is one line of the scenario table: a measurement against its own
// bound, measured in the same run, with the targets it must meet.
type Row struct {
	Scenario string `json:"scenario"`
	Label    string `json:"label"`
	// Value is what was measured and Bound what it is compared with, both
	// in Unit ("events/s" or "s"); BoundName says what the bound is.
	Value     float64 `json:"value"`
	Bound     float64 `json:"bound"`
	Unit      string  `json:"unit"`
	BoundName string  `json:"bound_name"`
	// Checks are the targets; the first, when there is one, is on Ratio.
	// A row without checks is reported only (no target in the issue).
	Checks []Check `json:"checks,omitempty"`
	// RSS is the peak RSS of each bridge process of the row; each must
	// stay within RSSBound (buffer.max_bytes + RSSAllowance).
	RSS      []int64 `json:"rss_bytes,omitempty"`
	RSSBound int64   `json:"rss_bound_bytes,omitempty"`
	Note     string  `json:"note,omitempty"`
	// Load is the machine's 1-minute load average when the row was done
	// (-1 unknown): the noise it was measured in.
	Load float64 `json:"load_average"`
	// Err says why the row could not be measured; the row fails.
	Err string `json:"error,omitempty"`
}

// Ratio is Value/Bound, 0 without a bound.
func (r Row) Ratio() float64 { return ratio(r.Value, r.Bound) }

// RSSPass reports whether every bridge process stayed within RSSBound.
func (r Row) RSSPass() bool {
	for _, v := range r.RSS {
		if r.RSSBound > 0 && v > r.RSSBound {
			return false
		}
	}
	return true
}

// Pass reports whether the row was measured, meets every check and kept
// its processes within the RSS bound. A row without checks passes on RSS
// alone.
func (r Row) Pass() bool {
	if r.Err != "" || !r.RSSPass() {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass() {
			return false
		}
	}
	return true
}

// Verdict is PASS or FAIL, or "info" for a row reported only that kept
// its RSS bound.
func (r Row) Verdict() string {
	if len(r.Checks) == 0 && r.Pass() {
		return "info"
	}
	return verdict(r.Pass())
}

// formatValue renders v in unit.
func formatValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.1f s", v)
	case "":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%s %s", groupDigits(v), unit)
}

// groupDigits writes v rounded with thin groups of three: 123 456.
func groupDigits(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// extraChecks renders the checks after the first (which has columns of
// its own), e.g. "429s / delivered 0.51 (≤ 0.10) FAIL".
func (r Row) extraChecks() string {
	if len(r.Checks) < 2 {
		return ""
	}
	var parts []string
	for _, c := range r.Checks[1:] {
		parts = append(parts, fmt.Sprintf("%s %.2f (%s) %s", c.Name, c.Value, c.Target(), verdict(c.Pass())))
	}
	return strings.Join(parts, "; ")
}

// rssText renders the peak RSS against its bound, e.g. "71 MiB ≤ 160".
func (r Row) rssText() string {
	if len(r.RSS) == 0 {
		return "—"
	}
	var parts []string
	for _, v := range r.RSS {
		parts = append(parts, fmt.Sprintf("%d", v>>20))
	}
	s := strings.Join(parts, ", ") + " MiB"
	if r.RSSBound > 0 {
		op := "≤"
		if !r.RSSPass() {
			op = ">"
		}
		s += fmt.Sprintf(" %s %d", op, r.RSSBound>>20)
	}
	return s
}

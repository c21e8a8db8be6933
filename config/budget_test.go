package config

import (
	"strings"
	"testing"
)

func TestBudgetInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, budget, path, msg string
	}{
		{"no cap", "{reset: \"01:00\"}", "routes[0].budget.bytes_per_day", "required"},
		{"negative events", "{events_per_day: -1}", "routes[0].budget", ">= 0"},
		{"reset hour", "{bytes_per_day: 1GiB, reset: \"24:00\"}", "routes[0].budget.reset", "00:00 to 23:59"},
		{"reset shape", "{bytes_per_day: 1GiB, reset: \"7am\"}", "routes[0].budget.reset", "HH:MM"},
		{"timezone", "{bytes_per_day: 1GiB, timezone: Mars/Olympus}", "routes[0].budget.timezone", "IANA"},
		{"timezone Local", "{bytes_per_day: 1GiB, timezone: Local}", "routes[0].budget.timezone", "IANA"},
		{"when_spent", "{bytes_per_day: 1GiB, when_spent: queue}", "routes[0].budget.when_spent", "defer, drop"},
		{"window shape", "{bytes_per_day: 1GiB, defer_window: \"22:00\"}", "routes[0].budget.defer_window", "HH:MM-HH:MM"},
		{"window empty", "{bytes_per_day: 1GiB, defer_window: \"22:00-22:00\"}", "routes[0].budget.defer_window", "empty"},
		{"window with drop", "{bytes_per_day: 1GiB, when_spent: drop, defer_window: \"22:00-06:00\"}", "routes[0].budget.defer_window", "drop"},
		{"topic is the route's", "{bytes_per_day: 1GiB, topic: t}", "routes[0].budget.topic", "already used"},
		{"topic bad", "{bytes_per_day: 1GiB, topic: \"a b\"}", "routes[0].budget.topic", ""},
		{"sync interval", "{bytes_per_day: 1GiB, sync_interval: -1s}", "routes[0].budget.sync_interval", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(route("budget: " + tt.budget + "\n" + fileSink)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q, want %s: ...%s...", err, tt.path, tt.msg)
			}
		})
	}
}

func TestBudgetDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(route("budget: {bytes_per_day: 400GiB, timezone: Europe/Berlin, when_spent: DROP}\n" + fileSink)))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Routes[0].Budget
	if b.BytesPerDay != 400*GiB || b.Reset != DefaultBudgetReset || b.WhenSpent != "drop" ||
		b.Topic != "siembridge-r-budget" || b.SyncInterval != DefaultBudgetSyncInterval {
		t.Fatalf("defaults: %+v", b)
	}
	if got := b.Location().String(); got != "Europe/Berlin" {
		t.Fatalf("location %s", got)
	}
	if c, _ := Parse([]byte(route(fileSink))); c.Routes[0].Budget != nil {
		t.Fatal("a route without budget got one")
	}
}

func TestParseWindow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in       string
		from, to int
		ok       bool
	}{
		{"22:00-06:00", 22 * 60, 6 * 60, true},
		{"00:00-23:59", 0, 23*60 + 59, true},
		{"01:30 - 02:45", 90, 165, true},
		{"1:30-2:45", 0, 0, false},
		{"22:00-22:00", 0, 0, false},
		{"22:60-01:00", 0, 0, false},
		{"", 0, 0, false},
	} {
		from, to, err := ParseWindow(tt.in)
		if (err == nil) != tt.ok || from != tt.from || to != tt.to {
			t.Errorf("ParseWindow(%q) = %d, %d, %v", tt.in, from, to, err)
		}
	}
}

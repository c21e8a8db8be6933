package budget

import (
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

var t0 = time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)

func newBudget(t *testing.T, c config.Budget, clk *fakeClock) *Budget {
	t.Helper()
	b, err := New(c, WithClock(clk), WithMember("m1"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ev(off int64, doc string) *event.Event {
	e := &event.Event{}
	e.Init("t", 0, off, t0, nil, []byte(doc), false)
	return e
}

// The budget runs out within a day and comes back at the reset; on the
// boundary the new day starts with nothing spent.
func TestBudgetDayBoundary(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(t0)
	b := newBudget(t, config.Budget{BytesPerDay: 1000, EventsPerDay: 100}, clk)
	steps := []struct {
		advance       time.Duration
		events, bytes int
		spent, drain  bool
	}{
		{0, 10, 500, false, true},
		{time.Hour, 10, 499, false, true}, // 999 bytes
		{0, 1, 1, true, false},            // 1000: spent
		{59*time.Minute + 59*time.Second, 0, 0, true, false},
		{time.Second, 0, 0, false, true}, // midnight: a new day
		{0, 100, 1, true, false},         // the event cap
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		b.Spend(s.events, s.bytes)
		if got := b.Spent(); got != s.spent {
			t.Fatalf("step %d at %v: Spent = %v", i, clk.Now(), got)
		}
		if got := b.DrainOpen(); got != s.drain {
			t.Fatalf("step %d: DrainOpen = %v", i, got)
		}
	}
	st := b.Stats()
	if st.SpentEvents != 100 || st.SpentBytes != 1 || st.RemainingEvents != 0 || st.RemainingBytes != 999 ||
		!st.DayStart.Equal(t0.Add(2*time.Hour)) || !st.SpentAt.Equal(clk.Now()) {
		t.Fatalf("stats %+v", st)
	}
}

// After the reset deferred events drain only inside the defer window.
func TestBudgetDrainWindow(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(t0) // 22:00 UTC = 23:00 in Berlin
	b := newBudget(t, config.Budget{BytesPerDay: 10, Timezone: "Europe/Berlin", Reset: "00:00", DeferWindow: "01:00-05:00"}, clk)
	b.Spend(1, 10)
	for _, s := range []struct {
		to    time.Duration // after t0
		drain bool
	}{{0, false}, {time.Hour, false}, {time.Hour + 59*time.Minute, false}, {2 * time.Hour, true}, {6 * time.Hour, false}} {
		clk.Set(t0.Add(s.to))
		if got := b.DrainOpen(); got != s.drain {
			t.Errorf("at %v: DrainOpen = %v", clk.Now().In(b.Schedule().Location()), got)
		}
	}
}

func TestBudgetSplit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(t0)
	b := newBudget(t, config.Budget{EventsPerDay: 2, Priority: `event.kind == "alert"`}, clk)
	batch := []*event.Event{
		ev(1, `{"event":{"kind":"event"}}`), ev(2, `{"event":{"kind":"alert"}}`), ev(3, `{}`), ev(4, `{"event":{"kind":"alert"}}`),
	}
	send, held := b.Split(batch)
	if len(send) != 4 || held != nil {
		t.Fatalf("budget left: send %d held %d", len(send), len(held))
	}
	b.Spend(2, 10)
	send, held = b.Split(batch)
	if offsets(send) != "2,4" || offsets(held) != "1,3" {
		t.Fatalf("spent: send %s, held %s", offsets(send), offsets(held))
	}
	b.Held(len(held), 7)
	if st := b.Stats(); st.Deferred != 2 || st.DeferredBytes != 7 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	noPrio := newBudget(t, config.Budget{EventsPerDay: 1, WhenSpent: "drop"}, clk)
	noPrio.Spend(1, 1)
	if send, held := noPrio.Split(batch); len(send) != 0 || len(held) != 4 {
		t.Fatalf("no priority: send %d held %d", len(send), len(held))
	}
	noPrio.Held(4, 40)
	if st := noPrio.Stats(); st.Dropped != 4 || st.DroppedBytes != 40 || st.Deferred != 0 {
		t.Fatalf("drop stats %+v", st)
	}
}

func offsets(evs []*event.Event) string {
	s := ""
	for i, e := range evs {
		if i > 0 {
			s += ","
		}
		s += string(rune('0' + e.Offset))
	}
	return s
}

func TestBudgetProjection(t *testing.T) {
	t.Parallel()
	clk := newFakeClock(t0.Add(-12 * time.Hour)) // 10:00
	b := newBudget(t, config.Budget{BytesPerDay: 1_000_000}, clk)
	if st := b.Stats(); !st.ExhaustsAt.IsZero() {
		t.Fatalf("no spend, projected %v", st.ExhaustsAt)
	}
	// 100 bytes/s for five minutes: 970,000 left at 100 B/s is ~2.7 h.
	for range 300 {
		clk.Advance(time.Second)
		b.Spend(1, 100)
	}
	st := b.Stats()
	want := clk.Now().Add(9700 * time.Second)
	if d := st.ExhaustsAt.Sub(want); d < -time.Minute || d > time.Minute {
		t.Fatalf("ExhaustsAt %v, want about %v", st.ExhaustsAt, want)
	}
	// At a tenth of that rate the budget outlasts the day: no projection.
	slow := newBudget(t, config.Budget{BytesPerDay: 1_000_000}, clk)
	for range 300 {
		clk.Advance(time.Second)
		slow.Spend(1, 3)
	}
	if st := slow.Stats(); !st.ExhaustsAt.IsZero() {
		t.Fatalf("slow: projected %v before the reset %v", st.ExhaustsAt, st.NextReset)
	}
}

func TestNewBadPriority(t *testing.T) {
	t.Parallel()
	if _, err := New(config.Budget{BytesPerDay: 1, Priority: "event.kind =="}); err == nil {
		t.Fatal("a bad priority expression compiled")
	}
}

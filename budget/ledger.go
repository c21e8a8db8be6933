package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry is what one process of a route sent in one budget day, as the
// ledger holds it: cumulative, so the latest entry of a member replaces
// its earlier ones.
type Entry struct {
	Day    int64  `json:"day"` // unix seconds of the day's start
	Member string `json:"member"`
	Bytes  int64  `json:"bytes"`
	Events int64  `json:"events"`
	At     int64  `json:"at"` // unix milliseconds when written
}

// Key is the entry's record key in the ledger topic, "<day>/<member>":
// compaction keeps the latest entry of each member and day.
func (e Entry) Key() string { return strconv.FormatInt(e.Day, 10) + "/" + e.Member }

// maxMember bounds a member name read from the ledger.
const maxMember = 128

// DecodeEntry reads a ledger record. The key must agree with the value;
// counts must not be negative. A record that fails is skipped by the
// reader (the topic is shared, so it is outside input).
func DecodeEntry(key, value []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(value, &e); err != nil {
		return Entry{}, fmt.Errorf("budget ledger: %w", err)
	}
	switch {
	case e.Member == "" || len(e.Member) > maxMember || strings.Contains(e.Member, "/"):
		return Entry{}, errors.New("budget ledger: bad member name")
	case e.Bytes < 0 || e.Events < 0 || e.Day < 0:
		return Entry{}, errors.New("budget ledger: negative count")
	case string(key) != e.Key():
		return Entry{}, fmt.Errorf("budget ledger: key %q does not match the entry %q", key, e.Key())
	}
	return e, nil
}

// Ledger shares the spent counts of a route's processes.
type Ledger interface {
	// Put records e. It blocks until e is written or ctx ends.
	Put(ctx context.Context, e Entry) error
	// Day returns the latest entry of each member for the budget day that
	// starts at day (unix seconds), as far as this process has read.
	Day(day int64) []Entry
}

// Sync exchanges counts with the ledger once: it writes this process's
// spend of the current day and takes the sum of every other member's.
// Entries of earlier runs of this process count as other members': what
// they sent today stays spent across a restart.
func (b *Budget) Sync(ctx context.Context, l Ledger) error {
	now := b.clk.Now()
	b.mu.Lock()
	b.roll(now)
	e := Entry{Day: b.day.Unix(), Member: b.member, Bytes: b.own.bytes, Events: b.own.events, At: now.UnixMilli()}
	b.mu.Unlock()
	if err := l.Put(ctx, e); err != nil {
		return err
	}
	var others counts
	for _, x := range l.Day(e.Day) {
		if x.Member != b.member {
			others.bytes += x.Bytes
			others.events += x.Events
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.day.Unix() == e.Day {
		b.others = others
		if b.spentAt.IsZero() && b.spent() {
			b.spentAt = now
		}
	}
	return nil
}

// finalSyncTimeout bounds the last exchange when Run stops.
const finalSyncTimeout = 2 * time.Second

// Run calls Sync every interval until ctx ends, and once more then (for
// at most two seconds) so that what this process sent stays counted after
// it stops; onErr (may be nil) receives each failed exchange. It blocks.
func (b *Budget) Run(ctx context.Context, l Ledger, interval time.Duration, onErr func(error)) {
	report := func(err error) {
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
	for {
		c, stop := b.clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			stop()
			last, cancel := context.WithTimeout(context.Background(), finalSyncTimeout)
			defer cancel()
			report(b.Sync(last, l))
			return
		case <-c:
		}
		if err := b.Sync(ctx, l); ctx.Err() == nil {
			report(err)
		}
	}
}

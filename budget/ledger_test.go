package budget

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(1, []string{"events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func openLedger(t *testing.T, c *kafkatest.Cluster) *KafkaLedger {
	t.Helper()
	l, err := OpenKafkaLedger(c.Brokers(), kafkatest.Config(), "siembridge-r-budget", quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.WaitRead(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// Two processes of one route share one budget through the ledger: what
// each sent counts against both.
func TestLedgerSharedBudget(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	clk := newFakeClock(t0)
	cfg := config.Budget{BytesPerDay: 1000}
	a, err := New(cfg, WithClock(clk), WithMember("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, WithClock(clk), WithMember("b"))
	if err != nil {
		t.Fatal(err)
	}
	la, lb := openLedger(t, c), openLedger(t, c)
	defer la.Close()
	defer lb.Close()
	ctx := context.Background()

	a.Spend(10, 600)
	b.Spend(10, 300)
	for _, x := range []struct {
		b *Budget
		l *KafkaLedger
	}{{a, la}, {b, lb}} {
		if err := x.b.Sync(ctx, x.l); err != nil {
			t.Fatal(err)
		}
	}
	// b read a's entry only if a wrote first and the reader saw it; sync
	// again until both agree, as the periodic exchange does.
	waitFor(t, func() bool {
		_ = a.Sync(ctx, la)
		_ = b.Sync(ctx, lb)
		return a.Stats().SpentBytes == 900 && b.Stats().SpentBytes == 900
	})
	if a.Spent() || b.Spent() {
		t.Fatal("spent at 900 of 1000")
	}
	b.Spend(1, 100)
	waitFor(t, func() bool { _ = b.Sync(ctx, lb); _ = a.Sync(ctx, la); return a.Spent() })
	if !b.Spent() {
		t.Fatal("b, which spent the last bytes, is not spent")
	}
}

// What a process spent stays spent when it restarts (a new member name):
// the new process reads the old entry back from the topic.
func TestLedgerRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	clk := newFakeClock(t0)
	cfg := config.Budget{EventsPerDay: 50}
	first, _ := New(cfg, WithClock(clk))
	l := openLedger(t, c)
	first.Spend(50, 5000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); first.Run(ctx, l, time.Hour, func(err error) { t.Error(err) }) }()
	cancel() // Run writes a last entry when it stops
	<-done
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	second, _ := New(cfg, WithClock(clk))
	l2 := openLedger(t, c)
	defer l2.Close()
	if err := second.Sync(context.Background(), l2); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); !st.Spent || st.SpentEvents != 50 || st.SpentBytes != 5000 {
		t.Fatalf("after restart: %+v", st)
	}
	// The next day the old entry no longer counts.
	clk.Advance(3 * time.Hour)
	if err := second.Sync(context.Background(), l2); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); st.Spent || st.SpentEvents != 0 {
		t.Fatalf("next day: %+v", st)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDecodeEntry(t *testing.T) {
	t.Parallel()
	good := Entry{Day: 1764374400, Member: "m1", Bytes: 10, Events: 1, At: 5}
	tests := []struct {
		name, key, value string
		ok               bool
	}{
		{"good", good.Key(), `{"day":1764374400,"member":"m1","bytes":10,"events":1,"at":5}`, true},
		{"key mismatch", "1764374400/m2", `{"day":1764374400,"member":"m1","bytes":10,"events":1}`, false},
		{"negative", "1764374400/m1", `{"day":1764374400,"member":"m1","bytes":-10,"events":1}`, false},
		{"no member", "1764374400/", `{"day":1764374400,"bytes":10}`, false},
		{"slash in member", "1/a/b", `{"day":1,"member":"a/b"}`, false},
		{"not json", good.Key(), `{"day":`, false},
		{"tombstone", good.Key(), ``, false},
	}
	for _, tt := range tests {
		e, err := DecodeEntry([]byte(tt.key), []byte(tt.value))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
		}
		if tt.ok && e != good {
			t.Errorf("%s: %+v", tt.name, e)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte("1/m"), []byte(`{"day":1,"member":"m","bytes":1,"events":1}`))
	f.Add([]byte(""), []byte(`null`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		e, err := DecodeEntry(key, value)
		if err != nil {
			return
		}
		if e.Key() != string(key) || e.Bytes < 0 || e.Events < 0 || e.Member == "" {
			t.Fatalf("accepted a bad entry %+v for key %q", e, key)
		}
	})
}

package sample

import (
	"fmt"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/cputime"
)

func ev(offset int64, doc string) *event.Event {
	return event.New("dns", 3, offset, time.Unix(0, 0), nil, []byte(doc))
}

func mustNew(t testing.TB, c *config.Sample) *Sampler {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShare(t *testing.T) {
	cases := []struct {
		name string
		cfg  *config.Sample
		doc  func(i int) string
		lo   float64
		hi   float64
	}{
		{"nil keeps all", nil, func(int) string { return `{}` }, 1, 1},
		{"rate 1 keeps all", &config.Sample{Rate: 1, Key: "source.ip"}, func(i int) string { return fmt.Sprintf(`{"source":{"ip":"10.0.%d.%d"}}`, i/256, i%256) }, 1, 1},
		{"10% by key", &config.Sample{Rate: 0.1, Key: "source.ip"}, func(i int) string { return fmt.Sprintf(`{"source":{"ip":"10.0.%d.%d"}}`, i/256, i%256) }, 0.09, 0.11},
		{"10% by offset", &config.Sample{Rate: 0.1}, func(int) string { return `{"source":{"ip":"10.0.0.1"}}` }, 0.09, 0.11},
		{"missing key falls back to the offset", &config.Sample{Rate: 0.25, Key: "source.ip"}, func(int) string { return `{"x":1}` }, 0.235, 0.265},
		{"numbers as keys", &config.Sample{Rate: 0.5, Key: "n"}, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }, 0.48, 0.52},
		{"tiny rate", &config.Sample{Rate: 0.001}, func(int) string { return `{}` }, 0.0003, 0.002},
	}
	const n = 10000
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustNew(t, c.cfg)
			kept := 0
			for i := range n {
				if s.Keep(ev(int64(i), c.doc(i))) {
					kept++
				}
			}
			if share := float64(kept) / n; share < c.lo || share > c.hi {
				t.Errorf("kept %.4f of the events, want [%.4f, %.4f]", share, c.lo, c.hi)
			}
		})
	}
}

// TestKeyStaysTogether: every event of one key gets the same answer,
// whatever its offset, partition or other fields, and a second sampler
// (another process, a replay) gives the same answers.
func TestKeyStaysTogether(t *testing.T) {
	a := mustNew(t, &config.Sample{Rate: 0.3, Key: "source.ip"})
	b := mustNew(t, &config.Sample{Rate: 0.3, Key: "source.ip"})
	keptKeys := 0
	for k := range 200 {
		ip := fmt.Sprintf("192.168.%d.%d", k/100, k%100)
		first := a.Keep(ev(0, `{"source":{"ip":"`+ip+`"}}`))
		if first {
			keptKeys++
		}
		for off := range 20 {
			e := ev(int64(off*7919), fmt.Sprintf(`{"a":%d,"source.ip":"%s","z":"x"}`, off, ip))
			e.Partition = int32(off % 5)
			if a.Keep(e) != first || b.Keep(e) != first {
				t.Fatalf("key %s: event %d answered differently", ip, off)
			}
		}
	}
	if keptKeys == 0 || keptKeys == 200 {
		t.Fatalf("%d of 200 keys kept: the rate does nothing", keptKeys)
	}
}

func TestWhen(t *testing.T) {
	s := mustNew(t, &config.Sample{Rate: 0.01, Key: "source.ip", When: `event.dataset == "dns"`})
	dnsKept, otherKept := 0, 0
	for i := range 2000 {
		ip := fmt.Sprintf("10.1.%d.%d", i/256, i%256)
		if s.Keep(ev(int64(i), `{"event":{"dataset":"dns"},"source":{"ip":"`+ip+`"}}`)) {
			dnsKept++
		}
		if s.Keep(ev(int64(i), `{"event":{"dataset":"auth"},"source":{"ip":"`+ip+`"}}`)) {
			otherKept++
		}
	}
	if otherKept != 2000 {
		t.Errorf("%d of 2000 events outside when kept, want all", otherKept)
	}
	if dnsKept > 60 {
		t.Errorf("%d of 2000 dns events kept at 1%%", dnsKept)
	}
	if _, err := New(&config.Sample{Rate: 0.5, When: `nope(`}); err == nil {
		t.Error("a bad when expression compiled")
	}
}

// TestHashStable pins the hash: a change would make a replay keep other
// events than the live route kept.
func TestHashStable(t *testing.T) {
	const key, coords = 0x7fb1b600f0f5c6d3, 0x948864e3ee054864
	cases := []struct {
		name   string
		offset int64
		doc    string
		key    string
		want   uint64
	}{
		{"nested key", 42, `{"source":{"ip":"10.0.0.1"}}`, "source.ip", key},
		{"dotted key, another offset", 7, `{"source.ip":"10.0.0.1","x":1}`, "source.ip", key},
		{"coordinates", 42, `{}`, "", coords},
		{"missing key: coordinates", 42, `{"source":{"port":1}}`, "source.ip", coords},
	}
	for _, c := range cases {
		if got := Hash(ev(c.offset, c.doc), c.key); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	if Hash(ev(43, `{}`), "") == coords {
		t.Error("the next offset hashes the same")
	}
}

func BenchmarkKeep(b *testing.B) {
	doc := `{"@timestamp":"2026-11-29T10:00:00.000Z","event":{"dataset":"dns","action":"query"},"source":{"ip":"10.20.30.40","port":53000},"dns":{"question":{"name":"example.com"}}}`
	for _, c := range []struct {
		name string
		cfg  config.Sample
	}{
		{"by-offset", config.Sample{Rate: 0.1}},
		{"by-key", config.Sample{Rate: 0.1, Key: "source.ip"}},
		{"by-key-when", config.Sample{Rate: 0.1, Key: "source.ip", When: `event.dataset == "dns"`}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := mustNew(b, &c.cfg)
			e := ev(1, doc)
			b.ReportAllocs()
			defer cputime.Start(b)()
			for b.Loop() {
				s.Keep(e)
			}
		})
	}
}

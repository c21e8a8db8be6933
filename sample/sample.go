// Package sample keeps a deterministic share of a route's events
// (routes[].sample): an event is kept when a hash of its key falls below
// the rate. The hash depends on nothing but the key's value, so every run
// and every replay of the same records keeps the same events, every
// process of a route agrees, and all the events of one key (one source.ip)
// are kept or dropped together. An event without the key is hashed by its
// Kafka coordinates (topic, partition, offset), which are as stable.
package sample

import (
	"encoding/binary"
	"math"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/filter"
)

// Sampler decides which events to keep. It is immutable and safe for
// concurrent use. A nil *Sampler keeps every event.
type Sampler struct {
	// threshold: an event is kept when its hash is below it; rate 1 keeps
	// every event (the top of the range included, see Keep).
	threshold uint64
	all       bool
	key       string
	when      *filter.Filter
}

// New compiles c; a nil c is no sampling (a nil *Sampler). c.Rate must be
// in (0, 1] (config.Validate checks it) and c.When, when set, a filter
// expression.
func New(c *config.Sample) (*Sampler, error) {
	if c == nil {
		return nil, nil
	}
	s := &Sampler{key: c.Key, all: c.Rate >= 1}
	if !s.all {
		// math.Ldexp(rate, 64) is below 2^64 for rate < 1.
		s.threshold = uint64(math.Ldexp(max(c.Rate, 0), 64))
	}
	if c.When != "" {
		f, err := filter.Compile(c.When)
		if err != nil {
			return nil, err
		}
		s.when = f
	}
	return s, nil
}

// ReadsFields reports whether Keep reads e's fields (a key or When), so
// that e's Doc must be checked JSON.
func (s *Sampler) ReadsFields() bool {
	return s != nil && !s.all && (s.key != "" || s.when != nil)
}

// Keep reports whether e is sent. An event When does not select is kept.
// e's Doc must be checked JSON when a key or When is set (as for
// filter.Filter.Accepts). It does not block.
func (s *Sampler) Keep(e *event.Event) bool {
	if s == nil || s.all {
		return true
	}
	if s.when != nil && !s.when.Accepts(e) {
		return true
	}
	return Hash(e, s.key) < s.threshold
}

// Hash is the 64-bit hash an event is sampled by: of the raw JSON text of
// its field key (a string without its quotes), or, when key is empty or
// the event lacks it, of its topic, partition and offset. It is FNV-1a
// with a final avalanche (the low and high bits both spread), stable
// across versions and machines: changing it would change which events a
// replay keeps.
func Hash(e *event.Event, key string) uint64 {
	if key != "" {
		if raw, ok := event.FieldJSON(e.Doc, key); ok {
			if len(raw) >= 2 && raw[0] == '"' {
				raw = raw[1 : len(raw)-1]
			}
			return mix(fnv(fnvOffset, raw))
		}
	}
	h := fnv(fnvOffset, e.Topic)
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(e.Partition))
	binary.BigEndian.PutUint64(b[4:], uint64(e.Offset))
	// A zero byte between topic and numbers: no topic name holds one.
	return mix(fnv(fnv(h, "\x00"), b[:]))
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime
	}
	return h
}

// mix is the finaliser of SplitMix64: each bit of the result depends on
// every bit of h.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Package gen generates synthetic ECS-shaped security events for the demo,
// tests and benchmarks: failed Windows logons, process starts, DNS queries
// and firewall denies, each one JSON object of about 600 to 800 bytes
// carrying a sequence number tests use to check exactly-once delivery.
//
// Host names, users and domains are invented; addresses come from the
// documentation ranges of RFC 5737 (outside) and the private ranges of
// RFC 1918 (inside); invented domains use example.com/.net/.org or the
// reserved .example and .test top-level domains, so no event points at a
// real system.
package gen

import (
	"strconv"
	"time"
)

// Kind is the kind of a generated event.
type Kind int

// The kinds of events, in the proportions Next produces them.
const (
	FailedLogon  Kind = iota // 20%: Windows Security 4625
	ProcessStart             // 25%: Sysmon event 1 or auditd execve
	DNSQuery                 // 25%: Packetbeat DNS
	FirewallDeny             // 30%: PAN-OS, FortiGate or ASA deny
	numKinds
)

var kindNames = [numKinds]string{"failed-logon", "process-start", "dns-query", "firewall-deny"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Generator makes events. The event for a sequence number depends only on
// the seed, the sequence number and the time, not on the calls made before,
// so a test can regenerate the event it expects for any seq.
//
// A Generator is not safe for concurrent use: give each goroutine its own
// (New is cheap and two Generators with the same seed produce the same
// events).
type Generator struct {
	seed uint64
	rng  rng
	name [64]byte // scratch for the host name of the event being made
}

// New returns a Generator whose events are determined by seed.
func New(seed int64) *Generator {
	return &Generator{seed: mix(uint64(seed) ^ 0x5eb1d9e5eed)}
}

// Next returns the event for seq at time t (see AppendNext).
func (g *Generator) Next(seq int64, t time.Time) []byte {
	return g.AppendNext(make([]byte, 0, 896), seq, t)
}

// AppendNext appends the event for seq at time t to dst and returns the
// extended buffer. It allocates only when dst must grow. The event is one
// JSON object that starts
//
//	{"@timestamp":"2006-01-02T15:04:05.000Z","labels":{"seq":N},
//
// with t in UTC, followed by ECS fields for one of the four kinds.
func (g *Generator) AppendNext(dst []byte, seq int64, t time.Time) []byte {
	g.rng = rng(mix(g.seed ^ mix(uint64(seq))))
	dst = append(dst, tsPrefix...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, labelsKey...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `},"ecs":{"version":"8.11.0"},`...)
	switch kindOf(g.rng.next()) {
	case FailedLogon:
		dst = g.failedLogon(dst)
	case ProcessStart:
		dst = g.processStart(dst)
	case DNSQuery:
		dst = g.dnsQuery(dst)
	default:
		dst = g.firewallDeny(dst)
	}
	return append(dst, '}')
}

// kindOf maps a random draw to a kind in Next's proportions.
func kindOf(r uint64) Kind {
	switch p := r % 100; {
	case p < 20:
		return FailedLogon
	case p < 45:
		return ProcessStart
	case p < 70:
		return DNSQuery
	default:
		return FirewallDeny
	}
}

// Kind returns the kind of the event Next makes for seq.
func (g *Generator) Kind(seq int64) Kind {
	r := rng(mix(g.seed ^ mix(uint64(seq))))
	return kindOf(r.next())
}

// rng is a splitmix64 generator: tiny, fast, and fixed forever, so the
// events for a seed never change with the Go version.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	return mix(uint64(*r))
}

// intn returns a number in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }

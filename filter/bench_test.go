package filter

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/gen"
)

// The two candidate languages on the benchmark's own ECS events
// (internal/gen), each with lazy field access: only the fields an
// expression names are read, with event.FieldJSON, per event. CEL names a
// field by a dotted identifier (Compile declares the chains it finds);
// expr-lang/expr calls a method of its environment, F("source.ip"), since
// its environment must be a Go value it reflects on. The ns/op is per
// event. The results are recorded in filter.go's package comment.
var benchCases = []struct {
	name, cel, expr string
}{
	{"equality", `event.action == "deny"`, `F("event.action") == "deny"`},
	{"equality-last-field", `host.name == "collector01.corp.example.com"`,
		`F("host.name") == "collector01.corp.example.com"`},
	{"in-list", `event.action in ["deny", "drop", "reject", "logon-failed"]`,
		`F("event.action") in ["deny", "drop", "reject", "logon-failed"]`},
	{"cidr", `cidr(source.ip, "10.0.0.0/8")`,
		`cidr(F("source.ip"), "10.0.0.0/8")`},
	{"regex", `host.name.matches("^(dc|rds)-?[a-z]*[0-9]+\\.corp\\.")`,
		`F("host.name") matches "^(dc|rds)-?[a-z]*[0-9]+\\.corp\\."`},
	{"and-or", `event.action == "deny" && (network.direction == "inbound" || destination.port < 1024) && !(rule.name in ["allow-all"])`,
		`F("event.action") == "deny" && (F("network.direction") == "inbound" || F("destination.port") < 1024) && !(F("rule.name") in ["allow-all"])`},
}

// benchEvents are 1024 generated events, checked.
func benchEvents() []*event.Event {
	g := gen.New(1)
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, 1024)
	for i := range evs {
		evs[i] = event.New("t", 0, int64(i), t0, nil, g.Next(int64(i), t0))
	}
	return evs
}

func BenchmarkCEL(b *testing.B) {
	evs := benchEvents()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			f, err := Compile(bc.cel)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			defer cpuTimer(b)()
			n, i := 0, 0
			for b.Loop() {
				if f.Accepts(evs[i&1023]) {
					n++
				}
				i++
			}
			b.ReportMetric(float64(n)/float64(i), "accepted/event")
		})
	}
}

// BenchmarkSimpleForm is the mapping form {field, equals} on the same
// field as the equality case.
func BenchmarkSimpleForm(b *testing.B) {
	evs := benchEvents()
	f := &Filter{field: "host.name", equals: []string{"collector01.corp.example.com"}}
	b.ReportAllocs()
	defer cpuTimer(b)()
	i := 0
	for b.Loop() {
		f.Accepts(evs[i&1023])
		i++
	}
}

// exprEnv is expr's environment for one event.
type exprEnv struct{ doc []byte }

// F is a field's value as expr sees it: string, int, float64 or bool;
// nil when missing.
func (e exprEnv) F(path string) any {
	raw, ok := event.FieldJSON(e.doc, path)
	if !ok {
		return nil
	}
	switch raw[0] {
	case '"':
		return string(raw[1 : len(raw)-1])
	case 't':
		return true
	case 'f':
		return false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return int(n)
	}
	x, _ := strconv.ParseFloat(string(raw), 64)
	return x
}

func BenchmarkExpr(b *testing.B) {
	evs := benchEvents()
	cidr := expr.Function("cidr", func(params ...any) (any, error) {
		ip, _ := params[0].(string)
		p, _ := params[1].(string)
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return false, nil
		}
		pr, err := netip.ParsePrefix(p)
		return err == nil && pr.Contains(a.Unmap()), nil
	}, new(func(string, string) bool))
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			prg, err := expr.Compile(bc.expr, expr.Env(exprEnv{}), expr.AsBool(), cidr)
			if err != nil {
				b.Fatal(err)
			}
			var m vm.VM
			b.ReportAllocs()
			defer cpuTimer(b)()
			n, i := 0, 0
			for b.Loop() {
				out, err := m.Run(prg, exprEnv{evs[i&1023].Doc})
				if err == nil && out == true {
					n++
				}
				i++
			}
			b.ReportMetric(float64(n)/float64(i), "accepted/event")
		})
	}
}

// TestBenchCasesAgree: both languages accept the same events, so that the
// benchmark compares equal work.
func TestBenchCasesAgree(t *testing.T) {
	evs := benchEvents()
	for _, bc := range benchCases {
		f, err := Compile(bc.cel)
		if err != nil {
			t.Fatal(err)
		}
		prg, err := expr.Compile(bc.expr, expr.Env(exprEnv{}), expr.AsBool(),
			expr.Function("cidr", func(p ...any) (any, error) {
				a, err := netip.ParseAddr(p[0].(string))
				return err == nil && netip.MustParsePrefix(p[1].(string)).Contains(a), nil
			}, new(func(string, string) bool)))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			out, err := expr.Run(prg, exprEnv{e.Doc})
			if got, want := f.Accepts(e), err == nil && out == true; got != want {
				t.Fatalf("%s: CEL %v, expr %v on %s", bc.name, got, want, e.Doc)
			}
			if f.Accepts(e) {
				n++
			}
		}
		if n == 0 || n == len(evs) {
			t.Errorf("%s accepts %d of %d events; want some", bc.name, n, len(evs))
		}
	}
}

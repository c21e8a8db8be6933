// Package filter decides which events a route delivers (routes[].filter)
// and which events a replay selects (siembridge replay --filter). The
// bridge applies a route's filter once, before rate limiting and sending;
// an event it does not accept counts as done for offsets, costs no rate
// budget and reaches no sink.
//
// A filter is an expression in CEL, the Common Expression Language
// (cel.dev/cel-go, as Kubernetes and Elastic Agent use it), over the
// event's fields:
//
//	event.action == "deny" && cidr(source.ip, "10.0.0.0/8")
//
// A dotted identifier (source.ip, event.action) names an ECS field, read
// with event.Field: a nested key, a key holding dots, or a mix. Names that
// are not identifiers are read with field("@timestamp"); exists("x.y")
// tests presence. A field is a string, a number (int or double), a bool, a
// list or a map as its JSON says. On an event where the expression fails
// (a field is missing, a type does not fit) the event is not accepted.
//
// Why CEL and not expr-lang/expr: both were measured (bench_test.go:
// BenchmarkCEL, BenchmarkExpr, BenchmarkSimpleForm) on events of
// internal/gen, with lazy field access in both (only the fields an
// expression names are read, per event, with event.FieldJSON). CPU time
// per event (cpu-ns/op, the benchmark thread's own time; ns/op ran 5-20%
// higher) on this 2-vCPU AMD EPYC, go1.26, 2026-11-29, while other builds
// loaded it (load average 5-9), two runs each, CEL / expr:
//
//	equality, nested field early in the event  660-810   / 2140-2170
//	equality, nested field last (host.name)   1470-1580  / 2500-3030
//	  ({field, equals} on host.name: 1070-1250, the lookup alone)
//	in-list of 4                               610-860   / 1990-2310
//	cidr                                      1550-1870  / 3160-3180
//	regex (constant, compiled once)           1740-2080  / 2820-3630
//	and/or/not of four tests                  1650-1720  / 3620-4320
//
// CEL is faster in every case (expr reaches our fields through a method
// call by reflection) and the field lookup is most of CEL's cost: for a
// field at the end of a 700-byte event, scanning to it is ~1 µs on this
// loaded machine. CEL is also the safer of the two: it is type-checked at
// compile time (unknown functions, wrong argument types and bad regex or
// CIDR constants are config errors with a position), it has no side
// effects and no loops but comprehensions over the event's own lists
// (which run under a cost limit), and it reaches nothing but the values
// the activation below hands it — expr evaluates over Go values by
// reflection, calling methods of its environment. The simple form of
// earlier versions ({field, equals}) is kept as its own fast path.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
)

func init() {
	// config.Validate reports a bad expression with its field path.
	config.SetFilterCheck(Check)
}

// Limits of an expression.
const (
	// MaxExprBytes is the longest expression accepted.
	MaxExprBytes = 4096
	// costLimit bounds one evaluation of an expression with a
	// comprehension (CEL's cost units: about one per operation and per
	// list element or byte scanned).
	costLimit = 1_000_000
)

// Filter is a compiled filter. It is immutable and safe for concurrent
// use. A nil *Filter accepts every event.
type Filter struct {
	// The simple form (config.Filter.Field).
	field  string
	equals []string // empty: the field only has to exist

	// The expression form.
	prg cel.Program
}

// New compiles c: its expression (c.Expr) or its simple form. It fails
// when the expression does not compile, or when neither is set
// (config.Validate reports both first, naming the field). A nil c means no
// filter: New returns a nil *Filter, which accepts everything.
func New(c *config.Filter) (*Filter, error) {
	if c == nil {
		return nil, nil
	}
	if c.Expr != "" {
		return Compile(c.Expr)
	}
	if c.Field == "" {
		return nil, errors.New("filter: field is required")
	}
	return &Filter{field: c.Field, equals: slices.Clone(c.Equals)}, nil
}

// Check reports whether expr compiles, with Compile's error.
func Check(expr string) error {
	_, err := Compile(expr)
	return err
}

// Compile compiles a filter expression. Its error is one line starting
// with the position of the first problem: "line 1, column 14: undeclared
// reference to 'cidr_match'".
func Compile(expr string) (*Filter, error) {
	if len(expr) > MaxExprBytes {
		return nil, fmt.Errorf("the expression is %d bytes long, more than %d", len(expr), MaxExprBytes)
	}
	base, err := baseEnv()
	if err != nil {
		return nil, err
	}
	parsed, iss := base.Parse(expr)
	if err := issuesErr(expr, iss); err != nil {
		return nil, err
	}
	env, err := base.Extend(fieldVars(parsed.NativeRep().Expr())...)
	if err != nil {
		return nil, err
	}
	checked, iss := env.Check(parsed)
	if err := issuesErr(expr, iss); err != nil {
		return nil, err
	}
	if t := checked.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("line 1, column 1: the expression is a %s, not a condition (true or false)", t)
	}
	if err := checkConstants(checked.NativeRep()); err != nil {
		return nil, err
	}
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if hasComprehension(checked.NativeRep().Expr()) {
		// Only a comprehension (all, exists, map, filter over a list of
		// the event) can make the work grow faster than the expression
		// times the event; tracking the cost of every evaluation would
		// cost the others a fifth of their time.
		popts = append(popts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(checked, popts...)
	if err != nil {
		return nil, err
	}
	return &Filter{prg: prg}, nil
}

// Accepts reports whether e is to be delivered.
//
// The simple form: e's Doc has the field (a JSON null counts as absent)
// and, when Equals was given, the field's value as text (a string unquoted
// and unescaped, a number or a boolean as written, an object or array as
// its raw JSON) equals one of them exactly.
//
// An expression: it evaluates to true. A missing field, a type mismatch or
// the cost limit make it false.
//
// Fields are dotted paths as event.Field reads them: "host.name" finds
// {"host":{"name":"x"}} and {"host.name":"x"}. A record that was not a JSON
// object is filtered by its wrapping document (event.Wrap: message,
// event.original, kafka.topic, ...). e's Doc must be checked JSON (not
// e.Unchecked): on malformed JSON the answer is unspecified, though Accepts
// never panics. It does not block and is safe for concurrent use.
func (f *Filter) Accepts(e *event.Event) bool {
	if f == nil {
		return true
	}
	if f.prg != nil {
		out, _, err := f.prg.Eval(&docActivation{doc: e.Doc})
		return err == nil && out == types.True
	}
	v, ok := event.Field(e.Doc, f.field)
	if !ok {
		return false
	}
	return len(f.equals) == 0 || slices.Contains(f.equals, v)
}

// docName is the variable through which field() and exists() reach the
// event; users cannot name it (identifiers do not start with '@').
const docName = "@doc"

// baseEnv is the environment every expression starts from: CEL's standard
// functions, field(), exists() and cidr().
var baseEnv = sync.OnceValues(func() (*cel.Env, error) {
	byName := func(fn string) cel.Macro {
		return cel.GlobalMacro(fn, 1, func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			return eh.NewCall("@"+fn, eh.NewIdent(docName), args[0]), nil
		})
	}
	return cel.NewEnv(
		cel.Variable(docName, cel.DynType),
		cel.Macros(byName("field"), byName("exists")),
		cel.Function("@field", cel.Overload("field_doc_string", []*cel.Type{cel.DynType, cel.StringType}, cel.DynType,
			cel.BinaryBinding(func(d, p ref.Val) ref.Val {
				v, ok := lookup(d, p)
				if !ok {
					return types.NewErr("no field %q", p.Value())
				}
				return v
			}))),
		cel.Function("@exists", cel.Overload("exists_doc_string", []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(d, p ref.Val) ref.Val {
				_, ok := lookup(d, p)
				return types.Bool(ok)
			}))),
		cel.Function("cidr",
			cel.Overload("cidr_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ip, prefix ref.Val) ref.Val {
					return types.Bool(inPrefix(ip, prefix))
				})),
			cel.Overload("cidr_string_list", []*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(func(ip, prefixes ref.Val) ref.Val {
					it := prefixes.(traits.Lister).Iterator()
					for it.HasNext() == types.True {
						if inPrefix(ip, it.Next()) {
							return types.True
						}
					}
					return types.False
				}))),
		cel.ParserExpressionSizeLimit(MaxExprBytes),
		cel.ParserRecursionLimit(64),
	)
})

// fieldVars declares every field the expression names: each identifier
// and each chain of selections ending in one (source.ip) is one variable
// of any type, named by its dotted path. The checker resolves a chain as
// one qualified name, and the interpreter asks docActivation for it by
// that name, so only the fields used are read, each once per evaluation.
func fieldVars(e ast.Expr) []cel.EnvOption {
	var opts []cel.EnvOption
	seen := map[string]bool{docName: true}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			opts = append(opts, cel.Variable(name, cel.DynType))
		}
	}
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.IdentKind:
			add(e.AsIdent())
		case ast.SelectKind:
			if name, ok := dotted(e); ok && !e.AsSelect().IsTestOnly() {
				add(name)
			}
		}
	}))
	return opts
}

// hasComprehension reports whether e holds a comprehension.
func hasComprehension(e ast.Expr) bool {
	found := false
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		found = found || e.Kind() == ast.ComprehensionKind
	}))
	return found
}

// dotted returns the dotted name of a chain of selections that ends in an
// identifier.
func dotted(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent(), true
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return "", false
		}
		prefix, ok := dotted(s.Operand())
		return prefix + "." + s.FieldName(), ok
	}
	return "", false
}

// checkConstants rejects a constant regex or CIDR argument that would
// never match, with its position.
func checkConstants(a *ast.AST) error {
	var err error
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil || e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		args := c.Args()
		var check func(string) error
		var arg ast.Expr
		switch {
		case c.FunctionName() == "matches" && len(args) == 1:
			arg, check = args[0], func(s string) error { _, err := regexp.Compile(s); return err }
		case c.FunctionName() == "matches" && len(args) == 2:
			arg, check = args[1], func(s string) error { _, err := regexp.Compile(s); return err }
		case c.FunctionName() == "cidr" && len(args) == 2:
			arg, check = args[1], func(s string) error { _, err := netip.ParsePrefix(s); return err }
		default:
			return
		}
		for _, lit := range literals(arg) {
			if s, ok := lit.AsLiteral().(types.String); ok {
				if cerr := check(string(s)); cerr != nil {
					loc := a.SourceInfo().GetStartLocation(lit.ID())
					err = fmt.Errorf("line %d, column %d: %v", loc.Line(), loc.Column()+1, cerr)
					return
				}
			}
		}
	}))
	return err
}

// literals returns e when it is a literal, or the literals of a list.
func literals(e ast.Expr) []ast.Expr {
	switch e.Kind() {
	case ast.LiteralKind:
		return []ast.Expr{e}
	case ast.ListKind:
		var out []ast.Expr
		for _, el := range e.AsList().Elements() {
			if el.Kind() == ast.LiteralKind {
				out = append(out, el)
			}
		}
		return out
	}
	return nil
}

// issuesErr is the first error of iss as one line with its position. CEL
// places a call at its parenthesis; an unknown function is reported at its
// name instead.
func issuesErr(src string, iss *cel.Issues) error {
	if iss == nil || iss.Err() == nil {
		return nil
	}
	errs := iss.Errors()
	if len(errs) == 0 {
		return iss.Err()
	}
	e := errs[0]
	msg := strings.TrimSuffix(e.Message, " (in container '')")
	line, col := e.Location.Line(), e.Location.Column()
	if line < 1 {
		return errors.New(msg)
	}
	if name, ok := strings.CutPrefix(msg, "undeclared reference to '"); ok {
		name = strings.TrimSuffix(name, "'")
		if lines := strings.Split(src, "\n"); line <= len(lines) && col <= len(lines[line-1]) &&
			strings.HasSuffix(strings.TrimRight(lines[line-1][:col], " "), name) {
			col = len(strings.TrimRight(lines[line-1][:col], " ")) - len(name)
		}
	}
	return fmt.Errorf("line %d, column %d: %s", line, col+1, msg)
}

// docActivation resolves the variables of one evaluation: each field an
// expression names is looked up in doc when the interpreter first asks.
type docActivation struct{ doc []byte }

func (a *docActivation) ResolveName(name string) (any, bool) {
	if name == docName {
		return docVal{a.doc}, true
	}
	raw, ok := event.FieldJSON(a.doc, name)
	if !ok {
		return nil, false
	}
	return fromJSON(raw), true
}

func (a *docActivation) Parent() interpreter.Activation { return nil }

// fromJSON is a field's value as CEL sees it.
func fromJSON(raw []byte) ref.Val {
	switch raw[0] {
	case '"':
		inner := raw[1 : len(raw)-1]
		if !slices.Contains(inner, '\\') {
			return types.String(inner)
		}
	case 't':
		return types.True
	case 'f':
		return types.False
	case '{', '[':
	default:
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return types.Int(n)
		}
		if x, err := strconv.ParseFloat(string(raw), 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return types.Double(x)
		}
		return types.String(raw)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return types.NewErr("malformed JSON value")
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// lookup reads field p of the document d (field() and exists()).
func lookup(d, p ref.Val) (ref.Val, bool) {
	doc, ok1 := d.(docVal)
	path, ok2 := p.(types.String)
	if !ok1 || !ok2 {
		return nil, false
	}
	raw, ok := event.FieldJSON(doc.doc, string(path))
	if !ok {
		return nil, false
	}
	return fromJSON(raw), true
}

// inPrefix reports whether ip is an address inside prefix; an address or
// prefix that does not parse is outside. An IPv4-mapped IPv6 address
// matches the IPv4 prefix.
func inPrefix(ip, prefix ref.Val) bool {
	s, ok1 := ip.(types.String)
	ps, ok2 := prefix.(types.String)
	if !ok1 || !ok2 {
		return false
	}
	addr, err := netip.ParseAddr(string(s))
	if err != nil {
		return false
	}
	p, err := netip.ParsePrefix(string(ps))
	if err != nil {
		return false
	}
	return p.Contains(addr.Unmap()) || p.Contains(addr)
}

// docVal is the event's document as the hidden variable @doc: opaque to
// expressions, read only by field() and exists().
type docVal struct{ doc []byte }

var docType = types.NewOpaqueType("siembridge.doc")

func (d docVal) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("the event document cannot be converted")
}
func (d docVal) ConvertToType(t ref.Type) ref.Val { return types.NewErr("no conversion of the event") }
func (d docVal) Equal(other ref.Val) ref.Val      { return types.False }
func (d docVal) Type() ref.Type                   { return docType }
func (d docVal) Value() any                       { return nil }

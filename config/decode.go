package config

import (
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Strict decoding of a yaml.Node tree into the schema structs.
//
// yaml.v3's Node.Decode cannot reject unknown keys, and its errors are
// multi-line and name lines rather than fields. This small reflective decoder
// covers exactly the kinds the schema uses (structs, pointers, string lists,
// string maps, strings, bools, ints, floats, durations and yaml.Unmarshaler
// types) and returns a *FieldError whose Path is relative to the node given;
// each level prefixes its key or index on the way out.
//
// Aliases are followed. Because every schema type is finite and no list
// holds a list, an alias cycle always ends in a kind mismatch, and the work
// is at most quadratic in the input size. Merge keys (<<) are not supported.

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// decode stores n into v, which must be settable.
func decode(n *yaml.Node, v reflect.Value) error {
	n = deref(n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		return v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
	}
	switch v.Kind() {
	case reflect.Pointer:
		// ${VAR:-} expanding to nothing means "use the default", which for
		// a *bool or *int is nil, not a pointer to zero.
		empty := n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == "" && v.Type().Elem().Kind() != reflect.String
		if isNull(n) || empty {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := decode(n, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if isNull(n) {
			return nil
		}
		pairs, err := mappingPairs(n)
		if err != nil {
			return err
		}
		return decodeStruct(pairs, v, "")
	case reflect.Slice:
		return decodeSlice(n, v)
	case reflect.Map:
		return decodeMap(n, v)
	default:
		return decodeScalar(n, v)
	}
}

// pair is one key and value of a mapping node.
type pair struct{ key, val *yaml.Node }

// mappingPairs lists the pairs of a mapping node, rejecting non-string and
// duplicate keys.
func mappingPairs(n *yaml.Node) ([]pair, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fieldErr("", "expected a mapping, got a "+kindName(n))
	}
	pairs := make([]pair, 0, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fieldErr("", fmt.Sprintf("line %d: expected a string key, got a %s", k.Line, kindName(k)))
		}
		if k.ShortTag() == "!!merge" {
			return nil, fieldErr(k.Value, "merge keys are not supported")
		}
		if seen[k.Value] {
			return nil, fieldErr(k.Value, "duplicate key")
		}
		seen[k.Value] = true
		pairs = append(pairs, pair{k, val})
	}
	return pairs, nil
}

// decodeStruct stores pairs into the struct v by yaml tag. An unknown key is
// an error; unknownWhat is appended to its message ("for sink type file").
func decodeStruct(pairs []pair, v reflect.Value, unknownWhat string) error {
	fields := yamlFields(v.Type())
	for _, p := range pairs {
		idx, ok := fields[p.key.Value]
		if !ok {
			return fieldErr(p.key.Value, unknownKeyMsg(p.key.Value, unknownWhat, fields))
		}
		if err := decode(p.val, v.FieldByIndex(idx)); err != nil {
			return under(p.key.Value, err)
		}
	}
	return nil
}

// yamlFields maps the yaml keys of struct type t to field indexes.
func yamlFields(t reflect.Type) map[string][]int {
	m := make(map[string][]int, t.NumField())
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Index
	}
	return m
}

// unknownKeyMsg says a key is unknown and suggests a close known one.
func unknownKeyMsg(key, what string, fields map[string][]int) string {
	msg := "unknown key"
	if what != "" {
		msg += " " + what
	}
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := editDistance(strings.ToLower(key), name); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// editDistance is the Levenshtein distance, capped: long inputs only need
// to be "far".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func decodeSlice(n *yaml.Node, v reflect.Value) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fieldErr("", "expected a list, got a "+kindName(n))
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if err := decode(item, s.Index(i)); err != nil {
			return under("["+strconv.Itoa(i)+"]", err)
		}
	}
	v.Set(s)
	return nil
}

func decodeMap(n *yaml.Node, v reflect.Value) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if v.Type().Key().Kind() != reflect.String {
		return fieldErr("", "unsupported map key type "+v.Type().Key().String())
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(v.Type(), len(pairs))
	for _, p := range pairs {
		val := reflect.New(v.Type().Elem()).Elem()
		if err := decode(p.val, val); err != nil {
			return under(p.key.Value, err)
		}
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), val)
	}
	v.Set(m)
	return nil
}

// decodeScalar parses the node's text by the target's kind, whatever its
// YAML tag: an ${ENV} reference always yields text, and "30" read from the
// environment must still fill an int.
func decodeScalar(n *yaml.Node, v reflect.Value) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr("", "expected a single value, got a "+kindName(n))
	}
	if isNull(n) {
		v.SetZero()
		return nil
	}
	s := n.Value
	if v.Kind() != reflect.String && strings.TrimSpace(s) == "" {
		// ${VAR:-} expanding to nothing means "use the default".
		v.SetZero()
		return nil
	}
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fieldErr("", fmt.Sprintf("invalid duration %q (want a number with a unit, e.g. \"30s\" or \"500ms\")", s))
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			return fieldErr("", fmt.Sprintf("invalid boolean %q (want true or false)", s))
		}
	case v.CanInt():
		i, err := strconv.ParseInt(strings.TrimSpace(s), 0, v.Type().Bits())
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return fieldErr("", fmt.Sprintf("%s is out of range", s))
			}
			return fieldErr("", fmt.Sprintf("invalid integer %q", s))
		}
		v.SetInt(i)
	case v.CanFloat():
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fieldErr("", fmt.Sprintf("invalid number %q", s))
		}
		v.SetFloat(f)
	default:
		return fieldErr("", "unsupported field type "+v.Type().String())
	}
	return nil
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports a null scalar (~, null or nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	default:
		return "document"
	}
}

// sinkTypes lists the known sink types.
var sinkTypes = []string{"elasticsearch", "splunk_hec", "syslog", "webhook", "file", "null"}

// block returns the Sink's block for its Type, allocating it if alloc is
// set; ok is false for an unknown type, and the Value is invalid for null.
func (s *Sink) block(alloc bool) (v reflect.Value, ok bool) {
	var p any
	switch s.Type {
	case "elasticsearch":
		if s.Elasticsearch == nil && alloc {
			s.Elasticsearch = new(Elasticsearch)
		}
		p = s.Elasticsearch
	case "splunk_hec":
		if s.SplunkHEC == nil && alloc {
			s.SplunkHEC = new(SplunkHEC)
		}
		p = s.SplunkHEC
	case "syslog":
		if s.Syslog == nil && alloc {
			s.Syslog = new(Syslog)
		}
		p = s.Syslog
	case "webhook":
		if s.Webhook == nil && alloc {
			s.Webhook = new(Webhook)
		}
		p = s.Webhook
	case "file":
		if s.File == nil && alloc {
			s.File = new(File)
		}
		p = s.File
	case "null":
		return reflect.Value{}, true
	default:
		return reflect.Value{}, false
	}
	rv := reflect.ValueOf(p)
	if rv.IsNil() {
		return reflect.Value{}, true
	}
	return rv.Elem(), true
}

// UnmarshalYAML reads type, then decodes the other keys strictly into the
// block for that type; a key of another type's block is an error
// ("token: unknown key for sink type elasticsearch"). Error paths are
// relative to the sink.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if isNull(n) {
		*s = Sink{}
		return nil
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return err
	}
	var out Sink
	rest := make([]pair, 0, len(pairs))
	found := false
	for _, p := range pairs {
		if p.key.Value != "type" {
			rest = append(rest, p)
			continue
		}
		found = true
		// The node's text, not its decoded value: "type: null" must read
		// as the null sink, not as YAML null.
		t := deref(p.val)
		if t.Kind != yaml.ScalarNode {
			return fieldErr("type", "expected a single value, got a "+kindName(t))
		}
		out.Type = t.Value
	}
	if !found || out.Type == "" {
		return fieldErr("type", "required (one of "+strings.Join(sinkTypes, ", ")+")")
	}
	block, ok := out.block(true)
	if !ok {
		return fieldErr("type", unknownSinkTypeMsg(out.Type))
	}
	what := "for sink type " + out.Type
	if !block.IsValid() {
		if len(rest) > 0 {
			return fieldErr(rest[0].key.Value, "unknown key "+what)
		}
	} else if err := decodeStruct(rest, block, what); err != nil {
		return err
	}
	*s = out
	return nil
}

func unknownSinkTypeMsg(t string) string {
	return fmt.Sprintf("unknown sink type %q (want one of %s)", t, strings.Join(sinkTypes, ", "))
}

// MarshalYAML writes type followed by the keys of the type's block, the
// shape UnmarshalYAML reads. Secrets come out redacted.
func (s Sink) MarshalYAML() (any, error) {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	block, _ := s.block(false)
	if block.IsValid() {
		if err := out.Encode(block.Interface()); err != nil {
			return nil, err
		}
	}
	typ := []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "type"},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.Type},
	}
	out.Content = append(typ, out.Content...)
	return out, nil
}

// Format prints the sink as its type and the type's block, for every fmt
// verb. Without it a verb that does not suit pointers (%s, %q, %d) would make
// fmt print the block pointers' contents raw, bypassing Secret's redaction.
func (s Sink) Format(f fmt.State, verb rune) {
	block, _ := s.block(false)
	plus := f.Flag('+') || f.Flag('#')
	_, _ = io.WriteString(f, "{")
	if plus {
		_, _ = io.WriteString(f, "Type:")
	}
	_, _ = io.WriteString(f, s.Type)
	if block.IsValid() {
		_, _ = io.WriteString(f, " ")
		if plus {
			_, _ = io.WriteString(f, block.Type().Name()+":")
		}
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), block.Interface())
	}
	_, _ = io.WriteString(f, "}")
}

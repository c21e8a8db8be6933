package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes. In YAML it is an integer or a string with
// a unit: 512, "64KiB", "5MiB", "1GiB", "10MB" (decimal units are accepted).
type ByteSize int64

// Byte size units. KB, MB and GB are decimal; KiB, MiB and GiB binary.
const (
	KB  ByteSize = 1000
	MB  ByteSize = 1000 * KB
	GB  ByteSize = 1000 * MB
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// byteUnits maps a lower-case unit to its size.
var byteUnits = map[string]ByteSize{
	"": 1, "b": 1,
	"kb": KB, "mb": MB, "gb": GB,
	"kib": KiB, "mib": MiB, "gib": GiB,
}

// ParseByteSize parses "512", "5MiB", "5 MiB" or "10mb": a non-negative
// integer and an optional case-insensitive unit (B, KB, MB, GB, KiB, MiB,
// GiB). Fractions, signs and overflow are errors.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("size %q must not be negative", s)
		}
		return 0, fmt.Errorf("invalid size %q (want an integer with an optional unit B, KB, MB, GB, KiB, MiB or GiB)", s)
	}
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("invalid size %q (want an integer with an optional unit B, KB, MB, GB, KiB, MiB or GiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n) * unit, nil
}

// UnmarshalYAML reads an integer or a string with a unit; see ParseByteSize.
// Null and the empty string leave zero (the default).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return fieldErr("", "expected a size such as 512 or \"5MiB\", got a "+kindName(n))
	}
	if isNull(n) || strings.TrimSpace(n.Value) == "" {
		*b = 0
		return nil
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fieldErr("", err.Error())
	}
	*b = v
	return nil
}

// UnmarshalYAML reads a filter expression (a string) or the mapping
// {field, equals}, strictly.
func (f *Filter) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		*f = Filter{Expr: n.Value}
		return nil
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return fieldErr("", "expected an expression (a string) or a mapping {field, equals}, got a "+kindName(n))
	}
	return decodeStruct(pairs, reflect.ValueOf(f).Elem(), "")
}

// MarshalYAML writes the expression, or the mapping {field, equals}: the
// shapes UnmarshalYAML reads.
func (f Filter) MarshalYAML() (any, error) {
	if f.Expr != "" {
		return f.Expr, nil
	}
	return struct {
		Field  string   `yaml:"field"`
		Equals []string `yaml:"equals,omitempty"`
	}{f.Field, f.Equals}, nil
}

// MarshalYAML writes the String form, which UnmarshalYAML reads back.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String is the shortest exact human form: "5MiB", "10MB", "1500B".
// Binary units win when both fit ("1MiB", not "1048576B").
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	if b < 0 {
		// Only reachable by building a Config in code; Validate rejects it.
		return strconv.FormatInt(int64(b), 10) + "B"
	}
	for _, u := range []struct {
		size ByteSize
		name string
	}{{GiB, "GiB"}, {GB, "GB"}, {MiB, "MiB"}, {MB, "MB"}, {KiB, "KiB"}, {KB, "KB"}} {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Secret is a credential. It prints as "[redacted]" through fmt (every
// verb, including %#v), slog and YAML/JSON marshalling; only the empty
// secret prints as empty, so that "not set" stays visible. Call Value for the
// real text.
type Secret string

const redacted = "[redacted]"

// Value returns the secret's text.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format redacts the secret for every fmt verb. %q and %#v quote the
// redacted text; the others write it bare.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML redacts the secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

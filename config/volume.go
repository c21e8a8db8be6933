package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The volume settings of a route (issue 15): which fields of an event are
// sent (package shape applies them) and which share of the events
// (package sample). Both run after routes[].filter.

// RenameFields renames fields of each event (routes[].rename_fields), as
// Filebeat's rename processor does. In YAML it is the mapping below or,
// for short, the list of {from, to} alone (the other keys at their
// defaults).
type RenameFields struct {
	// Fields are renamed in order, each from From to To (dotted paths as
	// event.Field reads them; To is written as nested objects).
	Fields []Rename `yaml:"fields"`
	// IgnoreMissing: a From the event lacks is no error. Default false.
	IgnoreMissing bool `yaml:"ignore_missing"`
	// FailOnError: on an error (a From missing without IgnoreMissing, a To
	// that exists, a To whose parent is not an object) every rename of the
	// event is undone; false skips the failing pair and goes on. Default
	// true (DefaultRenameFailOnError).
	FailOnError *bool `yaml:"fail_on_error"`
}

// Rename is one pair of RenameFields.
type Rename struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// UnmarshalYAML reads the mapping {fields, ignore_missing, fail_on_error}
// or a list of {from, to}.
func (r *RenameFields) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if n.Kind == yaml.SequenceNode {
		*r = RenameFields{}
		return decode(n, reflect.ValueOf(&r.Fields).Elem())
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return fieldErr("", "expected a list of {from, to} or a mapping {fields, ignore_missing, fail_on_error}, got a "+kindName(n))
	}
	return decodeStruct(pairs, reflect.ValueOf(r).Elem(), "")
}

// AddFields adds constant fields to each event (routes[].add_fields), as
// Filebeat's add_fields processor does.
type AddFields struct {
	// Target is the object the fields go into, a dotted path. Default
	// "fields" (DefaultAddFieldsTarget); "" puts them at the top level.
	Target *string `yaml:"target"`
	// Fields to add: scalars, lists or nested mappings; a dotted name is
	// nested mappings (AnyFields.Expand). An existing field of the same
	// name is overwritten; objects are merged.
	Fields AnyFields `yaml:"fields"`
}

// AnyFields is a mapping of any YAML values that JSON can hold. A key
// with dots stands for nested objects, as in Filebeat's configuration:
// {cloud.region: eu} is {cloud: {region: eu}} (see Expand).
type AnyFields map[string]any

// Expand returns the fields with every dotted key turned into nested
// mappings, merged with the mappings of the same name. It fails on a
// conflict: a name that is both a value and a mapping ({a: 1, a.b: 2}),
// or given twice.
func (a AnyFields) Expand() (map[string]any, error) {
	return expandInto(map[string]any{}, a, "")
}

func expandInto(dst map[string]any, src map[string]any, prefix string) (map[string]any, error) {
	for _, k := range sortedKeys(src) {
		v := src[k]
		steps := strings.Split(k, ".")
		m := dst
		for i, step := range steps[:len(steps)-1] {
			next, ok := m[step].(map[string]any)
			if !ok {
				if _, taken := m[step]; taken {
					return nil, fmt.Errorf("%s%s is a value and a mapping", prefix, strings.Join(steps[:i+1], "."))
				}
				next = map[string]any{}
				m[step] = next
			}
			m = next
		}
		last := steps[len(steps)-1]
		sub, isMap := v.(map[string]any)
		old, taken := m[last]
		oldMap, oldIsMap := old.(map[string]any)
		switch {
		case isMap && (!taken || oldIsMap):
			if oldMap == nil {
				oldMap = map[string]any{}
				m[last] = oldMap
			}
			if _, err := expandInto(oldMap, sub, prefix+k+"."); err != nil {
				return nil, err
			}
		case taken:
			return nil, fmt.Errorf("%s%s is given twice", prefix, k)
		default:
			m[last] = v
		}
	}
	return dst, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// UnmarshalYAML reads any mapping; Validate checks that it converts to
// JSON.
func (a *AnyFields) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return fieldErr("", "expected a mapping of fields, got a "+kindName(n))
	}
	m := map[string]any{}
	if err := n.Decode(&m); err != nil {
		return fieldErr("", err.Error())
	}
	*a = m
	return nil
}

// Sample keeps a share of a route's events (routes[].sample), chosen by a
// hash so that the same events are kept on every run and replay.
type Sample struct {
	// Rate is the share kept, in (0, 1]. Required.
	Rate float64 `yaml:"rate"`
	// Key is the field whose value is hashed (source.ip): every event of
	// one value is kept or dropped together. An event without it, and
	// every event when Key is empty (the default), is hashed by its Kafka
	// topic, partition and offset.
	Key string `yaml:"key"`
	// When limits sampling to the events this filter expression accepts;
	// the others are all kept. Empty (the default): every event.
	When string `yaml:"when"`
}

// HasShaping reports whether the route changes the fields of its events.
func (r *Route) HasShaping() bool {
	return len(r.DropFields) > 0 || len(r.KeepFields) > 0 ||
		(r.RenameFields != nil && len(r.RenameFields.Fields) > 0) ||
		(r.AddFields != nil && len(r.AddFields.Fields) > 0)
}

// applyVolumeDefaults fills in the defaults of the volume settings.
func (r *Route) applyVolumeDefaults() {
	if rf := r.RenameFields; rf != nil && rf.FailOnError == nil {
		on := DefaultRenameFailOnError
		rf.FailOnError = &on
	}
	if af := r.AddFields; af != nil && af.Target == nil {
		t := DefaultAddFieldsTarget
		af.Target = &t
	}
}

// validateVolume checks the volume settings of the route at path.
func (r *Route) validateVolume(path string) error {
	for i, f := range r.DropFields {
		if err := checkFieldName(f); err != nil {
			return fieldErr(fmt.Sprintf("%s.drop_fields[%d]", path, i), err.Error())
		}
	}
	for i, f := range r.KeepFields {
		if err := checkFieldName(f); err != nil {
			return fieldErr(fmt.Sprintf("%s.keep_fields[%d]", path, i), err.Error())
		}
	}
	if rf := r.RenameFields; rf != nil {
		for i, p := range rf.Fields {
			at := fmt.Sprintf("%s.rename_fields.fields[%d]", path, i)
			if err := checkFieldName(p.From); err != nil {
				return fieldErr(at+".from", err.Error())
			}
			if err := checkFieldName(p.To); err != nil {
				return fieldErr(at+".to", err.Error())
			}
			if p.From == p.To {
				return fieldErr(at+".to", fmt.Sprintf("%q is the field's own name", p.To))
			}
		}
	}
	if err := r.AddFields.validate(path + ".add_fields"); err != nil {
		return err
	}
	return r.Sample.validate(path + ".sample")
}

func (a *AddFields) validate(path string) error {
	if a == nil {
		return nil
	}
	if len(a.Fields) == 0 {
		return fieldErr(path+".fields", "required when add_fields is set")
	}
	if a.Target != nil && *a.Target != "" {
		if err := checkFieldName(*a.Target); err != nil {
			return fieldErr(path+".target", err.Error())
		}
	}
	for k, v := range a.Fields {
		if err := checkFieldName(k); err != nil {
			return fieldErr(path+".fields", err.Error())
		}
		if _, err := json.Marshal(v); err != nil {
			return fieldErr(path+".fields."+k, "not a JSON value (a mapping with keys that are not strings?)")
		}
	}
	if _, err := a.Fields.Expand(); err != nil {
		return fieldErr(path+".fields", err.Error())
	}
	return nil
}

func (s *Sample) validate(path string) error {
	if s == nil {
		return nil
	}
	if !(s.Rate > 0 && s.Rate <= 1) {
		return fieldErr(path+".rate", fmt.Sprintf("%v must be > 0 and ≤ 1 (the share of events kept)", s.Rate))
	}
	if s.Key != "" {
		if err := checkFieldName(s.Key); err != nil {
			return fieldErr(path+".key", err.Error())
		}
	}
	if s.When != "" && filterCheck != nil {
		if err := filterCheck(s.When); err != nil {
			return fieldErr(path+".when", err.Error())
		}
	}
	return nil
}

// checkFieldName rejects a dotted field name with an empty step.
func checkFieldName(f string) error {
	if f == "" {
		return fmt.Errorf("a field name is required")
	}
	if strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
		return fmt.Errorf("%q has an empty step between dots", f)
	}
	return nil
}

// Package shape changes which fields of an event a route sends
// (routes[].drop_fields, keep_fields, rename_fields, add_fields), with the
// names and the meaning of Filebeat's processors of the same purpose
// (drop_fields, include_fields, rename, add_fields), which Elastic users
// know:
//
//   - drop_fields removes each path; @timestamp and type are never removed.
//   - keep_fields (Filebeat's include_fields) keeps only the paths given,
//     each with its whole value and the objects on the way to it, plus
//     @timestamp and type; a path the event lacks adds nothing.
//   - rename_fields moves each from to its to, in order; a missing from is
//     an error unless ignore_missing, and so is a to that exists already
//     or whose parent is not an object. With fail_on_error (the default)
//     an error undoes every rename of the event; without, the failing pair
//     is skipped.
//   - add_fields puts constant fields into target ("fields" by default,
//     "" for the top level), overwriting a field of the same name and
//     merging objects.
//
// They run in that order: drop and keep select by the names the event
// arrives with (the names routes[].filter and routes[].sample use), rename
// follows, and added fields are never dropped.
//
// A path is dotted, as event.Field reads it: each step a nested key or a
// key that itself holds dots ("host.name" reaches {"host":{"name":..}} and
// {"host.name":..}). Array elements are not addressed: a path that meets
// an array stops there. Where several keys match a path, drop and keep
// take every one of them, rename the first.
//
// A document is parsed one level at a time, only along the paths, and
// untouched values are copied as they are; a document that shaping leaves
// as it was is returned itself, not re-encoded.
package shape

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/siembridge/siembridge/config"
)

// Config of a Shaper: the route's settings.
type Config struct {
	Drop []string
	Keep []string
	// Rename pairs are applied in order; IgnoreMissing and FailOnError as
	// config.RenameFields (FailOnError true is Filebeat's default).
	Rename        []config.Rename
	IgnoreMissing bool
	FailOnError   bool
	// AddTarget is the dotted path the fields of Add go into; "" is the
	// top level.
	AddTarget string
	Add       map[string]any
}

// FromRoute is the Config of route rc's settings, which must have had
// config defaults applied; ok is false when rc shapes nothing.
func FromRoute(rc config.Route) (c Config, ok bool) {
	if !rc.HasShaping() {
		return Config{}, false
	}
	c = Config{Drop: rc.DropFields, Keep: rc.KeepFields, FailOnError: config.DefaultRenameFailOnError, AddTarget: config.DefaultAddFieldsTarget}
	if r := rc.RenameFields; r != nil {
		c.Rename, c.IgnoreMissing = r.Fields, r.IgnoreMissing
		if r.FailOnError != nil {
			c.FailOnError = *r.FailOnError
		}
	}
	if a := rc.AddFields; a != nil {
		c.Add = a.Fields
		if a.Target != nil {
			c.AddTarget = *a.Target
		}
	}
	return c, true
}

// always are the fields Filebeat never drops and always keeps.
var always = []string{"@timestamp", "type"}

// Shaper shapes documents. It is immutable and safe for concurrent use.
type Shaper struct {
	drop      []string
	keep      []string
	rename    []config.Rename
	ignoreMis bool
	failOnErr bool
	addTarget string
	add       *object // nil: nothing to add
	// onlyRemoves: no keep and no add, so an event that holds no drop path
	// and no rename source is left as it is, which hasAny can tell without
	// parsing.
	onlyRemoves bool
	removes     []string // the drop paths and rename sources
}

// New compiles c.
func New(c Config) (*Shaper, error) {
	s := &Shaper{
		keep: slices.Clone(c.Keep), rename: slices.Clone(c.Rename),
		ignoreMis: c.IgnoreMissing, failOnErr: c.FailOnError, addTarget: c.AddTarget,
	}
	for _, p := range c.Drop {
		if !slices.Contains(always, p) {
			s.drop = append(s.drop, p)
		}
	}
	if len(s.keep) > 0 {
		for _, a := range always {
			if !slices.Contains(s.keep, a) {
				s.keep = append(s.keep, a)
			}
		}
	}
	if len(c.Add) > 0 {
		expanded, err := config.AnyFields(c.Add).Expand()
		if err != nil {
			return nil, fmt.Errorf("add_fields: %w", err)
		}
		add, err := objectOf(expanded)
		if err != nil {
			return nil, fmt.Errorf("add_fields: %w", err)
		}
		s.add = add
	}
	s.onlyRemoves = len(s.keep) == 0 && s.add == nil
	s.removes = slices.Clone(s.drop)
	for _, r := range s.rename {
		s.removes = append(s.removes, r.From)
	}
	return s, nil
}

// objectOf is m as an object, its keys in sorted order (a Go map has
// none) and nested maps as objects, so that they merge.
func objectOf(m map[string]any) (*object, error) {
	o := &object{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		mb := member{rawKey: quoteKey(k), key: []byte(k)}
		if sub, ok := m[k].(map[string]any); ok {
			child, err := objectOf(sub)
			if err != nil {
				return nil, err
			}
			mb.obj = child
		} else {
			raw, err := json.Marshal(m[k])
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			mb.val = raw
		}
		o.members = append(o.members, mb)
	}
	return o, nil
}

// reaches reports whether a drop path or a rename source may be in doc.
func (s *Shaper) reaches(doc []byte) bool {
	return hasAny(doc, s.removes)
}

// Result says what Shape did to one document.
type Result struct {
	// Changed: the document returned is a new one.
	Changed bool
	// NotObject: the document is not a JSON object Shape could split; it
	// is returned unchanged.
	NotObject bool
	// RenameErr is the first rename error, nil when none. With
	// FailOnError every rename was undone; without, the pair was skipped.
	RenameErr error
}

// Shape returns doc shaped, or doc itself when nothing changed (Result
// says which). doc is not modified. It never panics, whatever doc holds,
// and does not block.
func (s *Shaper) Shape(doc []byte) ([]byte, Result) {
	if s.onlyRemoves && !s.reaches(doc) {
		// The fast path: nothing to drop or rename in this event.
		var res Result
		if len(s.rename) > 0 && !s.ignoreMis {
			r := s.rename[0]
			res.RenameErr = fmt.Errorf("rename %s to %s: %w", r.From, r.To, errMissing)
		}
		return doc, res
	}
	root, ok := parseObject(doc, rootMembers)
	if !ok {
		return doc, Result{NotObject: true}
	}
	changed := false
	for _, p := range s.drop {
		changed = dropPath(root, p) || changed
	}
	if len(s.keep) > 0 {
		kept, dropped := keepPaths(root, s.keep)
		changed = changed || dropped
		root = kept
	}
	var res Result
	if len(s.rename) > 0 {
		var renamed bool
		root, renamed, res.RenameErr = s.renameAll(root)
		changed = changed || renamed
	}
	if s.add != nil {
		changed = addTo(root, s.addTarget, s.add) || changed
	}
	if !changed {
		return doc, res
	}
	res.Changed = true
	return root.appendTo(make([]byte, 0, root.size())), res
}

// matchStep compares a key with path: full when they are equal,
// otherwise rest is what follows the key and a '.' in path.
func matchStep(key []byte, path string) (rest string, full, prefix bool) {
	if string(key) == path {
		return "", true, false
	}
	if len(key) < len(path) && path[len(key)] == '.' && path[:len(key)] == string(key) {
		return path[len(key)+1:], false, true
	}
	return "", false, false
}

// dropPath removes every member of o that path reaches. Members are
// moved only when one is removed (a member holds pointers: every move
// costs the garbage collector a write barrier).
func dropPath(o *object, path string) bool {
	changed, removed := false, false
	for i := range o.members {
		m := &o.members[i]
		rest, full, prefix := matchStep(m.key, path)
		switch {
		case full:
			m.gone, removed = true, true
		case prefix:
			if c := m.child(); c != nil && dropPath(c, rest) {
				changed = true
			}
		}
	}
	if removed {
		o.members = slices.DeleteFunc(o.members, func(m member) bool { return m.gone })
	}
	return changed || removed
}

// keepPaths returns a new object with the members of o that paths reach,
// each whole, and the objects on the way to them; dropped reports that
// anything of o was left out.
func keepPaths(o *object, paths []string) (out *object, dropped bool) {
	out = &object{}
	var rests []string
	for i := range o.members {
		m := o.members[i]
		rests = rests[:0]
		whole := false
		for _, p := range paths {
			rest, full, prefix := matchStep(m.key, p)
			whole = whole || full
			if prefix {
				rests = append(rests, rest)
			}
		}
		if whole {
			out.members = append(out.members, m)
			continue
		}
		if len(rests) > 0 && m.isObject() {
			var sub *object
			var subDropped bool
			if c := m.child(); c != nil {
				sub, subDropped = keepPaths(c, slices.Clone(rests))
			}
			if sub != nil && len(sub.members) > 0 {
				m.obj, m.val = sub, nil
				out.members = append(out.members, m)
				dropped = dropped || subDropped
				continue
			}
		}
		dropped = true
	}
	return out, dropped
}

// Rename errors.
var (
	errMissing   = errors.New("the field to rename is missing")
	errExists    = errors.New("the target field exists already")
	errNotObject = errors.New("a parent of the target field is not an object")
)

// renameAll applies every rename pair to root. With failOnErr, an error
// returns a copy of root as it was before.
func (s *Shaper) renameAll(root *object) (*object, bool, error) {
	before := root
	if s.failOnErr {
		root = root.clone()
	}
	changed := false
	var first error
	for _, r := range s.rename {
		err := renameOne(root, r.From, r.To)
		switch {
		case err == nil:
			changed = true
			continue
		case errors.Is(err, errMissing) && s.ignoreMis:
			continue
		}
		err = fmt.Errorf("rename %s to %s: %w", r.From, r.To, err)
		if s.failOnErr {
			return before, false, err
		}
		if first == nil {
			first = err
		}
	}
	return root, changed, first
}

// renameOne moves the value at from to to; the document is unchanged
// when it fails.
func renameOne(root *object, from, to string) error {
	if _, ok := find(root, to); ok {
		return errExists
	}
	if !canPut(root, to) {
		return errNotObject
	}
	m, ok := take(root, from)
	if !ok {
		return errMissing
	}
	put(root, to, m)
	return nil
}

// find returns the first member path reaches, in document order.
func find(o *object, path string) (*member, bool) {
	for i := range o.members {
		m := &o.members[i]
		rest, full, prefix := matchStep(m.key, path)
		if full {
			return m, true
		}
		if prefix {
			if c := m.child(); c != nil {
				if found, ok := find(c, rest); ok {
					return found, true
				}
			}
		}
	}
	return nil, false
}

// take removes the first member path reaches and returns it.
func take(o *object, path string) (member, bool) {
	for i := range o.members {
		m := &o.members[i]
		rest, full, prefix := matchStep(m.key, path)
		if full {
			out := *m
			o.members = slices.Delete(o.members, i, i+1)
			return out, true
		}
		if prefix {
			if c := m.child(); c != nil {
				if out, ok := take(c, rest); ok {
					return out, true
				}
			}
		}
	}
	return member{}, false
}

// parentStep finds where put would descend from o for path: the first
// member whose key is a dotted prefix of path, and what follows it.
func parentStep(o *object, path string) (*member, string) {
	for i := range o.members {
		m := &o.members[i]
		if rest, _, prefix := matchStep(m.key, path); prefix {
			return m, rest
		}
	}
	return nil, ""
}

// canPut reports whether put(o, path) would find only objects on its way.
func canPut(o *object, path string) bool {
	for {
		m, rest := parentStep(o, path)
		if m == nil {
			return true
		}
		if !m.isObject() {
			return false
		}
		c := m.child()
		if c == nil {
			return false
		}
		o, path = c, rest
	}
}

// put sets the value of v at path, which must not exist (see canPut):
// it descends through existing objects and creates the missing ones.
func put(o *object, path string, v member) {
	for {
		m, rest := parentStep(o, path)
		if m == nil {
			break
		}
		o, path = m.child(), rest
	}
	steps := strings.Split(path, ".")
	last := member{rawKey: quoteKey(steps[len(steps)-1]), key: []byte(steps[len(steps)-1]), val: v.val, obj: v.obj}
	for i := len(steps) - 2; i >= 0; i-- {
		last = member{rawKey: quoteKey(steps[i]), key: []byte(steps[i]), obj: &object{members: []member{last}}}
	}
	o.members = append(o.members, last)
}

// addTo merges add into the object at target ("" for o itself), making
// it when missing and replacing a value there that is not an object.
func addTo(o *object, target string, add *object) bool {
	if target == "" {
		merge(o, add)
		return true
	}
	for {
		m, rest := parentStep(o, target)
		if m == nil {
			break
		}
		if m.child() == nil {
			m.obj, m.val = &object{}, nil
		}
		o, target = m.obj, rest
	}
	for i := range o.members {
		m := &o.members[i]
		if string(m.key) == target {
			if m.child() == nil {
				m.obj, m.val = &object{}, nil
			}
			merge(m.obj, add)
			return true
		}
	}
	put(o, target, member{obj: add.clone()})
	return true
}

// merge puts each member of add into o: objects on both sides merge, any
// other value replaces the one of the same key (every one, with
// duplicates) or is appended.
func merge(o *object, add *object) {
	for _, a := range add.members {
		found := false
		for i := range o.members {
			m := &o.members[i]
			if string(m.key) != string(a.key) {
				continue
			}
			found = true
			if a.obj != nil && m.child() != nil {
				merge(m.obj, a.obj)
				continue
			}
			m.val, m.obj = a.val, nil
			if a.obj != nil {
				m.obj = a.obj.clone()
			}
		}
		if !found {
			if a.obj != nil {
				a.obj = a.obj.clone()
			}
			o.members = append(o.members, a)
		}
	}
}

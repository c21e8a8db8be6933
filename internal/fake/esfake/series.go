package esfake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Documents are unique by _id within one concrete index, as in
// Elasticsearch, where an _id is checked only against the shard it routes
// to. A write addressed to an alias or a data stream lands in its write
// index, so after a rollover the same _id is created again in the new
// index: two documents, one in each index, both found by a search of the
// alias or data stream. This file models those names.

// series is an alias with a write index or a data stream: a name whose
// writes land in its newest concrete index and that can roll over to a new
// one.
type series struct {
	dataStream bool
	indices    []string // concrete indices, oldest first; the last is the write index
}

func (r *series) writeIndex() string { return r.indices[len(r.indices)-1] }

// CreateAlias creates index (a concrete index, created empty if it does
// not exist) with alias as its write alias, as a cluster bootstrapped for
// rollover is: writes to alias land in index until Rollover(alias). For
// Rollover to work the index name must end in "-" and a number, such as
// "logs-000001". It fails when alias already names an index, an alias or a
// data stream, when either name is invalid, or when index is a data
// stream's backing index. It is safe for concurrent use.
func (s *Server) CreateAlias(alias, index string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkNewName(alias); err != nil {
		return err
	}
	if reason := validateIndexName(index); reason != "" {
		return fmt.Errorf("esfake: invalid index name [%s], %s", index, reason)
	}
	if s.series[index] != nil {
		return fmt.Errorf("esfake: [%s] is an alias or a data stream, not an index", index)
	}
	if ds := s.backingOf[index]; ds != "" {
		return fmt.Errorf("esfake: [%s] is a backing index of data stream [%s]", index, ds)
	}
	s.ensureIndex(index)
	s.series[alias] = &series{indices: []string{index}}
	return nil
}

// CreateDataStream creates the data stream name with its first backing
// index, ".ds-<name>-<yyyy.MM.dd>-000001" with the date of Options.Now in
// UTC, and returns that index's name. Writes to a data stream must be
// "create" actions and documents must have a top-level "@timestamp", as in
// Elasticsearch (whose index template would make the stream on the first
// write; the fake needs this call). It fails when name already names an
// index, an alias or a data stream or is not a valid name. It is safe for
// concurrent use.
func (s *Server) CreateDataStream(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkNewName(name); err != nil {
		return "", err
	}
	if strings.HasPrefix(name, ".ds-") {
		return "", fmt.Errorf("esfake: data stream [%s] must not start with '.ds-'", name)
	}
	first := s.backingName(name, 1)
	s.ensureIndex(first)
	s.series[name] = &series{dataStream: true, indices: []string{first}}
	s.backingOf[first] = name
	return first, nil
}

// Rollover gives the alias or data stream name a new, empty write index
// and returns its name; the old indices keep their documents and are still
// searched through name (see Documents). An alias's new index is its write
// index's name with the number after the last '-' incremented and written
// with six digits at least ("logs-000001" → "logs-000002"), as
// Elasticsearch names it; a data stream's is its next backing index,
// ".ds-<name>-<yyyy.MM.dd>-<generation>", dated by Options.Now. It fails
// for a name that is neither. It is safe for concurrent use.
func (s *Server) Rollover(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.series[name]
	if r == nil {
		return "", fmt.Errorf("esfake: rollover target [%s] is not an alias or a data stream", name)
	}
	var next string
	if r.dataStream {
		next = s.backingName(name, len(r.indices)+1)
	} else {
		cur := r.writeIndex()
		i := strings.LastIndexByte(cur, '-')
		n, err := strconv.ParseUint(cur[i+1:], 10, 32)
		if i < 0 || err != nil {
			return "", fmt.Errorf(`esfake: index name [%s] does not match pattern '^.*-\d+$'`, cur)
		}
		next = fmt.Sprintf("%s-%06d", cur[:i], n+1)
	}
	if s.indices[next] != nil || s.series[next] != nil {
		return "", fmt.Errorf("esfake: rollover of [%s]: index [%s] already exists", name, next)
	}
	s.ensureIndex(next)
	r.indices = append(r.indices, next)
	if r.dataStream {
		s.backingOf[next] = name
	}
	return next, nil
}

// WriteIndex returns the concrete index a write to name lands in now: the
// write index of an alias or data stream, otherwise name itself. It is
// safe for concurrent use.
func (s *Server) WriteIndex(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.series[name]; r != nil {
		return r.writeIndex()
	}
	return name
}

// checkNewName reports whether name is free for a new alias or data
// stream. s.mu must be held.
func (s *Server) checkNewName(name string) error {
	if reason := validateIndexName(name); reason != "" {
		return fmt.Errorf("esfake: invalid name [%s], %s", name, reason)
	}
	if s.indices[name] != nil || s.series[name] != nil {
		return fmt.Errorf("esfake: [%s] already exists", name)
	}
	return nil
}

// backingName names generation gen of data stream name. s.mu must be held.
func (s *Server) backingName(name string, gen int) string {
	return fmt.Sprintf(".ds-%s-%s-%06d", name, s.now().UTC().Format("2006.01.02"), gen)
}

// ensureIndex returns the concrete index name, creating it empty when it
// does not exist. s.mu must be held.
func (s *Server) ensureIndex(name string) *index {
	ix := s.indices[name]
	if ix == nil {
		ix = &index{uuid: fakeUUID(name), docs: make(map[string]doc)}
		s.indices[name] = ix
	}
	return ix
}

// dataStreamOpType is Elasticsearch's answer to anything but a create
// addressed to a data stream.
const dataStreamOpType = "only write ops with an op_type of create are allowed in data streams"

// resolveWrite returns the concrete index a bulk action addressed to name
// writes to, and whether that index backs a data stream (whose documents
// need an @timestamp). A non-zero status is the item's error. s.mu must be
// held.
func (s *Server) resolveWrite(name, action string) (concrete string, dataStream bool, status int, errType, reason string) {
	if r := s.series[name]; r != nil {
		if r.dataStream && action != "create" {
			return "", false, http.StatusBadRequest, "illegal_argument_exception", dataStreamOpType
		}
		return r.writeIndex(), r.dataStream, 0, "", ""
	}
	if ds := s.backingOf[name]; ds != "" {
		// Updates and deletes may address a backing index; appends must
		// go through the data stream.
		switch action {
		case "create":
			return "", false, http.StatusBadRequest, "illegal_argument_exception",
				"index request with op_type=create targeting backing indices is disallowed, target corresponding data stream [" + ds + "] instead"
		case "index":
			return "", false, http.StatusBadRequest, "illegal_argument_exception",
				"index request with op_type=index and no if_primary_term and if_seq_no set targeting backing indices is disallowed, target corresponding data stream [" + ds + "] instead"
		}
		return name, true, 0, "", ""
	}
	return name, false, 0, "", ""
}

// resolveSearch returns the concrete indices a search of name reads: an
// alias's or data stream's indices, an existing index itself, or none.
// s.mu must be held.
func (s *Server) resolveSearch(name string) []string {
	if r := s.series[name]; r != nil {
		return r.indices
	}
	if s.indices[name] != nil {
		return []string{name}
	}
	return nil
}

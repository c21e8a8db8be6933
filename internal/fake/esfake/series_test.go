package esfake

import (
	"strings"
	"testing"
	"time"
)

// item1 returns the only item of a one-action bulk answer.
func item1(t *testing.T, br bulkResp) (action string, status int, index, errType string) {
	t.Helper()
	if len(br.Items) != 1 {
		t.Fatalf("%d items, want 1", len(br.Items))
	}
	for a, v := range br.Items[0] {
		action, status, index = a, v.Status, v.Index
		if v.Error != nil {
			errType = v.Error.Type
		}
	}
	return action, status, index, errType
}

// write sends one action with a document and returns its item.
func write(t *testing.T, s *Server, action, target, id, doc string) (status int, index, errType string) {
	t.Helper()
	meta := `{"` + action + `":{"_index":"` + target + `"`
	if id != "" {
		meta += `,"_id":"` + id + `"`
	}
	_, status, index, errType = item1(t, decode(t, bulk(t, s, meta+"}}\n"+doc+"\n")))
	return status, index, errType
}

// copiesOf lists the indices that hold id among docs, in order.
func copiesOf(docs []Document, id string) []string {
	var out []string
	for _, d := range docs {
		if d.ID == id {
			out = append(out, d.Index)
		}
	}
	return out
}

// TestIDUniquePerConcreteIndex: an _id is checked against one concrete
// index only. Two plain indices (the sink's date-suffixed names are such)
// each take the same _id; Count sees both copies, IDs and DistinctIDs one.
func TestIDUniquePerConcreteIndex(t *testing.T) {
	s := start(t, Options{})
	for _, tc := range []struct {
		index  string
		status int
	}{{"logs-2025.03.14", 201}, {"logs-2025.03.14", 409}, {"logs-2025.03.15", 201}} {
		if st, ix, _ := write(t, s, "create", tc.index, "a", `{"n":1}`); st != tc.status || ix != tc.index {
			t.Fatalf("create in %s: status %d index %s, want %d", tc.index, st, ix, tc.status)
		}
	}
	if s.Count() != 2 || s.DistinctIDs() != 1 || len(s.IDs()) != 1 || len(s.All()) != 1 || s.Duplicates() != 1 {
		t.Errorf("count %d distinct %d IDs %v all %d duplicates %d", s.Count(), s.DistinctIDs(), s.IDs(), len(s.All()), s.Duplicates())
	}
	docs := s.Documents()
	if got := copiesOf(docs, "a"); strings.Join(got, ",") != "logs-2025.03.14,logs-2025.03.15" {
		t.Errorf("copies of a in %v", got)
	}
	if got := s.Documents("logs-2025.03.15", "nope"); len(got) != 1 || got[0].Index != "logs-2025.03.15" || string(got[0].Source) != `{"n":1}` {
		t.Errorf("Documents(logs-2025.03.15, nope) = %+v", got)
	}
}

// TestAliasRollover: writes through an alias land in its write index; a
// create of an _id that index holds is a 409, but after a rollover the
// same create makes a second document in the new index, as Elasticsearch
// does. Searching the alias finds both.
func TestAliasRollover(t *testing.T) {
	s := start(t, Options{})
	if err := s.CreateAlias("logs", "logs-000001"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{201, 409} {
		if st, ix, _ := write(t, s, "create", "logs", "a", `{"n":1}`); st != want || ix != "logs-000001" {
			t.Fatalf("create through the alias: status %d index %s, want %d in logs-000001", st, ix, want)
		}
	}
	next, err := s.Rollover("logs")
	if err != nil || next != "logs-000002" || s.WriteIndex("logs") != next {
		t.Fatalf("Rollover = %q, %v; write index %s", next, err, s.WriteIndex("logs"))
	}
	for _, want := range []int{201, 409} {
		if st, ix, _ := write(t, s, "create", "logs", "a", `{"n":1}`); st != want || ix != "logs-000002" {
			t.Fatalf("create after rollover: status %d index %s, want %d in logs-000002", st, ix, want)
		}
	}
	if got := copiesOf(s.Documents("logs"), "a"); strings.Join(got, ",") != "logs-000001,logs-000002" {
		t.Errorf("copies of a through the alias: %v", got)
	}
	if s.Count() != 2 || s.DistinctIDs() != 1 || s.Duplicates() != 2 {
		t.Errorf("count %d distinct %d duplicates %d", s.Count(), s.DistinctIDs(), s.Duplicates())
	}
	// An update through the alias reaches the write index only.
	if st, _, typ := write(t, s, "update", "logs", "b", `{"doc":{"x":1}}`); st != 404 || typ != "document_missing_exception" {
		t.Errorf("update of a missing doc: %d %s", st, typ)
	}
	// The old index is still writable by its name.
	if st, ix, _ := write(t, s, "create", "logs-000001", "c", `{}`); st != 201 || ix != "logs-000001" {
		t.Errorf("create in the old index: %d %s", st, ix)
	}

	for name, f := range map[string]func() error{
		"alias over an index":     func() error { return s.CreateAlias("logs-000001", "x-000001") },
		"alias twice":             func() error { return s.CreateAlias("logs", "y-000001") },
		"invalid alias":           func() error { return s.CreateAlias("Logs", "z-000001") },
		"rollover of an index":    func() error { _, err := s.Rollover("logs-000001"); return err },
		"rollover of no name":     func() error { _, err := s.Rollover("nope"); return err },
		"rollover without number": func() error { _ = s.CreateAlias("plain", "plain-index"); _, err := s.Rollover("plain"); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDataStreamRollover: a data stream takes only creates of documents
// with an @timestamp, into its newest backing index; after a rollover the
// same _id is created again in the next backing index.
func TestDataStreamRollover(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 3, 14, 23, 0, 0, 0, time.UTC)}
	s := start(t, Options{Now: clk.Now})
	first, err := s.CreateDataStream("logs-app-default")
	if err != nil || first != ".ds-logs-app-default-2025.03.14-000001" {
		t.Fatalf("CreateDataStream = %q, %v", first, err)
	}
	doc := `{"@timestamp":"2025-03-14T22:59:00Z","n":1}`
	for _, tc := range []struct {
		action, target, doc string
		status              int
		errType             string
	}{
		{"create", "logs-app-default", doc, 201, ""},
		{"create", "logs-app-default", doc, 409, "version_conflict_engine_exception"},
		{"create", "logs-app-default", `{"n":2}`, 400, "document_parsing_exception"},
		{"create", "logs-app-default", `{"@timestamp":null}`, 400, "document_parsing_exception"},
		{"index", "logs-app-default", doc, 400, "illegal_argument_exception"},
		{"update", "logs-app-default", `{"doc":{"n":3}}`, 400, "illegal_argument_exception"},
		{"create", first, doc, 400, "illegal_argument_exception"},
		{"index", first, doc, 400, "illegal_argument_exception"},
	} {
		st, _, typ := write(t, s, tc.action, tc.target, "a", tc.doc)
		if st != tc.status || typ != tc.errType {
			t.Errorf("%s %s %s: status %d %s, want %d %s", tc.action, tc.target, tc.doc, st, typ, tc.status, tc.errType)
		}
	}
	// A delete may address the backing index.
	if st, ix, _ := write(t, s, "create", "logs-app-default", "b", doc); st != 201 || ix != first {
		t.Fatalf("create b: %d %s", st, ix)
	}
	br := decode(t, bulk(t, s, `{"delete":{"_index":"`+first+`","_id":"b"}}`+"\n"))
	if _, st, _, _ := item1(t, br); st != 200 {
		t.Errorf("delete in the backing index: %d", st)
	}

	clk.Add(2 * time.Hour)
	next, err := s.Rollover("logs-app-default")
	if err != nil || next != ".ds-logs-app-default-2025.03.15-000002" {
		t.Fatalf("Rollover = %q, %v", next, err)
	}
	if st, ix, _ := write(t, s, "create", "logs-app-default", "a", doc); st != 201 || ix != next {
		t.Fatalf("create after rollover: %d %s, want 201 in %s", st, ix, next)
	}
	if got := copiesOf(s.Documents("logs-app-default"), "a"); strings.Join(got, ",") != first+","+next {
		t.Errorf("copies of a in the data stream: %v", got)
	}
	if got := s.Indices(); strings.Join(got, ",") != first+","+next {
		t.Errorf("Indices = %v", got)
	}
	if _, err := s.CreateDataStream("logs-app-default"); err == nil {
		t.Error("a second CreateDataStream of the same name succeeded")
	}

	s.Reset()
	if len(s.Indices()) != 0 || s.WriteIndex("logs-app-default") != "logs-app-default" {
		t.Errorf("after Reset: indices %v, write index %s", s.Indices(), s.WriteIndex("logs-app-default"))
	}
}

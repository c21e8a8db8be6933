package esfake

import (
	"encoding/json"
	"strings"
	"testing"
)

const compat8 = "application/vnd.elasticsearch+json;compatible-with=8"

func TestCompatibilityHeaders(t *testing.T) {
	bulk := []byte(`{"create":{"_index":"logs","_id":"1"}}` + "\n" + `{"a":1}` + "\n")
	for _, tc := range []struct {
		name   string
		opts   Options
		method string
		path   string
		body   []byte
		accept string
		ctype  string
		status int
		respCT string // the answer's Content-Type
	}{
		{"8.x, unversioned", Options{}, "POST", "/_bulk", bulk, "", "application/x-ndjson", 200, "application/json"},
		{"8.x, compatible-with=8", Options{}, "POST", "/_bulk", bulk, compat8, compat8, 200, compat8},
		{"8.x, compatible-with=7", Options{}, "GET", "/", nil, strings.Replace(compat8, "8", "7", 1), "", 200,
			"application/vnd.elasticsearch+json;compatible-with=7"},
		{"8.x refuses compatible-with=9", Options{}, "GET", "/", nil, strings.Replace(compat8, "8", "9", 1), "", 400, ""},
		{"9.x, unversioned", Options{ServerVersion: "9.1.0"}, "GET", "/", nil, "", "", 200, "application/json"},
		{"9.x, compatible-with=8", Options{ServerVersion: "9.1.0"}, "POST", "/_bulk", bulk, compat8, compat8, 200, compat8},
		{"9.x refuses compatible-with=7", Options{ServerVersion: "9.1.0"}, "GET", "/", nil,
			strings.Replace(compat8, "8", "7", 1), "", 400, ""},
		{"versions must agree", Options{ServerVersion: "9.1.0"}, "POST", "/_bulk", bulk, compat8,
			strings.Replace(compat8, "8", "9", 1), 400, ""},
		{"both or neither with a body", Options{}, "POST", "/_bulk", bulk, compat8, "application/json", 400, ""},
		{"malformed version", Options{}, "GET", "/", nil, "application/vnd.elasticsearch+json;compatible-with=x", "", 400, ""},
		{"required and sent", Options{ServerVersion: "9.0.0", RequireCompatibleWith: 8}, "POST", "/_bulk", bulk, compat8, compat8, 200, compat8},
		{"required, Accept only", Options{ServerVersion: "9.0.0", RequireCompatibleWith: 8}, "GET", "/", nil, compat8, "", 200, compat8},
		{"required, not sent", Options{ServerVersion: "9.0.0", RequireCompatibleWith: 8}, "GET", "/", nil, "", "", 400, ""},
		{"required, body unversioned", Options{ServerVersion: "9.0.0", RequireCompatibleWith: 8}, "POST", "/_bulk", bulk,
			compat8, "application/x-ndjson", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.opts)
			hdr := map[string]string{}
			if tc.accept != "" {
				hdr["Accept"] = tc.accept
			}
			if tc.ctype != "" {
				hdr["Content-Type"] = tc.ctype
			}
			r, err := do(t, tc.method, s.URL()+tc.path, tc.body, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 400 {
				if !strings.Contains(string(r.body), "media_type_header_exception") {
					t.Errorf("body %s", r.body)
				}
				return
			}
			if got := r.header.Get("Content-Type"); got != tc.respCT {
				t.Errorf("answer Content-Type %q, want %q", got, tc.respCT)
			}
		})
	}
}

func TestServerVersionOnInfo(t *testing.T) {
	s := start(t, Options{ServerVersion: "9.1.0"})
	r, err := do(t, "GET", s.URL()+"/", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version struct{ Number string } `json:"version"`
	}
	if err := json.Unmarshal(r.body, &info); err != nil || info.Version.Number != "9.1.0" {
		t.Errorf("info %s: %v", r.body, err)
	}
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		auth     string
		status   int
		authType string
	}{
		{"security disabled", Options{}, "", 500, ""},
		{"api key", Options{APIKey: "k", Role: &Role{}}, "ApiKey k", 200, "api_key"},
		{"basic", Options{Username: "u", Password: "p", Role: &Role{}}, "Basic dTpw", 200, "realm"},
		{"wrong key", Options{APIKey: "k"}, "ApiKey nope", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.opts)
			r, err := do(t, "GET", s.URL()+"/_security/_authenticate", nil, map[string]string{"Authorization": tc.auth})
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 500 && !strings.Contains(string(r.body), "xpack.security.enabled") {
				t.Errorf("security disabled answer %s", r.body)
			}
			if tc.status != 200 {
				return
			}
			var a struct {
				Username           string `json:"username"`
				AuthenticationType string `json:"authentication_type"`
			}
			if err := json.Unmarshal(r.body, &a); err != nil || a.Username != principal || a.AuthenticationType != tc.authType {
				t.Errorf("answer %s: %v", r.body, err)
			}
		})
	}
}

type bulkAnswer struct {
	Errors bool
	Items  []map[string]struct {
		Index  string `json:"_index"`
		Status int
		Error  struct{ Type, Reason string }
	}
}

func TestRoleEnforcement(t *testing.T) {
	role := &Role{
		Cluster: []string{"read_ilm"},
		Indices: []IndexPrivileges{
			{Names: []string{"logs-*"}, Privileges: []string{"create_doc", "auto_configure"}},
			{Names: []string{"audit"}, Privileges: []string{"create_doc"}},
			{Names: []string{"ops-?"}, Privileges: []string{"write"}},
		},
	}
	for _, tc := range []struct {
		name   string
		action string
		index  string
		exists bool // created before the request
		status int
		denied string // the action named in the 403
	}{
		{"create_doc with auto_configure", "create", "logs-a-b", false, 201, ""},
		{"create_doc on an existing index", "create", "audit", true, 201, ""},
		{"create_doc, no auto_configure", "create", "audit", false, 403, "indices:admin/auto_create"},
		{"index needs more than create_doc", "index", "logs-a-b", false, 403, "indices:data/write/index"},
		{"outside the role", "create", "metrics-a-b", false, 403, "indices:data/write/index[op_type=create]"},
		{"write does not grant auto-create", "index", "ops-1", false, 403, "indices:admin/auto_create"},
		{"write grants index", "index", "ops-1", true, 201, ""},
		{"write grants delete", "delete", "ops-1", true, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Options{APIKey: "k", Role: role})
			if tc.exists {
				if err := s.CreateAlias(tc.index+"-alias", tc.index); err != nil {
					t.Fatal(err)
				}
			}
			body := `{"` + tc.action + `":{"_index":"` + tc.index + `","_id":"1"}}` + "\n"
			if tc.action != "delete" {
				body += `{"@timestamp":"2025-01-01T00:00:00Z"}` + "\n"
			}
			r, err := do(t, "POST", s.URL()+"/_bulk", []byte(body), map[string]string{"Authorization": "ApiKey k", "Content-Type": "application/x-ndjson"})
			if err != nil {
				t.Fatal(err)
			}
			var ba bulkAnswer
			if err := json.Unmarshal(r.body, &ba); err != nil || len(ba.Items) != 1 {
				t.Fatalf("answer %d %s: %v", r.status, r.body, err)
			}
			it := ba.Items[0][tc.action]
			if it.Status != tc.status {
				t.Fatalf("item %+v, want status %d", it, tc.status)
			}
			if tc.denied != "" && (it.Error.Type != "security_exception" || !strings.Contains(it.Error.Reason, "action ["+tc.denied+"]")) {
				t.Errorf("item error %+v, want a security_exception for %s", it.Error, tc.denied)
			}
		})
	}
	// GET / needs monitor; the role has none of the privileges granting it.
	s := start(t, Options{APIKey: "k", Role: role})
	r, err := do(t, "GET", s.URL()+"/", nil, map[string]string{"Authorization": "ApiKey k"})
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 403 || !strings.Contains(string(r.body), "cluster:monitor/main") {
		t.Errorf("GET /: %d %s", r.status, r.body)
	}
	// With monitor it is allowed.
	s = start(t, Options{APIKey: "k", Role: &Role{Cluster: []string{"monitor"}}})
	if r, err = do(t, "GET", s.URL()+"/", nil, map[string]string{"Authorization": "ApiKey k"}); err != nil || r.status != 200 {
		t.Errorf("GET / with monitor: %d %v", r.status, err)
	}
}

func TestDataStreamTemplatesAndPipeline(t *testing.T) {
	s := start(t, Options{DataStreamTemplates: BuiltinDataStreamTemplates})
	body := `{"create":{"_index":"logs-fw-prod","_id":"1","pipeline":"geoip"}}` + "\n" + `{"@timestamp":"2025-01-01T00:00:00Z"}` + "\n" +
		`{"create":{"_index":"logs-fw-prod","_id":"2"}}` + "\n" + `{"message":"no timestamp"}` + "\n" +
		`{"index":{"_index":"metrics-a-b","_id":"3"}}` + "\n" + `{"@timestamp":"2025-01-01T00:00:00Z"}` + "\n" +
		`{"create":{"_index":"plain","_id":"4"}}` + "\n" + `{"a":1}` + "\n"
	r, err := do(t, "POST", s.URL()+"/_bulk", []byte(body), map[string]string{"Content-Type": "application/x-ndjson"})
	if err != nil {
		t.Fatal(err)
	}
	var ba bulkAnswer
	if err := json.Unmarshal(r.body, &ba); err != nil || len(ba.Items) != 4 {
		t.Fatalf("answer %s: %v", r.body, err)
	}
	want := []struct {
		action string
		status int
		index  string
	}{{"create", 201, ".ds-logs-fw-prod-"}, {"create", 400, ""}, {"index", 400, ""}, {"create", 201, "plain"}}
	for i, w := range want {
		it := ba.Items[i][w.action]
		if it.Status != w.status || !strings.HasPrefix(it.Index, w.index) {
			t.Errorf("item %d: %+v, want %d in %s", i, it, w.status, w.index)
		}
	}
	docs := s.Documents("logs-fw-prod")
	if len(docs) != 1 || docs[0].Pipeline != "geoip" {
		t.Errorf("data stream documents %+v", docs)
	}
	if d := s.Documents("plain"); len(d) != 1 || d[0].Pipeline != "" {
		t.Errorf("plain documents %+v", d)
	}
}

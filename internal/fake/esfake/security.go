package esfake

import (
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Role is what the fake's one principal may do, in the shape of an
// Elasticsearch role descriptor. It is enforced only when the fake
// authenticates (Options.APIKey or Username), as security is.
type Role struct {
	// Cluster privileges, e.g. "monitor", "manage", "all".
	Cluster []string
	// Indices: index privileges by index name pattern.
	Indices []IndexPrivileges
}

// IndexPrivileges grants Privileges on the indices, aliases and data
// streams whose names match one of Names ('*' and '?' wildcards).
type IndexPrivileges struct {
	Names      []string
	Privileges []string
}

// principal names the fake's user in answers and messages.
const principal = "esfake"

// Which privileges grant which action, as Elasticsearch's built-in
// privileges do (the subset the fake serves).
var (
	monitorMain = grant{"cluster:monitor/main", []string{"monitor", "manage", "all"}}
	autoCreate  = grant{"indices:admin/auto_create", []string{"auto_configure", "create_index", "manage", "all"}}
	writeGrants = map[string]grant{
		"create": {"indices:data/write/index[op_type=create]", []string{"create_doc", "create", "index", "write", "all"}},
		"index":  {"indices:data/write/index", []string{"index", "write", "all"}},
		"update": {"indices:data/write/update", []string{"index", "write", "all"}},
		"delete": {"indices:data/write/delete", []string{"delete", "write", "all"}},
	}
)

type grant struct {
	action     string
	privileges []string
}

func (s *Server) secured() bool { return s.opts.APIKey != "" || s.opts.Username != "" }

// allowCluster reports whether the principal holds a cluster privilege of g.
func (s *Server) allowCluster(g grant) bool {
	if s.opts.Role == nil || !s.secured() {
		return true
	}
	return slices.ContainsFunc(s.opts.Role.Cluster, func(p string) bool { return slices.Contains(g.privileges, p) })
}

// allowIndex reports whether the principal holds an index privilege of g
// on name.
func (s *Server) allowIndex(g grant, name string) bool {
	if s.opts.Role == nil || !s.secured() {
		return true
	}
	for _, ip := range s.opts.Role.Indices {
		if !slices.ContainsFunc(ip.Privileges, func(p string) bool { return slices.Contains(g.privileges, p) }) {
			continue
		}
		for _, pattern := range ip.Names {
			if ok, err := path.Match(pattern, name); ok && err == nil {
				return true
			}
		}
	}
	return false
}

// unauthorized is Elasticsearch's reason for a 403 on g; index is "" for
// a cluster action.
func (s *Server) unauthorized(g grant, index string) string {
	who := "user [" + principal + "]"
	if s.opts.APIKey != "" {
		who = "API key id [" + principal + "] of user [" + principal + "]"
	}
	kind := "cluster"
	on := ""
	if index != "" {
		kind, on = "index", " on indices ["+index+"]"
	}
	return "action [" + g.action + "] is unauthorized for " + who + on +
		", this action is granted by the " + kind + " privileges [" + strings.Join(g.privileges, ",") + "]"
}

// authorizeWrite checks an operation against the role: its write
// privilege on the name it addresses and, when that name does not exist
// yet, the privilege to create it. s.mu must be held.
func (s *Server) authorizeWrite(o *op) *failure {
	g := writeGrants[o.action]
	if !s.allowIndex(g, o.index) {
		return &failure{status: http.StatusForbidden, errType: "security_exception", reason: s.unauthorized(g, o.index)}
	}
	if s.indices[o.index] == nil && s.series[o.index] == nil && o.action != "delete" && !s.allowIndex(autoCreate, o.index) {
		return &failure{status: http.StatusForbidden, errType: "security_exception", reason: s.unauthorized(autoCreate, o.index)}
	}
	return nil
}

// serveAuthenticate answers GET /_security/_authenticate, which every
// authenticated principal may call whatever its privileges. Without
// security it answers as Elasticsearch with security disabled does.
func (s *Server) serveAuthenticate(w http.ResponseWriter, r *http.Request) {
	if !s.secured() {
		writeError(w, http.StatusInternalServerError, "exception",
			"Security must be explicitly enabled when using a [basic] license. Enable security by setting "+
				"[xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.")
		return
	}
	realm, authType := `{"name":"default_native","type":"native"}`, "realm"
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "ApiKey") {
		realm, authType = `{"name":"_es_api_key","type":"_es_api_key"}`, "api_key"
	}
	writeJSON(w, http.StatusOK, []byte(`{"username":"`+principal+`","roles":[],"full_name":null,"email":null,`+
		`"metadata":{},"enabled":true,"authentication_realm":`+realm+`,"lookup_realm":`+realm+
		`,"authentication_type":"`+authType+`"}`))
}

// compatibleWith returns the N of a "compatible-with=N" media type
// parameter in h, 0 when there is none, -1 when it is malformed.
func compatibleWith(h string) int {
	_, params, ok := strings.Cut(h, ";")
	if !ok || !strings.Contains(strings.ToLower(h), "vnd.elasticsearch+") {
		return 0
	}
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "compatible-with") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return 0
}

// checkCompatibility applies Elasticsearch's REST API compatibility rules
// to the versioned media types of r: a version asked on Accept or
// Content-Type must be the server's major or the one before, and the two
// must agree. With Options.RequireCompatibleWith, Accept must ask for
// that version (and Content-Type too when there is a body). It returns
// the version asked (0 for none) and "" or the reason to refuse.
func (s *Server) checkCompatibility(r *http.Request) (int, string) {
	accept, ctype := r.Header.Get("Accept"), r.Header.Get("Content-Type")
	a, c := compatibleWith(accept), compatibleWith(ctype)
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if want := s.opts.RequireCompatibleWith; want != 0 && (a != want || (hasBody && c != want)) {
		on := "Accept"
		if hasBody {
			on = "Accept and Content-Type"
		}
		return 0, "esfake: this server requires compatible-with=" + strconv.Itoa(want) + " on " + on +
			"; got Accept=" + accept + ", Content-Type=" + ctype
	}
	major := s.major()
	v := max(a, c)
	switch {
	case a < 0 || c < 0, v != 0 && v != major && v != major-1, a != 0 && c != 0 && a != c, hasBody && (a == 0) != (c == 0):
		return 0, "A compatible version is required on both Content-Type and Accept headers if either one has requested a " +
			"compatible version and the compatible versions must match. Accept=" + accept + ", Content-Type=" + ctype
	}
	return v, ""
}

// major is the major version the server reports.
func (s *Server) major() int {
	m, _, _ := strings.Cut(s.opts.ServerVersion, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return 8
	}
	return n
}

package elasticsearch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/internal/fake/esfake"
	"github.com/siembridge/siembridge/sinks"
)

// compatMediaType is what the client sends as Accept and Content-Type: the
// Elasticsearch 8 REST API, which 8.x serves natively and 9.x through its
// compatibility layer.
const compatMediaType = "application/vnd.elasticsearch+json;compatible-with=8"

// captureTransport records each request and answers a canned bulk or
// authenticate response, so that requests to hosts that do not exist
// (Elastic Cloud) can be inspected.
type captureTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (c *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	body := `{"username":"u"}`
	if strings.HasSuffix(req.URL.Path, "/_bulk") {
		body = `{"errors":false,"items":[{"create":{"status":201}}]}`
	}
	return &http.Response{
		StatusCode: 200, Request: req,
		Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}, "Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)),
	}, nil
}

func cloudID(name, host, esUUID string) string {
	return name + ":" + base64.StdEncoding.EncodeToString([]byte(host+"$"+esUUID+"$kibana0uuid"))
}

func TestCloudIDAndCloudAuth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cloudID   string
		cloudAuth config.Secret
		wantURL   string // scheme://host of the requests
		wantUser  string
		wantPass  string
		wantErr   string // New fails, naming this
	}{
		{"cloud id and auth", cloudID("prod", "eu-west-1.aws.found.io", "a1b2c3"), "elastic:s3:cr3t",
			"https://a1b2c3.eu-west-1.aws.found.io", "elastic", "s3:cr3t", ""},
		{"cloud id with port", cloudID("dev", "us-central1.gcp.cloud.es.io:9243", "d4e5"), "",
			"https://d4e5.us-central1.gcp.cloud.es.io:9243", "", "", ""},
		{"not base64", "prod:@@not-base64@@", "", "", "", "", "cloud_id"},
		{"no dollar", "prod:" + base64.StdEncoding.EncodeToString([]byte("hostonly")), "", "", "", "", "cloud_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig("")
			cfg.URLs, cfg.CloudID, cfg.CloudAuth = nil, tc.cloudID, tc.cloudAuth
			ct := &captureTransport{}
			s, err := New(cfg, WithTransport(ct))
			if tc.wantErr != "" {
				if err == nil {
					_ = s.Close()
					t.Fatal("New accepted a bad cloud_id")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not name %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Send(context.Background(), events(0, 1)); err != nil {
				t.Fatal(err)
			}
			req := ct.reqs[0]
			if got := req.URL.Scheme + "://" + req.URL.Host; got != tc.wantURL {
				t.Errorf("request to %s, want %s", got, tc.wantURL)
			}
			u, p, ok := req.BasicAuth()
			if tc.wantUser == "" {
				if ok {
					t.Errorf("basic auth %q sent without cloud_auth", u)
				}
				return
			}
			if u != tc.wantUser || p != tc.wantPass {
				t.Errorf("basic auth %q %q, want %q %q", u, p, tc.wantUser, tc.wantPass)
			}
		})
	}
}

func TestCustomHeaders(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Headers = map[string]config.Secret{"X-Foo": "bar", "x-tenant": "blue"}
	rec := newRecorder(t)
	s := newSink(t, cfg, WithTransport(rec))
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), events(0, 2)); err != nil {
		t.Fatal(err)
	}
	if len(rec.headers) < 2 {
		t.Fatalf("%d requests", len(rec.headers))
	}
	for i, h := range rec.headers {
		if h.Get("X-Foo") != "bar" || h.Get("X-Tenant") != "blue" {
			t.Errorf("request %d (%s): headers %v", i, rec.urls[i].Path, h)
		}
	}
}

// forwardProxy is an HTTP forward proxy for http:// URLs that counts what
// it forwards.
type forwardProxy struct {
	mu    sync.Mutex
	hosts []string
	rt    http.RoundTripper
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, r.URL.Host)
	p.mu.Unlock()
	out := r.Clone(r.Context())
	out.RequestURI = ""
	res, err := p.rt.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

func TestProxyURL(t *testing.T) {
	f := fake(t, esfake.Options{})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	proxy := &forwardProxy{rt: tr}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)

	cfg := baseConfig(f.URL())
	cfg.ProxyURL = ps.URL
	s := newSink(t, cfg)
	if err := s.Send(context.Background(), events(0, 3)); err != nil {
		t.Fatal(err)
	}
	if f.Count() != 3 {
		t.Fatalf("%d stored", f.Count())
	}
	esHost := strings.TrimPrefix(f.URL(), "http://")
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.hosts) == 0 || proxy.hosts[0] != esHost {
		t.Errorf("proxy forwarded to %v, want %s", proxy.hosts, esHost)
	}
}

func TestTransportProxySetting(t *testing.T) {
	// Without proxy_url the transport keeps net/http's environment proxy
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); with it every request goes to
	// the configured proxy; a given transport is never modified.
	given := &http.Transport{}
	for _, tc := range []struct {
		name      string
		given     http.RoundTripper
		proxyURL  string
		wantProxy string // "env" for ProxyFromEnvironment
		wantErr   bool
	}{
		{"default honours the environment", nil, "", "env", false},
		{"proxy_url", nil, "http://proxy.internal:3128", "http://proxy.internal:3128", false},
		{"proxy_url on a given transport", given, "socks5://10.0.0.1:1080", "socks5://10.0.0.1:1080", false},
		{"proxy_url needs an *http.Transport", cannedTransport{200, nil}, "http://p:1", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig("http://es.example:9200")
			cfg.ProxyURL = tc.proxyURL
			rt, err := transport(tc.given, cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := rt.(*http.Transport)
			if tr.Proxy == nil {
				t.Fatal("no proxy function")
			}
			if tc.wantProxy == "env" {
				if reflect.ValueOf(tr.Proxy).Pointer() != reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
					t.Error("the default transport does not use http.ProxyFromEnvironment")
				}
				return
			}
			u, err := tr.Proxy(httptest.NewRequest("GET", "http://es.example:9200/_bulk", nil))
			if err != nil || u == nil || u.String() != tc.wantProxy {
				t.Errorf("proxy %v %v, want %s", u, err, tc.wantProxy)
			}
			if given.Proxy != nil {
				t.Error("the given transport was modified")
			}
		})
	}
}

// pki is a CA with a server and a client certificate, written as PEM
// files.
type pki struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := issue(3, "siembridge", x509.ExtKeyUsageClientAuth)
	p := pki{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("client.pem", "CERTIFICATE", cliDER),
		keyFile:  write("client.key", "EC PRIVATE KEY", keyDER(cliKey)),
		pool:     x509.NewCertPool(),
		server:   tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
	}
	p.pool.AddCert(ca)
	return p
}

func TestClientCertificate(t *testing.T) {
	p := newPKI(t)
	f := fake(t, esfake.Options{})
	target, err := url.Parse(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	// A TLS front that demands a client certificate signed by the CA, as
	// a cluster with xpack.security.http.ssl.client_authentication:
	// required does, forwarding to the fake.
	rp := httputil.NewSingleHostReverseProxy(target)
	upstream := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(upstream.CloseIdleConnections)
	rp.Transport = upstream
	front := httptest.NewUnstartedServer(rp)
	front.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	front.StartTLS()
	t.Cleanup(front.Close)

	for _, tc := range []struct {
		name      string
		cert, key string
		delivered bool
	}{
		{"with the client certificate", p.certFile, p.keyFile, true},
		{"without one the handshake fails", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset()
			cfg := baseConfig(front.URL)
			cfg.CAFile, cfg.CertFile, cfg.KeyFile = p.caFile, tc.cert, tc.key
			s := newSink(t, cfg)
			err := s.Send(context.Background(), events(0, 2))
			if !tc.delivered {
				if err == nil || sinks.Of(err) == sinks.Delivered || f.Count() != 0 {
					t.Fatalf("send without a client certificate: %v, %d stored", err, f.Count())
				}
				return
			}
			if err != nil || f.Count() != 2 {
				t.Fatalf("send: %v, %d stored", err, f.Count())
			}
		})
	}
}

func TestNewRejectsBadClientCertificate(t *testing.T) {
	cfg := baseConfig("https://127.0.0.1:9200")
	cfg.CertFile, cfg.KeyFile = "/nonexistent/client.pem", "/nonexistent/client.key"
	if s, err := New(cfg); err == nil {
		_ = s.Close()
		t.Fatal("New accepted a missing client certificate")
	} else if !strings.Contains(err.Error(), "cert_file") {
		t.Errorf("error %q does not name cert_file", err)
	}
}

func dsEvent(doc string) *event.Event { return event.New("t", 0, 1, day, nil, []byte(doc)) }

func TestDataStreamName(t *testing.T) {
	conf := config.DataStream{Type: "logs", Dataset: "firewall", Namespace: "prod"}
	long := strings.Repeat("x", 150)
	for _, tc := range []struct {
		name        string
		autoRouting bool
		doc         string
		want        string
	}{
		{"configured", false, `{"a":1}`, "logs-firewall-prod"},
		{"event fields ignored without auto routing", false,
			`{"data_stream":{"type":"metrics","dataset":"nginx","namespace":"dev"}}`, "logs-firewall-prod"},
		{"auto routing takes the event's parts", true,
			`{"data_stream":{"type":"metrics","dataset":"nginx.access","namespace":"dev"}}`, "metrics-nginx.access-dev"},
		{"dotted keys", true, `{"data_stream.dataset":"zeek.dns"}`, "logs-zeek.dns-prod"},
		{"missing parts fall back", true, `{"data_stream":{"namespace":"eu"}}`, "logs-firewall-eu"},
		{"sanitised", true, `{"data_stream":{"dataset":"Palo-Alto FW","namespace":"A/B"}}`, "logs-palo_alto_fw-a_b"},
		{"unknown type", true, `{"data_stream":{"type":"Bogus"}}`, "logs-firewall-prod"},
		{"not a string", true, `{"data_stream":{"dataset":42,"namespace":{"x":1}}}`, "logs-firewall-prod"},
		{"invalid after sanitising", true, `{"data_stream":{"dataset":"_hidden","namespace":""}}`, "logs-firewall-prod"},
		{"cut to 100 bytes", true, `{"data_stream":{"dataset":"` + long + `"}}`, "logs-" + long[:100] + "-prod"},
		{"not an object", true, `[1,2]`, "logs-firewall-prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conf
			c.AutoRouting = tc.autoRouting
			if got := string(newDataStream(c).appendName(nil, dsEvent(tc.doc))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzDataStreamName(f *testing.F) {
	for _, s := range []string{
		`{"data_stream":{"type":"logs","dataset":"a.b","namespace":"c"}}`,
		`{"data_stream":{"dataset":"Ü-ber\u0000x","namespace":"\ud800"}}`,
		`{"data_stream.dataset":"` + strings.Repeat("é", 80) + `"}`, `{`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	ds := newDataStream(config.DataStream{Type: "logs", Dataset: "generic", Namespace: "default", AutoRouting: true})
	f.Fuzz(func(t *testing.T, doc []byte) {
		name := string(ds.appendName(nil, &event.Event{Doc: doc}))
		parts := strings.Split(name, "-")
		if len(parts) != 3 {
			t.Fatalf("%q has %d parts", name, len(parts))
		}
		if !slices.Contains(dataStreamTypes, parts[0]) {
			t.Fatalf("%q: type %q", name, parts[0])
		}
		for _, p := range parts[1:] {
			if msg := config.DataStreamPartProblem(p); msg != "" {
				t.Fatalf("%q: part %q %s", name, p, msg)
			}
		}
		if _, err := event.ParseIndexTemplate(name); err != nil {
			t.Fatalf("%q is not a valid index name: %v", name, err)
		}
	})
}

func TestPipelineTemplate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pipeline string
		doc      string
		want     string // the action line's pipeline parameter
	}{
		{"none", "", `{"event":{"module":"zeek"}}`, ``},
		{"static, case kept", "GeoIP-v2", `{"event":{"module":"zeek"}}`, `,"pipeline":"GeoIP-v2"`},
		{"one field", "%{[event][module]}", `{"event":{"module":"Zeek"}}`, `,"pipeline":"zeek"`},
		{"one dotted field", "%{event.module}", `{"event.module":"suricata"}`, `,"pipeline":"suricata"`},
		{"one field, missing: no pipeline", "%{[event][module]}", `{"event":{}}`, ``},
		{"one field, null: no pipeline", "%{[event][module]}", `{"event":{"module":null}}`, ``},
		{"text and field", "logs-%{[event][module]}-1.0", `{"event":{"module":"zeek"}}`, `,"pipeline":"logs-zeek-1.0"`},
		{"text and missing field", "logs-%{[event][module]}", `{}`, `,"pipeline":"logs-unknown"`},
		{"date", "p-%{+yyyy.MM}", `{}`, `,"pipeline":"p-2025.03"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig("http://127.0.0.1:1")
			cfg.Pipeline = tc.pipeline
			s := newSink(t, cfg)
			var b sendBuf
			got := string(s.appendEvent(nil, &b, dsEvent(tc.doc)))
			want := `{"create":{"_index":"logs-2025.03.14","_id":"t+0+1"` + tc.want + "}}\n"
			if !strings.HasPrefix(got, want) {
				t.Errorf("got %q, want prefix %q", got, want)
			}
		})
	}
}

func TestPipelineReachesCluster(t *testing.T) {
	f := fake(t, esfake.Options{})
	cfg := baseConfig(f.URL())
	cfg.Pipeline = "%{[event][module]}"
	s := newSink(t, cfg)
	batch := []*event.Event{
		event.New("t", 0, 0, day, nil, []byte(`{"event":{"module":"zeek"}}`)),
		event.New("t", 0, 1, day, nil, []byte(`{"event":{"module":"Suricata"}}`)),
		event.New("t", 0, 2, day, nil, []byte(`{"message":"no module"}`)),
	}
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range f.Documents() {
		got[d.ID] = d.Pipeline
	}
	want := map[string]string{"t+0+0": "zeek", "t+0+1": "suricata", "t+0+2": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pipelines %v, want %v", got, want)
	}
	if s.AcceptsUnchecked() {
		t.Error("a pipeline read from fields needs checked documents")
	}
}

func TestDataStreamMode(t *testing.T) {
	f := fake(t, esfake.Options{DataStreamTemplates: esfake.BuiltinDataStreamTemplates})
	for _, tc := range []struct {
		name        string
		autoRouting bool
		docs        []string
		want        map[string]int // documents per data stream
	}{
		{"configured stream", false, []string{
			`{"@timestamp":"2025-03-14T10:00:00Z","data_stream":{"dataset":"other"}}`,
			`{"@timestamp":"2025-03-14T10:00:01Z"}`,
		}, map[string]int{"logs-firewall-prod": 2}},
		{"auto routing", true, []string{
			`{"@timestamp":"2025-03-14T10:00:00Z","data_stream":{"type":"logs","dataset":"zeek.dns","namespace":"prod"}}`,
			`{"@timestamp":"2025-03-14T10:00:01Z","data_stream":{"type":"metrics","dataset":"system.cpu","namespace":"eu"}}`,
			`{"@timestamp":"2025-03-14T10:00:02Z"}`,
		}, map[string]int{"logs-zeek.dns-prod": 1, "metrics-system.cpu-eu": 1, "logs-firewall-prod": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset()
			cfg := baseConfig(f.URL())
			cfg.Index = ""
			cfg.DataStream = &config.DataStream{Type: "logs", Dataset: "firewall", Namespace: "prod", AutoRouting: tc.autoRouting}
			s := newSink(t, cfg)
			var batch []*event.Event
			for i, d := range tc.docs {
				batch = append(batch, event.New("t", 0, int64(i), day, nil, []byte(d)))
			}
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			for ds, n := range tc.want {
				docs := f.Documents(ds)
				if len(docs) != n {
					t.Errorf("%s holds %d documents, want %d", ds, len(docs), n)
				}
				for _, d := range docs {
					if !strings.HasPrefix(d.Index, ".ds-"+ds+"-") {
						t.Errorf("%s: document in %s, not a backing index", ds, d.Index)
					}
				}
			}
			if f.Count() != len(tc.docs) {
				t.Errorf("%d stored, want %d", f.Count(), len(tc.docs))
			}
			// A replay of the same events is a 409 in the same backing
			// index: delivered, nothing stored twice.
			if err := s.Send(context.Background(), batch); err != nil || f.Count() != len(tc.docs) {
				t.Errorf("replay: %v, %d stored", err, f.Count())
			}
		})
	}
}

func TestElasticsearch9(t *testing.T) {
	// A 9.x cluster that insists on the 8 format, as this 8.x client
	// needs: every request must ask for it, or the fake answers 400.
	f := fake(t, esfake.Options{ServerVersion: "9.1.0", RequireCompatibleWith: 8, APIKey: "k"})
	cfg := baseConfig(f.URL())
	cfg.APIKey = "k"
	for _, gz := range []bool{false, true} {
		cfg.Gzip = gz
		s := newSink(t, cfg)
		if err := s.Probe(context.Background()); err != nil {
			t.Fatalf("gzip %v: probe: %v", gz, err)
		}
		if err := s.Send(context.Background(), events(0, 5)); err != nil {
			t.Fatalf("gzip %v: send: %v", gz, err)
		}
	}
	if f.Count() != 5 {
		t.Errorf("%d stored", f.Count())
	}
	// The same fake refuses a client that does not ask for the 8 format:
	// the check above can fail.
	req, err := http.NewRequest(http.MethodGet, f.URL()+"/_security/_authenticate", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "ApiKey k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("unversioned request: %d, want 400", res.StatusCode)
	}
}

// leastPrivilege is the role the README documents: create_doc and
// auto_configure on the target indices, no cluster privilege.
var leastPrivilege = &esfake.Role{Indices: []esfake.IndexPrivileges{{
	Names: []string{"logs-*", "siembridge-*"}, Privileges: []string{"create_doc", "auto_configure"},
}}}

func TestLeastPrivilege(t *testing.T) {
	f := fake(t, esfake.Options{APIKey: "k", Role: leastPrivilege, DataStreamTemplates: esfake.BuiltinDataStreamTemplates})
	for _, tc := range []struct {
		name   string
		mod    func(*config.Elasticsearch)
		stored bool
	}{
		{"index", func(c *config.Elasticsearch) { c.Index = "siembridge-%{+yyyy.MM.dd}" }, true},
		{"data stream", func(c *config.Elasticsearch) {
			c.Index, c.DataStream = "", &config.DataStream{Type: "logs", Dataset: "firewall", Namespace: "prod"}
		}, true},
		{"index action needs the index privilege", func(c *config.Elasticsearch) {
			c.Index, c.Action = "siembridge-x", "index"
		}, false},
		{"an index outside the role", func(c *config.Elasticsearch) { c.Index = "other-%{+yyyy}" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset()
			cfg := baseConfig(f.URL())
			cfg.APIKey = "k"
			tc.mod(&cfg)
			s := newSink(t, cfg)
			if err := s.Probe(context.Background()); err != nil {
				t.Fatalf("probe with a least-privilege key: %v", err)
			}
			err := s.Send(context.Background(), events(0, 3))
			if tc.stored {
				if err != nil || f.Count() != 3 {
					t.Fatalf("send: %v, %d stored", err, f.Count())
				}
				return
			}
			be := asBatchError(t, err)
			if f.Count() != 0 || len(be.Items) != 3 || be.Items[0].Status != http.StatusForbidden || be.Count(sinks.Reject) != 0 {
				t.Errorf("send: %+v, %d stored", be, f.Count())
			}
		})
	}
	// GET / needs the monitor cluster privilege: with this key it is a 403,
	// which is why Probe does not ask it.
	req, err := http.NewRequest(http.MethodGet, f.URL()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "ApiKey k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET / with create_doc and auto_configure: %d, want 403", res.StatusCode)
	}
}

func TestProbeAnswers(t *testing.T) {
	// Probe asks _security/_authenticate, and GET / only when the cluster
	// runs without security.
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   sinks.Outcome
		paths  string
	}{
		{"authenticated", answer(200, `{"username":"u"}`), sinks.Delivered, "/_security/_authenticate"},
		{"bad credentials", answer(401, `{"error":{"type":"security_exception","reason":"unable to authenticate"},"status":401}`),
			sinks.Fatal, "/_security/_authenticate"},
		{"security disabled", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				answer(200, `{"version":{"number":"8.15.0"}}`)(w, r)
				return
			}
			answer(500, `{"error":{"type":"exception","reason":"Security must be explicitly enabled ... [xpack.security.enabled] ..."},"status":500}`)(w, r)
		}, sinks.Delivered, "/_security/_authenticate /"},
		{"no such endpoint", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				answer(200, `{}`)(w, r)
				return
			}
			answer(404, `{}`)(w, r)
		}, sinks.Delivered, "/_security/_authenticate /"},
		{"server error is not security", answer(500, `{"error":{"type":"x","reason":"boom"},"status":500}`), sinks.Retry, "/_security/_authenticate"},
		{"busy", answer(503, `{}`), sinks.Unavailable, "/_security/_authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				tc.answer(w, r)
			}))
			t.Cleanup(srv.Close)
			s := newSink(t, baseConfig(srv.URL))
			err := s.Probe(context.Background())
			if got := sinks.Of(err); got != tc.want {
				t.Errorf("probe: %v (%v), want %v", err, got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(paths, " ") != tc.paths {
				t.Errorf("asked %v, want %s", paths, tc.paths)
			}
		})
	}
}

func answer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestProductCheckWithoutMonitor(t *testing.T) {
	// The client's product check reads the first successful answer,
	// here the authenticate one: a server without X-Elastic-Product is
	// refused even though the key may not ask GET /.
	for _, omit := range []bool{false, true} {
		f := fake(t, esfake.Options{APIKey: "k", Role: leastPrivilege, OmitProductHeader: omit})
		cfg := baseConfig(f.URL())
		cfg.APIKey = "k"
		s := newSink(t, cfg)
		err := s.Probe(context.Background())
		if want := map[bool]sinks.Outcome{false: sinks.Delivered, true: sinks.Fatal}[omit]; sinks.Of(err) != want {
			t.Errorf("product header omitted %v: probe %v, want %v", omit, err, want)
		}
	}
}

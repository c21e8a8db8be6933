package httpx

import (
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siembridge/siembridge/config"
)

// failing is a round tripper that is not an *http.Transport.
type failing struct{}

func (*failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("x") }

func TestTransport(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	withCA := config.TLS{Enabled: true, CAFile: ca}
	given := &http.Transport{}
	custom := &failing{}

	tests := []struct {
		name    string
		given   http.RoundTripper
		tls     config.TLS
		err     string // error prefix; "" for none
		same    bool   // given comes back as it is
		roots   bool   // the result trusts ca
		reaches bool   // a GET to srv succeeds
	}{
		{"default", nil, config.TLS{}, "", false, false, false},
		{"default with ca", nil, withCA, "", false, true, true},
		{"default insecure", nil, config.TLS{Enabled: true, InsecureSkipVerify: true}, "", false, false, true},
		{"ca not enabled is ignored", nil, config.TLS{CAFile: "/nonexistent"}, "", false, false, false},
		{"missing ca", nil, config.TLS{Enabled: true, CAFile: "/nonexistent"}, "webhook.ca_file: ", false, false, false},
		{"given transport", given, config.TLS{}, "", true, false, false},
		{"given transport with ca: a clone", given, withCA, "", false, true, true},
		{"custom round tripper", custom, config.TLS{}, "", true, false, false},
		{"custom round tripper with ca", custom, withCA, "webhook: ca_file and insecure_skip_verify", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := Transport(tt.given, 7*time.Second, tt.tls, "webhook")
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("Transport error = %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (rt == tt.given) != tt.same {
				t.Fatalf("given returned as is: %v, want %v", rt == tt.given, tt.same)
			}
			if tt.given == given && !tt.same && given.TLSClientConfig != nil && given.TLSClientConfig.RootCAs != nil {
				t.Error("the given transport was changed, not cloned")
			}
			tr, ok := rt.(*http.Transport)
			if !ok {
				return
			}
			if tt.given == nil && (tr.ResponseHeaderTimeout != 7*time.Second || tr.MaxIdleConnsPerHost != MaxIdleConnsPerHost || tr.Proxy == nil) {
				t.Errorf("ResponseHeaderTimeout %v, MaxIdleConnsPerHost %d, Proxy set %v", tr.ResponseHeaderTimeout, tr.MaxIdleConnsPerHost, tr.Proxy != nil)
			}
			if got := tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil; got != tt.roots {
				t.Errorf("trusts the CA file: %v, want %v", got, tt.roots)
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tt.reaches {
				t.Errorf("GET over TLS: %v, want success %v", err, tt.reaches)
			}
		})
	}
}

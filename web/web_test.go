package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(Page()) {
		t.Error("the handler does not serve the page")
	}
}

// TestCSPHashes checks that the policy names the hashes of the page's one
// script and one style, so that an edit to either cannot silently break
// the page.
func TestCSPHashes(t *testing.T) {
	page := string(Page())
	for _, tag := range []string{"script", "style"} {
		if n := strings.Count(page, "<"+tag); n != 1 {
			t.Fatalf("page has %d <%s> elements, want 1 (the CSP hashes one)", n, tag)
		}
		body := page[strings.Index(page, "<"+tag+">")+len(tag)+2 : strings.Index(page, "</"+tag+">")]
		sum := sha256.Sum256([]byte(body))
		want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, tag+"-src "+want) {
			t.Errorf("CSP %q lacks %s-src %s", csp, tag, want)
		}
	}
}

// TestSelfContained: nothing is fetched from another origin (the machine
// may be offline) and the only requests are to the API.
func TestSelfContained(t *testing.T) {
	page := string(Page())
	for _, re := range []string{`(?i)<(script|link|img|iframe)[^>]*(src|href)=`, `@import`, `url\(`, `https?://(?:[^"]*)"`} {
		for _, m := range regexp.MustCompile(re).FindAllString(page, -1) {
			if strings.Contains(m, "http://www.w3.org/2000/svg") {
				continue // the SVG namespace name, not a request
			}
			t.Errorf("external reference: %s", m)
		}
	}
	fetches := regexp.MustCompile(`getJSON\("([^"]+)"\)`).FindAllStringSubmatch(page, -1)
	if len(fetches) == 0 {
		t.Fatal("the page fetches nothing")
	}
	for _, f := range fetches {
		if !strings.HasPrefix(f[1], "/api/") {
			t.Errorf("fetch of %s", f[1])
		}
	}
}

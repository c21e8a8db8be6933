// Package web holds siembridge's status page: one self-contained HTML file
// (inline CSS and vanilla JavaScript, no build step, nothing fetched from
// another origin) embedded in the binary. The page polls /api/status once a
// second and draws from /api/history when it opens; package metrics serves
// both.
//
// Stable hooks for tests and scripts: every route is a
// <section data-route="NAME">; its values are elements with data-field
// (the JSON field name) whose data-value holds the raw number or word; the
// partition table's rows carry data-topic and data-partition; #conn has
// data-state "connecting", "ok" or "unreachable"; #ready has data-value
// "true" or "false".
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

//go:embed status.html
var page []byte

// Page returns a copy of the status page's HTML.
func Page() []byte { return bytes.Clone(page) }

// csp allows exactly the page's own inline script and style (by hash) and
// requests to its own origin; nothing else.
var csp = "default-src 'none'; " +
	"script-src " + inlineHash("script") + "; " +
	"style-src " + inlineHash("style") + "; " +
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHash returns the CSP source of the page's only <tag> element's
// content, 'none' when there is none.
func inlineHash(tag string) string {
	s := string(page)
	open := strings.Index(s, "<"+tag+">")
	if open < 0 {
		return "'none'"
	}
	s = s[open+len(tag)+2:]
	end := strings.Index(s, "</"+tag+">")
	if end < 0 {
		return "'none'"
	}
	sum := sha256.Sum256([]byte(s[:end]))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Handler serves the page. It is safe for concurrent use.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", csp)
		_, _ = w.Write(page)
	})
}

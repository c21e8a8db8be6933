package kafkatest

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfake speaks PLAIN and SCRAM only. OAuthBearer teaches a cluster the
// server side of SASL/OAUTHBEARER (RFC 7628, KIP-255) through its control
// hooks, so that a client's token provider can be tested end to end: the
// handshake accepts OAUTHBEARER, and the authentication passes when accept
// says the bearer token and its extensions (KIP-342) may connect. It
// checks authentication only; the cluster does not refuse clients that
// skip it (start it without kfake.EnableSASL).

// OAuthBearer installs the hooks on c for its whole life. accept is called
// from the cluster's goroutine, one request at a time.
func (c *Cluster) OAuthBearer(accept func(token string, extensions map[string]string) bool) {
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{"OAUTHBEARER"}
		if r.Mechanism != "OAUTHBEARER" {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		token, ext, err := ParseOAuthBearer(r.SASLAuthBytes)
		if err != nil || !accept(token, ext) {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			msg := "invalid token"
			if err != nil {
				msg = err.Error()
			}
			resp.ErrorMessage = &msg
		}
		return resp, nil, true
	})
}

// ParseOAuthBearer reads an OAUTHBEARER client initial response:
// "n,[a=authzid],\x01auth=Bearer TOKEN\x01key=value\x01...\x01\x01". It
// returns the token and the other key/value pairs.
func ParseOAuthBearer(msg []byte) (token string, extensions map[string]string, err error) {
	s := string(msg)
	gs2, rest, ok := strings.Cut(s, "\x01")
	if !ok || !strings.HasPrefix(gs2, "n,") || !strings.HasSuffix(gs2, ",") {
		return "", nil, errors.New("oauthbearer: bad GS2 header")
	}
	body, ok := strings.CutSuffix(rest, "\x01\x01")
	if !ok {
		return "", nil, errors.New("oauthbearer: message does not end in two ^A")
	}
	extensions = map[string]string{}
	for kv := range strings.SplitSeq(body, "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", nil, errors.New("oauthbearer: malformed key/value pair")
		}
		if _, dup := extensions[k]; dup || k == "auth" && token != "" {
			return "", nil, errors.New("oauthbearer: repeated key " + k)
		}
		if k == "auth" {
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok || t == "" {
				return "", nil, errors.New("oauthbearer: auth is not a bearer token")
			}
			token = t
			continue
		}
		extensions[k] = v
	}
	if token == "" {
		return "", nil, errors.New("oauthbearer: no auth")
	}
	return token, extensions, nil
}

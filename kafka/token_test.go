package kafka

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/internal/fake/kafkatest"
)

// tokenEndpoint is an OAuth 2.0 token endpoint for the client-credentials
// grant: it checks the client's credentials (HTTP Basic or form, as RFC
// 6749 2.3.1 allows), and issues "<prefix>-N" tokens valid for expiresIn.
type tokenEndpoint struct {
	*httptest.Server
	id, secret string
	prefix     string // of the tokens issued
	expiresIn  int
	issued     atomic.Int64
	mu         sync.Mutex
	tokens     map[string]bool
	scopes     []string
}

func newTokenEndpoint(t *testing.T, prefix, id, secret string, expiresIn int) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{id: id, secret: secret, prefix: prefix, expiresIn: expiresIn, tokens: map[string]bool{}}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	} else {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if id != e.id || secret != e.secret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	tok := fmt.Sprintf("%s-%d", e.prefix, e.issued.Add(1))
	e.mu.Lock()
	e.tokens[tok] = true
	e.scopes = strings.Fields(r.PostForm.Get("scope"))
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": e.expiresIn})
}

func (e *tokenEndpoint) valid(tok string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokens[tok]
}

func oauthConfig(endpoint, id, secret string) *config.OAuthBearer {
	return &config.OAuthBearer{TokenEndpointURL: endpoint, ClientID: id, ClientSecret: config.Secret(secret),
		Scope: "kafka:read kafka:write", Extensions: map[string]string{"logicalCluster": "lkc-42"}}
}

// TestOAuthBearerTokenRefresh: a token is reused while it is valid for more
// than tokenEarlyRefresh and fetched anew when it is not.
func TestOAuthBearerTokenRefresh(t *testing.T) {
	for _, tc := range []struct {
		name       string
		expiresIn  int
		wantTokens []string
	}{
		{"long-lived token is reused", 3600, []string{"tok-1", "tok-1", "tok-1"}},
		{"token about to expire is replaced", 20, []string{"tok-1", "tok-2", "tok-3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTokenEndpoint(t, "tok", "bridge", "cl1ent-s3cret", tc.expiresIn)
			p, err := newOAuthProvider(oauthConfig(e.URL, "bridge", "cl1ent-s3cret"), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.wantTokens {
				tok, err := p.Token()
				if err != nil {
					t.Fatal(err)
				}
				if tok.Token != want || tok.Extensions["logicalCluster"] != "lkc-42" {
					t.Fatalf("call %d: token %q extensions %v, want %q", i, tok.Token, tok.Extensions, want)
				}
			}
			if got := e.issued.Load(); got != int64(len(tc.wantTokens)) && tc.expiresIn < 60 {
				t.Fatalf("%d token requests", got)
			}
			if strings.Join(e.scopes, " ") != "kafka:read kafka:write" {
				t.Fatalf("scopes sent: %v", e.scopes)
			}
		})
	}
}

func TestOAuthBearerTokenErrors(t *testing.T) {
	const secret = "wr0ng-s3cret-value"
	e := newTokenEndpoint(t, "tok", "bridge", "right-secret", 3600)
	p, err := newOAuthProvider(oauthConfig(e.URL, "bridge", secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Token()
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.oauthbearer") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("error %v, want the endpoint's invalid_client under kafka.sasl.oauthbearer", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error quotes the client secret: %v", err)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	p, err = newOAuthProvider(oauthConfig(slow.URL, "bridge", secret), client)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Token()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a hanging endpoint: %v after %s", err, time.Since(start))
	}
}

// oauthCluster is a broker that accepts the tokens e issued, with the
// extension oauthConfig sends.
func oauthCluster(t *testing.T, e *tokenEndpoint, topics ...string) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(2, topics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.OAuthBearer(func(tok string, ext map[string]string) bool {
		return e.valid(tok) && ext["logicalCluster"] == "lkc-42"
	})
	return c
}

// TestOAuthBearerAgainstBroker connects through SaramaConfig with a token
// from the endpoint; a refused client secret, or a token the broker does
// not accept, fails the connection.
func TestOAuthBearerAgainstBroker(t *testing.T) {
	const secret = "cl1ent-s3cret-oauth"
	e := newTokenEndpoint(t, "tok", "bridge", secret, 3600)
	c := oauthCluster(t, e, "events")
	k := config.Kafka{Brokers: c.Brokers(), Version: "3.6.0",
		SASL: config.SASL{Mechanism: "OAUTHBEARER", OAuthBearer: oauthConfig(e.URL, "bridge", secret)}}

	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Net.SASL.Mechanism != sarama.SASLTypeOAuth || sc.Net.SASL.TokenProvider == nil {
		t.Fatalf("mechanism %s provider %v", sc.Net.SASL.Mechanism, sc.Net.SASL.TokenProvider)
	}
	client, err := sarama.NewClient(k.Brokers, sc)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	parts, err := client.Partitions("events")
	client.Close()
	if err != nil || len(parts) != 2 {
		t.Fatalf("partitions %v %v", parts, err)
	}

	wrong := k
	wrong.SASL.OAuthBearer = oauthConfig(e.URL, "bridge", "not-"+secret)
	if err := connectOnce(t, wrong); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("a refused client secret: %v", err)
	}
	other := newTokenEndpoint(t, "other", "bridge", secret, 3600) // tokens this broker does not know
	wrong.SASL.OAuthBearer = oauthConfig(other.URL, "bridge", secret)
	if err := connectOnce(t, wrong); err == nil {
		t.Fatal("a token the broker refuses connected")
	}
}

func connectOnce(t *testing.T, k config.Kafka) error {
	t.Helper()
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	sc.Net.DialTimeout = 2 * time.Second
	sc.Metadata.Retry.Max = 0
	client, err := sarama.NewClient(k.Brokers, sc)
	if err == nil {
		client.Close()
	}
	return err
}

// TestMSKProviderCaches: a signed token is reused until tokenEarlyRefresh
// before its expiry; a signing failure is reported and not cached.
func TestMSKProviderCaches(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	calls := 0
	fail := false
	p := &mskProvider{now: func() time.Time { return now }, generate: func(ctx context.Context) (string, int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("signing without a deadline")
		}
		if fail {
			return "", 0, errors.New("no credentials")
		}
		calls++
		return fmt.Sprintf("msk-%d", calls), now.Add(15 * time.Minute).UnixMilli(), nil
	}}
	steps := []struct {
		advance time.Duration
		fail    bool
		want    string
	}{
		{0, false, "msk-1"},
		{10 * time.Minute, false, "msk-1"},
		{4 * time.Minute, false, "msk-1"},  // 60 s left: kept
		{45 * time.Second, false, "msk-2"}, // 15 s left: replaced
		{0, true, "msk-2"},                 // cached: the failing signer is not asked
		{15 * time.Minute, true, ""},       // expired, and signing fails
		{0, false, "msk-3"},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		fail = s.fail
		tok, err := p.Token()
		switch {
		case s.want == "" && err == nil:
			t.Fatalf("step %d: no error with failing credentials", i)
		case s.want == "" && !strings.Contains(err.Error(), "kafka.sasl.aws_msk_iam"):
			t.Fatalf("step %d: error %v does not name the field", i, err)
		case s.want != "" && (err != nil || tok.Token != s.want):
			t.Fatalf("step %d: %v %v, want %s", i, tok, err, s.want)
		}
	}
}

// TestMSKTokenFromDefaultChain signs a real token with credentials from
// the environment (the first link of AWS's default chain), offline, and
// checks that it is the presigned kafka-cluster:Connect request MSK
// expects, for the configured region.
func TestMSKTokenFromDefaultChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEBRIDGE01")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "msk-example-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	k := config.Kafka{Brokers: []string{"b-1.msk.example:9098"}, Version: "3.6.0",
		SASL: config.SASL{Mechanism: "AWS_MSK_IAM", AWSMSKIAM: &config.AWSMSKIAM{Region: "eu-west-1", SessionName: "siembridge"}}}
	sc, err := SaramaConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Net.SASL.Mechanism != sarama.SASLTypeOAuth {
		t.Fatalf("mechanism %s", sc.Net.SASL.Mechanism)
	}
	tok, err := sc.Net.SASL.TokenProvider.Token()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok.Token, "="))
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "kafka.eu-west-1.amazonaws.com" || q.Get("Action") != "kafka-cluster:Connect" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIAEXAMPLEBRIDGE01/") || !strings.Contains(q.Get("X-Amz-Credential"), "/eu-west-1/kafka-cluster/") ||
		q.Get("X-Amz-Signature") == "" {
		t.Fatalf("not an MSK IAM token for eu-west-1: %s", raw)
	}
	if strings.Contains(string(raw), "msk-example-secret-key") {
		t.Fatal("the token carries the secret key")
	}
}

// TestMSKTokenFromRole: with role_arn the signer assumes the role through
// STS (here a loopback STS answering AssumeRole, reached through the SDK's
// AWS_ENDPOINT_URL_STS) and signs with the role's temporary credentials.
func TestMSKTokenFromRole(t *testing.T) {
	var asked url.Values
	var mu sync.Mutex
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		asked = r.PostForm
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLEEXAMPLE00001</AccessKeyId><SecretAccessKey>role-secret-key</SecretAccessKey>
<SessionToken>role-session-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/bridge/b1</Arn><AssumedRoleId>AROAEXAMPLE:b1</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	defer sts.Close()
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIABASEEXAMPLE00001", "AWS_SECRET_ACCESS_KEY": "base-secret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": dir + "/c", "AWS_SHARED_CREDENTIALS_FILE": dir + "/s",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_STS": sts.URL} {
		t.Setenv(k, v)
	}
	const role = "arn:aws:iam::123456789012:role/bridge"
	p := newMSKProvider(&config.AWSMSKIAM{Region: "ap-southeast-2", RoleARN: role, SessionName: "b1"})
	tok, err := p.Token()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok.Token, "="))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	mu.Lock()
	defer mu.Unlock()
	if asked.Get("Action") != "AssumeRole" || asked.Get("RoleArn") != role || asked.Get("RoleSessionName") != "b1" {
		t.Fatalf("STS was asked %v", asked)
	}
	if u.Host != "kafka.ap-southeast-2.amazonaws.com" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "ASIAROLEEXAMPLE00001/") ||
		q.Get("X-Amz-Security-Token") != "role-session-token" {
		t.Fatalf("not signed with the role's credentials: %s", raw)
	}
}

// TestOAuthBearerCAFile: a token endpoint with a certificate from a private
// CA is trusted with ca_file, and refused without it.
func TestOAuthBearerCAFile(t *testing.T) {
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tls-tok","token_type":"Bearer","expires_in":3600}`)
	}))
	defer idp.Close()
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	o := oauthConfig(idp.URL, "bridge", "s")
	p, err := newOAuthProvider(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Token(); err == nil {
		t.Fatal("an endpoint with an unknown CA was trusted")
	}
	o.CAFile = caFile
	if p, err = newOAuthProvider(o, nil); err != nil {
		t.Fatal(err)
	}
	if tok, err := p.Token(); err != nil || tok.Token != "tls-tok" {
		t.Fatalf("with ca_file: %v %v", tok, err)
	}
	o.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := newOAuthProvider(o, nil); err == nil || !strings.Contains(err.Error(), "kafka.sasl.oauthbearer") {
		t.Fatalf("missing ca_file: %v", err)
	}
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/siembridge/siembridge/config"
)

// SASL/OAUTHBEARER token providers: sarama asks one for a token each time
// it authenticates a connection (sarama.AccessTokenProvider). Both cache
// their token and fetch a new one shortly before it expires, so a client
// with many broker connections asks the token endpoint once per token
// lifetime, and a connection opened after expiry never gets a stale token.

const (
	// tokenFetchTimeout bounds one token request; sarama's connection
	// attempt waits on it.
	tokenFetchTimeout = 10 * time.Second
	// tokenEarlyRefresh: a token this close to its expiry is replaced, so
	// that it does not expire between being handed to sarama and the
	// broker checking it.
	tokenEarlyRefresh = 30 * time.Second
)

// oauthProvider gets tokens with the OAuth 2.0 client-credentials grant
// (golang.org/x/oauth2/clientcredentials). It is safe for concurrent use.
type oauthProvider struct {
	src        oauth2.TokenSource // caches, and refreshes tokenEarlyRefresh ahead
	extensions map[string]string
}

var _ sarama.AccessTokenProvider = (*oauthProvider)(nil)

// newOAuthProvider builds the provider of kafka.sasl.oauthbearer. client
// is the HTTP client of the token endpoint (nil: one with
// tokenFetchTimeout, trusting ca_file when set).
func newOAuthProvider(o *config.OAuthBearer, client *http.Client) (*oauthProvider, error) {
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.CAFile != "" {
			tc, err := config.TLS{CAFile: o.CAFile}.ClientConfig("kafka.sasl.oauthbearer")
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = tc
		}
		client = &http.Client{Timeout: tokenFetchTimeout, Transport: tr}
	}
	cc := &clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret.Value(),
		TokenURL:     o.TokenEndpointURL,
		Scopes:       strings.Fields(o.Scope),
	}
	// The context only carries the HTTP client: clientcredentials keeps it
	// for every later refresh.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	return &oauthProvider{
		src:        oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), tokenEarlyRefresh),
		extensions: maps.Clone(o.Extensions),
	}, nil
}

// Token returns a valid access token, fetching one when the cached token
// is missing or about to expire. It blocks for at most tokenFetchTimeout.
func (p *oauthProvider) Token() (*sarama.AccessToken, error) {
	t, err := p.src.Token()
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl.oauthbearer: token request: %w", err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("kafka.sasl.oauthbearer: the token endpoint returned no access_token")
	}
	return &sarama.AccessToken{Token: t.AccessToken, Extensions: p.extensions}, nil
}

// mskGenerate makes one signed MSK IAM token and returns it with its
// expiry in Unix milliseconds (the signer library's shape).
type mskGenerate func(ctx context.Context) (token string, expiryMillis int64, err error)

// mskProvider hands out AWS MSK IAM tokens: a SigV4-presigned
// kafka-cluster:Connect request made by github.com/aws/aws-msk-iam-sasl-
// signer-go, sent as an OAUTHBEARER token. It is safe for concurrent use.
type mskProvider struct {
	generate mskGenerate
	now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ sarama.AccessTokenProvider = (*mskProvider)(nil)

// newMSKProvider builds the provider of kafka.sasl.aws_msk_iam: the
// default AWS credential chain signs, or the role it assumes when role_arn
// is set.
func newMSKProvider(m *config.AWSMSKIAM) *mskProvider {
	region, role, session := m.Region, m.RoleARN, m.SessionName
	gen := func(ctx context.Context) (string, int64, error) {
		return signer.GenerateAuthToken(ctx, region)
	}
	if role != "" {
		gen = func(ctx context.Context) (string, int64, error) {
			return signer.GenerateAuthTokenFromRole(ctx, region, role, session)
		}
	}
	return &mskProvider{generate: gen, now: time.Now}
}

// Token returns the cached token, or signs a new one when it is missing
// or within tokenEarlyRefresh of expiry. Signing needs no network unless
// the credentials do (STS for a role, the instance metadata service); it
// blocks for at most tokenFetchTimeout.
func (p *mskProvider) Token() (*sarama.AccessToken, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && p.now().Before(p.expires.Add(-tokenEarlyRefresh)) {
		return &sarama.AccessToken{Token: p.token}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenFetchTimeout)
	defer cancel()
	tok, expMillis, err := p.generate(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl.aws_msk_iam: signing the token: %w", err)
	}
	p.token, p.expires = tok, time.UnixMilli(expMillis)
	return &sarama.AccessToken{Token: tok}, nil
}

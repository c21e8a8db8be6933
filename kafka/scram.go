package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

// SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), the client side of
// Kafka's SCRAM-SHA-256 and SCRAM-SHA-512 SASL mechanisms, built on the
// standard library only.
//
// Differences from the RFC, all deliberate:
//   - No SASLprep: Kafka's own client and broker hash the UTF-8 bytes of the
//     password as they are, so normalising here would make a password with
//     non-ASCII characters fail against a real broker.
//   - No channel binding (gs2 flag "n"): Kafka does not offer it.
//   - Fewer iterations than Kafka's minimum (4096) are refused, so that a
//     man in the middle cannot ask for a cheap hash of the password; more
//     than scramMaxIterations are refused so that a hostile server cannot
//     make the client burn minutes of CPU.

const (
	scramMinIterations = 4096
	scramMaxIterations = 1 << 20
	scramNonceBytes    = 24
)

// errSCRAMState is returned by Step when called out of turn.
var errSCRAMState = errors.New("scram: Step called after the exchange ended")

// scramClient implements sarama.SCRAMClient for one authentication
// exchange. It is not safe for concurrent use; sarama creates one per
// connection through the generator function.
type scramClient struct {
	hash  func() hash.Hash
	nonce func() (string, error) // the client nonce; replaced in tests

	user, authzID string
	password      string // dropped as soon as the proof is computed

	step            int
	clientNonce     string
	gs2Header       string
	clientFirstBare string
	serverSignature []byte
	done            bool
}

var _ sarama.SCRAMClient = (*scramClient)(nil)

// scramClientFunc returns sarama's generator for mech: a fresh client per
// connection. Mechanisms other than SCRAM-SHA-256 and SCRAM-SHA-512 get
// nil, which sarama's Validate reports.
var scramClientFunc = func(mech sarama.SASLMechanism) func() sarama.SCRAMClient {
	var h func() hash.Hash
	switch mech {
	case sarama.SASLTypeSCRAMSHA256:
		h = sha256.New
	case sarama.SASLTypeSCRAMSHA512:
		h = sha512.New
	default:
		return nil
	}
	return func() sarama.SCRAMClient { return newSCRAMClient(h) }
}

func newSCRAMClient(h func() hash.Hash) *scramClient {
	return &scramClient{hash: h, nonce: randomNonce}
}

// randomNonce returns 24 random bytes in URL-safe base64: printable and
// free of ',' as the RFC's nonce syntax requires.
func randomNonce() (string, error) {
	b := make([]byte, scramNonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("scram: nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Begin starts an exchange for user. Errors never include the password.
func (c *scramClient) Begin(user, password, authzID string) error {
	if user == "" {
		return errors.New("scram: username is empty")
	}
	if strings.ContainsRune(user, 0) || strings.ContainsRune(authzID, 0) {
		return errors.New("scram: username contains a NUL byte")
	}
	nonce, err := c.nonce()
	if err != nil {
		return err
	}
	if nonce == "" || strings.ContainsAny(nonce, ",") {
		return errors.New("scram: invalid client nonce")
	}
	*c = scramClient{hash: c.hash, nonce: c.nonce, user: user, authzID: authzID, password: password, clientNonce: nonce}
	c.gs2Header = "n," // no channel binding
	if authzID != "" {
		c.gs2Header += "a=" + saslName(authzID)
	}
	c.gs2Header += ","
	c.clientFirstBare = "n=" + saslName(user) + ",r=" + nonce
	return nil
}

// saslName escapes '=' and ',' in a user name (RFC 5802 5.1).
func saslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// Step takes the server's last message (empty at first) and returns the
// client's next one.
func (c *scramClient) Step(challenge string) (string, error) {
	switch c.step {
	case 0:
		if c.clientNonce == "" {
			return "", errors.New("scram: Step called before Begin")
		}
		c.step++
		return c.gs2Header + c.clientFirstBare, nil
	case 1:
		c.step++
		return c.clientFinal(challenge)
	case 2:
		c.step++
		if err := c.verifyServerFinal(challenge); err != nil {
			return "", err
		}
		c.done = true
		return "", nil
	}
	return "", errSCRAMState
}

// Done reports whether the server proved it knows the password.
func (c *scramClient) Done() bool { return c.done }

// scramAttrs splits "k=v,k=v" into its attributes in order. A value may
// contain '='; a key is one ASCII letter.
func scramAttrs(msg string) ([][2]string, error) {
	var out [][2]string
	for part := range strings.SplitSeq(msg, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(k) != 1 || !(k[0] >= 'a' && k[0] <= 'z' || k[0] >= 'A' && k[0] <= 'Z') {
			return nil, fmt.Errorf("malformed attribute %q", scramQuote(part, 40))
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// scramQuote bounds server-controlled text quoted in errors.
func scramQuote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// clientFinal checks server-first-message and computes
// client-final-message.
func (c *scramClient) clientFinal(serverFirst string) (string, error) {
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return "", fmt.Errorf("scram: server-first-message: %w", err)
	}
	if len(attrs) > 0 && attrs[0][0] == "e" {
		return "", fmt.Errorf("scram: server refused the exchange: %s", scramQuote(attrs[0][1], 80))
	}
	if len(attrs) > 0 && attrs[0][0] == "m" {
		return "", errors.New("scram: server requires an unsupported mandatory extension")
	}
	if len(attrs) < 3 || attrs[0][0] != "r" || attrs[1][0] != "s" || attrs[2][0] != "i" {
		return "", errors.New("scram: server-first-message: want r=, s= and i= in that order")
	}
	nonce, salt64, iter64 := attrs[0][1], attrs[1][1], attrs[2][1]
	// The server appends its part to our nonce; anything else is a replay
	// or a confused server.
	if !strings.HasPrefix(nonce, c.clientNonce) || len(nonce) == len(c.clientNonce) {
		return "", errors.New("scram: server nonce does not extend the client nonce")
	}
	for i := 0; i < len(nonce); i++ {
		if nonce[i] < 0x21 || nonce[i] > 0x7e {
			return "", errors.New("scram: server nonce contains non-printable characters")
		}
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return "", errors.New("scram: server-first-message: salt is not non-empty base64")
	}
	iter, err := strconv.Atoi(iter64)
	if err != nil {
		return "", fmt.Errorf("scram: server-first-message: iteration count %q is not a number", scramQuote(iter64, 20))
	}
	if iter < scramMinIterations || iter > scramMaxIterations {
		return "", fmt.Errorf("scram: server asks for %d iterations; accepted: %d to %d", iter, scramMinIterations, scramMaxIterations)
	}

	size := c.hash().Size()
	salted, err := pbkdf2.Key(c.hash, c.password, salt, iter, size)
	c.password = ""
	if err != nil {
		return "", fmt.Errorf("scram: derive key: %w", err)
	}
	finalNoProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2Header)) + ",r=" + nonce
	authMessage := []byte(c.clientFirstBare + "," + serverFirst + "," + finalNoProof)

	clientKey := c.hmac(salted, []byte("Client Key"))
	h := c.hash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	proof := c.hmac(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	c.serverSignature = c.hmac(c.hmac(salted, []byte("Server Key")), authMessage)
	clear(salted)
	clear(clientKey)
	return finalNoProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

// verifyServerFinal checks that the server signature proves the server
// holds our credentials; without that check a fake broker could accept any
// password and collect the events.
func (c *scramClient) verifyServerFinal(serverFinal string) error {
	attrs, err := scramAttrs(serverFinal)
	if err != nil {
		return fmt.Errorf("scram: server-final-message: %w", err)
	}
	switch {
	case len(attrs) > 0 && attrs[0][0] == "e":
		return fmt.Errorf("scram: authentication failed: %s", scramQuote(attrs[0][1], 80))
	case len(attrs) == 0 || attrs[0][0] != "v":
		return errors.New("scram: server-final-message carries no verifier")
	}
	sig, err := base64.StdEncoding.DecodeString(attrs[0][1])
	if err != nil {
		return errors.New("scram: server signature is not base64")
	}
	if !hmac.Equal(sig, c.serverSignature) {
		return errors.New("scram: server signature does not match: the server does not know the password (wrong server or man in the middle)")
	}
	return nil
}

func (c *scramClient) hmac(key, msg []byte) []byte {
	m := hmac.New(c.hash, key)
	m.Write(msg)
	return m.Sum(nil)
}

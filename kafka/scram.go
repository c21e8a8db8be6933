package kafka

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The client side of Kafka's SCRAM-SHA-256 and SCRAM-SHA-512 SASL
// mechanisms (RFC 5802, RFC 7677): github.com/xdg-go/scram runs the
// exchange (the implementation sarama's examples and the MongoDB Go driver
// use); scramClient adapts it to sarama.SCRAMClient and adds the checks
// the library leaves to its caller, before it sees a server message:
//   - the iteration count must lie between scramMinIterations (Kafka's own
//     minimum, so that a man in the middle cannot ask for a cheap hash of
//     the password) and scramMaxIterations (so that a hostile server cannot
//     make the client burn minutes of CPU); the library checks only a
//     minimum;
//   - the server nonce must strictly extend ours and be printable (the
//     library accepts our nonce returned unchanged), and the salt must not
//     be empty (the library accepts that too);
//   - a server error ("e=") in either message is reported as such.
//
// No SASLprep (NewClientUnprepped): Kafka's own client and broker hash the
// UTF-8 bytes of the password as they are, so normalising here would make a
// password with non-ASCII characters fail against a real broker. No channel
// binding: Kafka does not offer it.

const (
	scramMinIterations = 4096
	scramMaxIterations = 1 << 20
	scramNonceBytes    = 24
)

// errSCRAMState is returned by Step when called out of turn.
var errSCRAMState = errors.New("scram: Step called after the exchange ended")

// scramClient implements sarama.SCRAMClient for one authentication
// exchange at a time. It is not safe for concurrent use; sarama creates one
// per connection through the generator function.
type scramClient struct {
	hash  scram.HashGeneratorFcn
	nonce func() (string, error) // the client nonce; replaced in tests

	conv        *scram.ClientConversation
	clientNonce string
	step        int
	done        bool
}

var _ sarama.SCRAMClient = (*scramClient)(nil)

// scramClientFunc returns sarama's generator for mech: a fresh client per
// connection. Mechanisms other than SCRAM-SHA-256 and SCRAM-SHA-512 get
// nil, which sarama's Validate reports.
var scramClientFunc = func(mech sarama.SASLMechanism) func() sarama.SCRAMClient {
	var h scram.HashGeneratorFcn
	switch mech {
	case sarama.SASLTypeSCRAMSHA256:
		h = scram.SHA256
	case sarama.SASLTypeSCRAMSHA512:
		h = scram.SHA512
	default:
		return nil
	}
	return func() sarama.SCRAMClient { return newSCRAMClient(h) }
}

func newSCRAMClient(h scram.HashGeneratorFcn) *scramClient {
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

// Begin starts an exchange for user, dropping any earlier one. Errors
// never include the password.
func (c *scramClient) Begin(user, password, authzID string) error {
	c.conv, c.clientNonce, c.step, c.done = nil, "", 0, false
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
	client, err := c.hash.NewClientUnprepped(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	client.WithMinIterations(scramMinIterations).WithNonceGenerator(func() string { return nonce })
	c.conv, c.clientNonce = client.NewConversation(), nonce
	return nil
}

// Step takes the server's last message (empty at first) and returns the
// client's next one.
func (c *scramClient) Step(challenge string) (string, error) {
	if c.conv == nil {
		return "", errors.New("scram: Step called before Begin")
	}
	switch c.step {
	case 0:
		c.step++
		return c.conv.Step("")
	case 1:
		c.step++
		if err := checkServerFirst(challenge, c.clientNonce); err != nil {
			return "", err
		}
		out, err := c.conv.Step(challenge)
		if err != nil {
			return "", fmt.Errorf("scram: server-first-message: %w", err)
		}
		return out, nil
	case 2:
		c.step++
		if e, ok := strings.CutPrefix(challenge, "e="); ok {
			return "", fmt.Errorf("scram: authentication failed: %s", scramQuote(e, 80))
		}
		if _, err := c.conv.Step(challenge); err != nil || !c.conv.Valid() {
			// The library's one failure after a well-formed message: the
			// server's signature is not the one our password gives.
			return "", fmt.Errorf("scram: the server did not prove it knows the password (wrong server or man in the middle): %v", err)
		}
		c.done = true
		return "", nil
	}
	return "", errSCRAMState
}

// Done reports whether the server proved it knows the password.
func (c *scramClient) Done() bool { return c.done }

// checkServerFirst applies our bounds to server-first-message before the
// library derives a key from it.
func checkServerFirst(msg, clientNonce string) error {
	if e, ok := strings.CutPrefix(msg, "e="); ok {
		return fmt.Errorf("scram: server refused the exchange: %s", scramQuote(e, 80))
	}
	attrs := strings.Split(msg, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "r=") || !strings.HasPrefix(attrs[1], "s=") || !strings.HasPrefix(attrs[2], "i=") {
		return errors.New("scram: server-first-message: want r=, s= and i= in that order")
	}
	nonce := attrs[0][2:]
	if !strings.HasPrefix(nonce, clientNonce) || len(nonce) == len(clientNonce) {
		return errors.New("scram: server nonce does not extend the client nonce")
	}
	for i := 0; i < len(nonce); i++ {
		if nonce[i] < 0x21 || nonce[i] > 0x7e {
			return errors.New("scram: server nonce contains non-printable characters")
		}
	}
	// The library accepts an empty salt; a server offering one is broken
	// or hostile.
	if salt, err := base64.StdEncoding.DecodeString(attrs[1][2:]); err != nil || len(salt) == 0 {
		return errors.New("scram: server-first-message: salt is not non-empty base64")
	}
	iter, err := strconv.Atoi(attrs[2][2:])
	if err != nil {
		return fmt.Errorf("scram: server-first-message: iteration count %q is not a number", scramQuote(attrs[2][2:], 20))
	}
	if iter < scramMinIterations || iter > scramMaxIterations {
		return fmt.Errorf("scram: server asks for %d iterations; accepted: %d to %d", iter, scramMinIterations, scramMaxIterations)
	}
	return nil
}

// scramQuote bounds server-controlled text quoted in errors.
func scramQuote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

package kafka

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"

	"github.com/siembridge/siembridge/config"
)

// The SCRAM-SHA-256 example exchange of RFC 7677 section 3.
const (
	rfcUser        = "user"
	rfcPassword    = "pencil"
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func rfcClient(t *testing.T) *scramClient {
	t.Helper()
	c := newSCRAMClient(scram.SHA256)
	c.nonce = func() (string, error) { return rfcClientNonce, nil }
	if err := c.Begin(rfcUser, rfcPassword, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSCRAMRFC7677Vector(t *testing.T) {
	c := rfcClient(t)
	steps := []struct{ in, want string }{
		{"", rfcClientFirst},
		{rfcServerFirst, rfcClientFinal},
		{rfcServerFinal, ""},
	}
	for i, s := range steps {
		if c.Done() {
			t.Fatalf("step %d: Done before the server final message", i)
		}
		got, err := c.Step(s.in)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Fatalf("step %d:\n got %q\nwant %q", i, got, s.want)
		}
	}
	if !c.Done() {
		t.Fatal("not Done after a valid server signature")
	}
	if _, err := c.Step("x"); !errors.Is(err, errSCRAMState) {
		t.Fatalf("Step after Done: %v, want errSCRAMState", err)
	}
}

func TestSCRAMBeginResets(t *testing.T) {
	c := rfcClient(t)
	if _, err := c.Step(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Begin(rfcUser, rfcPassword, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Step(""); got != rfcClientFirst {
		t.Fatalf("after a second Begin: %q", got)
	}
}

func TestSCRAMUserEscapingAndAuthzID(t *testing.T) {
	c := newSCRAMClient(scram.SHA512)
	c.nonce = func() (string, error) { return "abc", nil }
	if err := c.Begin("a=b,c", "pw", "a=b,c"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Step("")
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,a=a=3Db=2Cc,n=a=3Db=2Cc,r=abc"; got != want {
		t.Fatalf("client-first %q, want %q", got, want)
	}
}

func TestSCRAMRandomNonces(t *testing.T) {
	a, err := randomNonce()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomNonce()
	if a == b || len(a) < 32 || strings.ContainsAny(a, ",=") {
		t.Fatalf("nonces %q %q", a, b)
	}
}

// TestSCRAMServerChecks covers every way a server (or something posing as
// one) can make the client stop, and checks that no error quotes the
// password.
func TestSCRAMServerChecks(t *testing.T) {
	tests := []struct {
		name        string
		serverFirst string
		serverFinal string // used when serverFirst is valid
		want        string
	}{
		{"server signature forged", rfcServerFirst, "v=" + strings.Repeat("A", 43) + "=", "did not prove it knows the password"},
		{"server signature not base64", rfcServerFirst, "v=???", "did not prove"},
		{"server error in final", rfcServerFirst, "e=invalid-proof", "authentication failed: invalid-proof"},
		{"no verifier", rfcServerFirst, "x=1", "did not prove"},
		{"empty final", rfcServerFirst, "", "did not prove"},
		{"nonce replaced", "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "does not extend the client nonce"},
		{"nonce not extended", "r=" + rfcClientNonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "does not extend the client nonce"},
		{"nonce control char", "r=" + rfcClientNonce + "\x01x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "non-printable"},
		{"too few iterations", "r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", "", "asks for 1 iterations"},
		{"too many iterations", "r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000", "", "asks for 100000000 iterations"},
		{"iterations not a number", "r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=many", "", "not a number"},
		{"bad salt", "r=" + rfcClientNonce + "x,s=!!,i=4096", "", "salt"},
		{"empty salt", "r=" + rfcClientNonce + "x,s=,i=4096", "", "salt"},
		{"missing salt", "r=" + rfcClientNonce + "x,i=4096", "", "want r=, s= and i="},
		{"mandatory extension", "m=ext,r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "want r=, s= and i="},
		{"server error in first", "e=unknown-user", "", "refused the exchange: unknown-user"},
		{"garbage", "hello", "", "want r=, s= and i="},
		{"iterations at the maximum plus one", "r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1048577", "", "accepted: 4096 to 1048576"},
		{"iterations below the minimum", "r=" + rfcClientNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "", "asks for 4095 iterations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rfcClient(t)
			if _, err := c.Step(""); err != nil {
				t.Fatal(err)
			}
			_, err := c.Step(tt.serverFirst)
			if err == nil {
				_, err = c.Step(tt.serverFinal)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), rfcPassword) {
				t.Fatalf("error quotes the password: %v", err)
			}
			if c.Done() {
				t.Fatal("Done after a failed exchange")
			}
		})
	}
}

func TestSCRAMBeginErrors(t *testing.T) {
	c := newSCRAMClient(scram.SHA256)
	if _, err := c.Step(""); err == nil {
		t.Fatal("Step before Begin succeeded")
	}
	if err := c.Begin("", "pw", ""); err == nil {
		t.Fatal("empty user accepted")
	}
	if err := c.Begin("a\x00b", "pw", ""); err == nil {
		t.Fatal("NUL in user accepted")
	}
	c.nonce = func() (string, error) { return "", errors.New("no entropy") }
	if err := c.Begin("u", "pw", ""); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Fatalf("nonce failure: %v", err)
	}
}

func TestSCRAMClientFunc(t *testing.T) {
	for _, m := range []sarama.SASLMechanism{sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512} {
		f := scramClientFunc(m)
		if f == nil {
			t.Fatalf("%s: no generator", m)
		}
		if f() == f() {
			t.Fatalf("%s: generator returns a shared client", m)
		}
	}
	if scramClientFunc(sarama.SASLTypePlaintext) != nil {
		t.Fatal("PLAIN got a SCRAM generator")
	}
}

// TestSCRAMAgainstKfake authenticates against kfake's independent server
// implementation, with the right and a wrong password, for both hashes.
func TestSCRAMAgainstKfake(t *testing.T) {
	const secret = "Sup3r-s3cret-SCRAM-pw"
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
				kfake.Superuser(mech, "bridge", secret), kfake.SeedTopics(2, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k := config.Kafka{Brokers: c.ListenAddrs(), SASL: config.SASL{Mechanism: mech, Username: "bridge", Password: config.Secret(secret)}}
			sc, err := SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			client, err := sarama.NewClient(k.Brokers, sc)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			parts, err := client.Partitions("t")
			client.Close()
			if err != nil || len(parts) != 2 {
				t.Fatalf("partitions: %v %v", parts, err)
			}

			k.SASL.Password = "wrong-" + secret
			sc, err = SaramaConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			sc.Net.DialTimeout = 2 * time.Second
			sc.Metadata.Retry.Max = 0
			client, err = sarama.NewClient(k.Brokers, sc)
			if err == nil {
				client.Close()
				t.Fatal("a wrong password connected")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error quotes the password: %v", err)
			}
		})
	}
}

func TestWarnInsecure(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	WarnInsecure(log, config.Kafka{})
	if buf.Len() != 0 {
		t.Fatalf("warned without insecure_skip_verify: %s", buf.String())
	}
	WarnInsecure(log, config.Kafka{TLS: config.TLS{InsecureSkipVerify: true}})
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "kafka.tls.insecure_skip_verify") {
		t.Fatalf("want one WARN line naming the field, got %q", out)
	}
}

// FuzzSCRAMServer feeds arbitrary server messages to the client: an error
// is a valid outcome; a panic, or completing the RFC exchange with another
// server signature, is not.
func FuzzSCRAMServer(f *testing.F) {
	f.Add(rfcServerFirst, rfcServerFinal+"x")
	f.Add("r="+rfcClientNonce+"x,s=AAAA,i=4096", "e=other-error")
	f.Add("r=,,,", "v==")
	f.Fuzz(func(t *testing.T, first, final string) {
		c := newSCRAMClient(scram.SHA256)
		c.nonce = func() (string, error) { return rfcClientNonce, nil }
		if err := c.Begin(rfcUser, rfcPassword, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Step(""); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(first, ",i=") && !strings.Contains(first, ",i=4096") {
			return // keep PBKDF2 cheap while fuzzing
		}
		if _, err := c.Step(first); err != nil {
			return
		}
		if _, err := c.Step(final); err == nil && first == rfcServerFirst {
			// Only the signature the server derived from the password may
			// complete the exchange.
			want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(rfcServerFinal, "v="))
			got, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(final, "v="))
			if !bytes.Equal(got, want) {
				t.Fatalf("exchange completed with server-final %q", final)
			}
		}
	})
}

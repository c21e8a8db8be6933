package kafkatest

import (
	"maps"
	"strings"
	"testing"
)

func TestParseOAuthBearer(t *testing.T) {
	tests := []struct {
		name, msg string
		token     string
		ext       map[string]string
		err       string
	}{
		{"token only", "n,,\x01auth=Bearer abc.def\x01\x01", "abc.def", map[string]string{}, ""},
		{"extensions and authzid", "n,a=u,\x01auth=Bearer t\x01logicalCluster=lkc-1\x01pool=p\x01\x01", "t", map[string]string{"logicalCluster": "lkc-1", "pool": "p"}, ""},
		{"no gs2", "\x01auth=Bearer t\x01\x01", "", nil, "GS2"},
		{"no terminator", "n,,\x01auth=Bearer t\x01", "", nil, "two ^A"},
		{"not bearer", "n,,\x01auth=Basic t\x01\x01", "", nil, "bearer"},
		{"no auth", "n,,\x01a=b\x01\x01", "", nil, "no auth"},
		{"repeated auth", "n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01", "", nil, "repeated"},
		{"empty pair", "n,,\x01auth=Bearer t\x01\x01\x01\x01", "", nil, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, ext, err := ParseOAuthBearer([]byte(tt.msg))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || tok != tt.token || !maps.Equal(ext, tt.ext) {
				t.Fatalf("got %q %v %v", tok, ext, err)
			}
		})
	}
}

// FuzzParseOAuthBearer: any input either parses into a non-empty token or
// fails; it never panics.
func FuzzParseOAuthBearer(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer t\x01k=v\x01\x01"))
	f.Add([]byte("n,a=x,\x01\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		tok, _, err := ParseOAuthBearer(msg)
		if err == nil && tok == "" {
			t.Fatal("accepted without a token")
		}
	})
}

package text

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"empty", "", 0, ""},
		{"shorter", "abc", 5, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 3, "abc…"},
		{"cut to nothing", "abc", 0, "…"},
		{"negative n", "abc", -1, "…"},
		{"2-byte rune, cut after it", "éé", 2, "é…"},
		{"2-byte rune, cut inside", "ééé", 3, "é…"},
		{"2-byte rune, cut inside the first", "é", 1, "…"},
		{"3-byte rune, cut after 1", "€€", 4, "€…"},
		{"3-byte rune, cut after 2", "€€", 5, "€…"},
		{"3-byte rune, cut at boundary", "€€x", 6, "€€…"},
		{"4-byte rune, cut after 1", "a😀b", 2, "a…"},
		{"4-byte rune, cut after 3", "a😀b", 4, "a…"},
		{"4-byte rune, cut at boundary", "a😀b", 5, "a😀…"},
		{"mixed", "aé€😀", 6, "aé€…"},
		{"invalid bytes kept", "\xff\xfe\xfd", 2, "\xff\xfe…"},
		{"continuation run cut as asked", "a\x80\x80\x80\x80\x80", 5, "a\x80\x80\x80\x80…"},
		{"stray continuation after a rune start", "é\x80x", 2, "é…"},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.n)
		if got != tt.want {
			t.Errorf("%s: Truncate(%q, %d) = %q, want %q", tt.name, tt.s, tt.n, got, tt.want)
		}
		if len(got) > max(tt.n, 0)+len(Ellipsis) {
			t.Errorf("%s: %d bytes, more than n+%d", tt.name, len(got), len(Ellipsis))
		}
	}
}

// FuzzTruncate: the result is a prefix of s (plus the mark), within n+3
// bytes, and valid when s is.
func FuzzTruncate(f *testing.F) {
	f.Add("aé€😀", 3)
	f.Add("\xff\x80\x80", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Truncate(s, n)
		if len(s) <= n {
			if got != s {
				t.Fatalf("Truncate(%q, %d) = %q, want s", s, n, got)
			}
			return
		}
		cut, ok := strings.CutSuffix(got, Ellipsis)
		if !ok || !strings.HasPrefix(s, cut) || len(cut) > max(n, 0) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q splits a rune", s, n, got)
		}
		if utf8.ValidString(s) && len(cut) < max(n, 0)-utf8.UTFMax+1 {
			t.Fatalf("Truncate(%q, %d) = %q cut too much", s, n, got)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ s, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\s`, `"q\"b\\s"`},
		{"ctl\x00\x1f\n\r\t\b\f", `"ctl\u0000\u001f\n\r\t\u0008\u000c"`},
		{"del\x7f", "\"del\x7f\""},
		{"<&>", `"<&>"`},
		{"ünïcødé ✓ 😀", `"ünïcødé ✓ 😀"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"\xe2\x82", `"\ufffd\ufffd"`}, // a truncated rune: one U+FFFD per byte
		{"\ufffd", "\"\ufffd\""},       // a real U+FFFD is copied
		{"end\xc3", `"end\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(AppendJSONString([]byte("x"), tt.s)); got != "x"+tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tt.s, got[1:], tt.want)
		}
		if got := string(AppendJSONString(nil, []byte(tt.s))); got != tt.want {
			t.Errorf("AppendJSONString([]byte(%q)) = %s, want %s", tt.s, got, tt.want)
		}
	}
}

// FuzzAppendJSONString: the output is one valid JSON string that decodes
// to s with each invalid byte replaced by U+FFFD, and the string and byte
// forms agree.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", `a"\`, "\x00\xff", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendJSONString(nil, s)
		if string(AppendJSONString(nil, []byte(s))) != string(got) {
			t.Fatal("string and []byte forms differ")
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %s is not valid JSON: %v", s, got, err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for each invalid byte
			i += size
		}
		if back != want.String() {
			t.Fatalf("%q round-tripped to %q, want %q", s, back, want.String())
		}
	})
}

func BenchmarkAppendJSONString(b *testing.B) {
	idx := []byte("siembridge-2026.11.29")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSONString(buf[:0], idx)
	}
}

package syslogfake

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      bool // the last read fails with something other than io.EOF
	}{
		{"empty", "", nil, false},
		{"one", "3 abc", []string{"abc"}, false},
		{"two back to back", "3 abc1 x", []string{"abc", "x"}, false},
		{"counts bytes", "2 ü", []string{"ü"}, false},
		{"newline inside", "3 a\nb", []string{"a\nb"}, false},
		{"leading zero", "03 abc", nil, true},
		{"zero length", "0 ", nil, true},
		{"no space", "3abc", nil, true},
		{"space belongs to the message", "3  abc", []string{" ab"}, true},
		{"short", "5 abc", nil, true},
		{"eof in length", "12", nil, true},
		{"too long", "2000000 x", nil, true},
		{"too many digits", "1234567890 x", nil, true},
		{"non-transparent framing", "<14>1 - - - - - -\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			var got []string
			var err error
			for {
				var f []byte
				if f, err = ReadFrame(r, 1<<20); err != nil {
					break
				}
				got = append(got, string(f))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
			if isErr := !errors.Is(err, io.EOF); isErr != tc.err {
				t.Errorf("final error %v, want error=%v", err, tc.err)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	good := `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event`
	m, err := ParseMessage([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Facility != 20 || m.Severity != 5 || m.Hostname != "mymachine.example.com" || m.AppName != "evntslog" ||
		m.ProcID != "-" || m.MsgID != "ID47" || m.Msg != "An application event" || len(m.StructuredData) != 2 {
		t.Errorf("parsed %+v", m)
	}
	if !m.Timestamp.Equal(time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC)) {
		t.Errorf("timestamp %v", m.Timestamp)
	}
	if v, _ := m.Param("examplePriority@32473", "class"); v != "high" {
		t.Errorf("class %q", v)
	}

	for _, tc := range []struct {
		in  string
		msg string
		sd  string // value of [a@1 p]
		bad bool
	}{
		{in: `<0>1 - - - - - -`},
		{in: `<191>1 - h a p m - hello world`, msg: "hello world"},
		{in: `<14>1 - h a p m -` + " \uFEFFbom", msg: "bom"},
		{in: `<14>1 2024-01-01T00:00:00+02:00 h a p m -`},
		{in: `<14>1 2024-01-01T00:00:00.123456Z h a p m -`},
		{in: `<14>1 - h a p m [a@1 p="x\"y\\z\]w"] m`, sd: `x"y\z]w`, msg: "m"},
		{in: `<14>1 - h a p m [a@1 p=""]`, sd: ""},
		{in: `<192>1 - - - - - -`, bad: true},
		{in: `<014>1 - - - - - -`, bad: true},
		{in: `<14>2 - - - - - -`, bad: true},
		{in: `<14> 1 - - - - - -`, bad: true},
		{in: `14>1 - - - - - -`, bad: true},
		{in: `<14>1 - - - - -`, bad: true},
		{in: `<14>1 2024-01-01 00:00:00Z h a p m -`, bad: true},
		{in: `<14>1 2024-01-01t00:00:00Z h a p m -`, bad: true},
		{in: `<14>1 2024-01-01T00:00:00.1234567Z h a p m -`, bad: true},
		{in: `<14>1 2024-01-01T00:00:00z h a p m -`, bad: true},
		{in: "<14>1 - h\x01 a p m -", bad: true},
		{in: `<14>1 - h ` + strings.Repeat("a", 49) + ` p m -`, bad: true},
		{in: `<14>1 - h a p ` + strings.Repeat("m", 33) + ` -`, bad: true},
		{in: `<14>1 - h a p m [a@1 p="x]"]`, bad: true},
		{in: `<14>1 - h a p m [a@1 p="x\y"]`, bad: true},
		{in: `<14>1 - h a p m [a@1 p="x"`, bad: true},
		{in: `<14>1 - h a p m [a@1 p=x]`, bad: true},
		{in: `<14>1 - h a p m [a@1 p="x"]m`, bad: true},
		{in: `<14>1 - h a p m x`, bad: true},
		{in: "<14>1 - h a p m - \uFEFF\xff", bad: true},
	} {
		m, err := ParseMessage([]byte(tc.in))
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v, want error=%v", tc.in, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if m.Msg != tc.msg {
			t.Errorf("%q: msg %q, want %q", tc.in, m.Msg, tc.msg)
		}
		if v, _ := m.Param("a@1", "p"); v != tc.sd {
			t.Errorf("%q: sd %q, want %q", tc.in, v, tc.sd)
		}
	}
}

// FuzzParseMessage: a parse error is a valid outcome; a panic is not.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`<14>1 2024-01-01T00:00:00.123Z h a p m [a@1 p="x\"y"] msg`))
	f.Add([]byte(`<0>1 - - - - - -`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err == nil && (m.Version != 1 || m.Facility > 23 || m.Severity > 7) {
			t.Errorf("accepted %q as %+v", b, m)
		}
	})
}

// FuzzReadFrame: never panics, never returns more than the limit.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("3 abc"))
	f.Add([]byte("99999999 x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(strings.NewReader(string(b)))
		for {
			fr, err := ReadFrame(r, 1024)
			if err != nil {
				return
			}
			if len(fr) > 1024 {
				t.Fatalf("frame of %d bytes", len(fr))
			}
		}
	})
}

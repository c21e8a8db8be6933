package syslogfake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ReadLine reads one newline-framed message (RFC 6587 section 3.4.2,
// non-transparent framing with LF as the trailer) of at most max bytes,
// without the LF. It returns io.EOF when r ends at a message boundary
// and an error for an empty line or input that ends inside a message.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max+1 {
			return nil, fmt.Errorf("frame: line longer than the limit %d", max)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) == 0 {
			return nil, err // io.EOF at a boundary
		}
		return nil, fmt.Errorf("frame: line not ended by LF: %w", unexpected(err))
	}
	line = line[:len(line)-1]
	if len(line) == 0 {
		return nil, errors.New("frame: empty line")
	}
	return line, nil
}

// ParseRFC3164 parses a BSD syslog message (RFC 3164) strictly, in the
// form RFC 3164 section 4.1 recommends and siembridge writes:
//
//	<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG
//
// with the day space-padded, HOSTNAME printable ASCII and TAG 1 to 32
// characters of letters, digits and -_./. The timestamp has no year: it
// is read in the current year, UTC. Version is 0, AppName holds the TAG
// and Msg what follows ": ". It never panics, whatever b holds.
func ParseRFC3164(b []byte) (Message, error) {
	var m Message
	s := string(b)
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("PRI: want '<'")
	}
	j := strings.IndexByte(s, '>')
	if j < 2 || j > 4 {
		return m, errors.New("PRI: want 1 to 3 digits between '<' and '>'")
	}
	pri, err := strconv.Atoi(s[1:j])
	if err != nil || pri < 0 || pri > 191 || strings.ContainsAny(s[1:j], "+-") || (j > 2 && s[1] == '0') {
		return m, fmt.Errorf("PRI %q: want 0 to 191", s[1:j])
	}
	m.Facility, m.Severity = pri/8, pri%8
	s = s[j+1:]
	const layout = "Jan _2 15:04:05"
	if len(s) < len(layout)+1 || s[len(layout)] != ' ' {
		return m, fmt.Errorf("TIMESTAMP: want %q and a space", layout)
	}
	m.TimestampText = s[:len(layout)]
	t, err := time.Parse(layout, m.TimestampText)
	if err != nil {
		return m, fmt.Errorf("TIMESTAMP %q: %w", m.TimestampText, err)
	}
	m.Timestamp = t.AddDate(time.Now().UTC().Year(), 0, 0)
	s = s[len(layout)+1:]
	host, rest, ok := strings.Cut(s, " ")
	if !ok || host == "" || strings.IndexFunc(host, func(r rune) bool { return r < 33 || r > 126 }) >= 0 {
		return m, fmt.Errorf("HOSTNAME %q: want printable ASCII and a space", host)
	}
	m.Hostname = host
	tag, msg, ok := strings.Cut(rest, ": ")
	if !ok || tag == "" || len(tag) > 32 || strings.IndexFunc(tag, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r))
	}) >= 0 {
		return m, fmt.Errorf("TAG %q: want 1 to 32 letters, digits or -_./ followed by \": \"", tag)
	}
	m.AppName, m.ProcID, m.MsgID = tag, "-", "-"
	if bytes.ContainsAny([]byte(msg), "\n") {
		return m, errors.New("MSG holds a line feed")
	}
	m.Msg = msg
	return m, nil
}

package syslogfake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one parsed RFC 5424 message. NILVALUE fields hold "-";
// a NILVALUE timestamp is the zero time and NILVALUE structured data nil.
type Message struct {
	Facility int
	Severity int
	Version  int
	// Timestamp as sent, with its offset; TimestampText is the raw text.
	Timestamp      time.Time
	TimestampText  string
	Hostname       string
	AppName        string
	ProcID         string
	MsgID          string
	StructuredData []SDElement
	// Msg is the MSG part, without a leading BOM (BOM reports one).
	Msg string
	BOM bool
	// Conn numbers the connection the message arrived on, from 1, in
	// accept order.
	Conn int
}

// SDElement is one structured-data element.
type SDElement struct {
	ID     string
	Params []SDParam
}

// SDParam is one SD-PARAM with its value unescaped.
type SDParam struct {
	Name  string
	Value string
}

// Param returns the value of the first parameter name in the first
// element id.
func (m *Message) Param(id, name string) (string, bool) {
	for _, el := range m.StructuredData {
		if el.ID != id {
			continue
		}
		for _, p := range el.Params {
			if p.Name == name {
				return p.Value, true
			}
		}
		return "", false
	}
	return "", false
}

// maxLengthDigits bounds MSG-LEN: no receiver takes a gigabyte message.
const maxLengthDigits = 9

// ReadFrame reads one octet-counted frame (RFC 6587 section 3.4.1):
// MSG-LEN SP SYSLOG-MSG, with MSG-LEN = NONZERO-DIGIT *DIGIT. It returns
// io.EOF when r ends before the frame starts and an error for anything
// else that is not a frame of at most max bytes, including an end of input
// inside the frame.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	c, err := r.ReadByte()
	if err != nil {
		return nil, err // io.EOF at a frame boundary
	}
	if c < '1' || c > '9' {
		return nil, fmt.Errorf("frame: length starts with %q, want a digit 1-9", c)
	}
	n := int(c - '0')
	for digits := 1; ; digits++ {
		c, err = r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("frame: in length: %w", unexpected(err))
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("frame: length holds %q, want digits then a space", c)
		}
		if digits >= maxLengthDigits {
			return nil, fmt.Errorf("frame: length has more than %d digits", maxLengthDigits)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return nil, fmt.Errorf("frame: length %d exceeds the limit %d", n, max)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("frame: in message of %d bytes: %w", n, unexpected(err))
	}
	return msg, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseMessage parses an RFC 5424 SYSLOG-MSG strictly:
//
//	<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
//
// It accepts VERSION 1 only, checks every header field's characters and
// length, the timestamp's form (RFC 3339 with an upper-case T and Z and at
// most six fraction digits) and the structured data's syntax and escapes.
// It never panics, whatever b holds.
func ParseMessage(b []byte) (Message, error) {
	p := parser{s: string(b)}
	var m Message
	if err := p.pri(&m); err != nil {
		return m, err
	}
	var err error
	if m.TimestampText, err = p.field("TIMESTAMP", 64); err != nil {
		return m, err
	}
	if m.TimestampText != "-" {
		if m.Timestamp, err = parseTimestamp(m.TimestampText); err != nil {
			return m, err
		}
	}
	for _, f := range []struct {
		name string
		max  int
		dst  *string
	}{{"HOSTNAME", 255, &m.Hostname}, {"APP-NAME", 48, &m.AppName}, {"PROCID", 128, &m.ProcID}, {"MSGID", 32, &m.MsgID}} {
		if *f.dst, err = p.field(f.name, f.max); err != nil {
			return m, err
		}
	}
	if m.StructuredData, err = p.structuredData(); err != nil {
		return m, err
	}
	if p.i == len(p.s) {
		return m, nil
	}
	if p.s[p.i] != ' ' {
		return m, fmt.Errorf("at %d: want a space before MSG, got %q", p.i, p.s[p.i])
	}
	msg := p.s[p.i+1:]
	if strings.HasPrefix(msg, "\uFEFF") {
		m.BOM = true
		msg = msg[3:]
		if !utf8.ValidString(msg) {
			return m, errors.New("MSG after a BOM is not valid UTF-8")
		}
	}
	m.Msg = msg
	return m, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) pri(m *Message) error {
	if p.i >= len(p.s) || p.s[p.i] != '<' {
		return errors.New("PRI: want '<'")
	}
	j := strings.IndexByte(p.s, '>')
	if j < 2 || j > 4 {
		return errors.New("PRI: want 1 to 3 digits between '<' and '>'")
	}
	digits := p.s[1:j]
	if len(digits) > 1 && digits[0] == '0' {
		return fmt.Errorf("PRI %q: leading zero", digits)
	}
	pri, err := strconv.Atoi(digits)
	if err != nil || pri < 0 || pri > 191 || strings.ContainsAny(digits, "+-") {
		return fmt.Errorf("PRI %q: want 0 to 191", digits)
	}
	m.Facility, m.Severity = pri/8, pri%8
	p.i = j + 1
	if !strings.HasPrefix(p.s[p.i:], "1 ") {
		return errors.New("VERSION: want 1 followed by a space")
	}
	m.Version = 1
	p.i += 2
	return nil
}

// field reads a header field of 1 to max PRINTUSASCII characters and the
// space after it.
func (p *parser) field(name string, max int) (string, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' {
		if c := p.s[p.i]; c < 33 || c > 126 {
			return "", fmt.Errorf("%s: byte %#x at %d is not PRINTUSASCII", name, c, p.i)
		}
		p.i++
	}
	v := p.s[start:p.i]
	switch {
	case v == "":
		return "", fmt.Errorf("%s: empty", name)
	case len(v) > max:
		return "", fmt.Errorf("%s: %d characters, at most %d allowed", name, len(v), max)
	case p.i >= len(p.s):
		return "", fmt.Errorf("%s: message ends after it", name)
	}
	p.i++ // the space
	return v, nil
}

// parseTimestamp checks the RFC 5424 TIMESTAMP form and parses it.
func parseTimestamp(s string) (time.Time, error) {
	if len(s) < 20 || s[10] != 'T' {
		return time.Time{}, fmt.Errorf("TIMESTAMP %q: want YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)", s)
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		end := dot + 1
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		if n := end - dot - 1; n < 1 || n > 6 {
			return time.Time{}, fmt.Errorf("TIMESTAMP %q: 1 to 6 fraction digits allowed", s)
		}
	}
	if z := s[len(s)-1]; z == 'z' {
		return time.Time{}, fmt.Errorf("TIMESTAMP %q: lower-case z", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("TIMESTAMP %q: %w", s, err)
	}
	return t, nil
}

func (p *parser) structuredData() ([]SDElement, error) {
	if p.i >= len(p.s) {
		return nil, errors.New("STRUCTURED-DATA: missing")
	}
	if p.s[p.i] == '-' {
		p.i++
		return nil, nil
	}
	var out []SDElement
	for p.i < len(p.s) && p.s[p.i] == '[' {
		p.i++
		var el SDElement
		var err error
		if el.ID, err = p.sdName("SD-ID"); err != nil {
			return nil, err
		}
		for p.i < len(p.s) && p.s[p.i] == ' ' {
			p.i++
			var prm SDParam
			if prm.Name, err = p.sdName("PARAM-NAME"); err != nil {
				return nil, err
			}
			if !strings.HasPrefix(p.s[p.i:], `="`) {
				return nil, fmt.Errorf("SD-PARAM %s: want =\"", prm.Name)
			}
			p.i += 2
			if prm.Value, err = p.paramValue(); err != nil {
				return nil, fmt.Errorf("SD-PARAM %s: %w", prm.Name, err)
			}
			el.Params = append(el.Params, prm)
		}
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			return nil, fmt.Errorf("SD-ELEMENT %s: want ']' at %d", el.ID, p.i)
		}
		p.i++
		out = append(out, el)
	}
	if out == nil {
		return nil, fmt.Errorf("STRUCTURED-DATA: want '-' or '[' at %d", p.i)
	}
	return out, nil
}

// sdName reads an SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and '"'.
func (p *parser) sdName(what string) (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		if c < 33 || c > 126 {
			return "", fmt.Errorf("%s: byte %#x at %d not allowed", what, c, p.i)
		}
		p.i++
	}
	n := p.s[start:p.i]
	if n == "" || len(n) > 32 {
		return "", fmt.Errorf("%s %q: want 1 to 32 characters", what, n)
	}
	return n, nil
}

// paramValue reads a PARAM-VALUE up to and including its closing quote.
// '"', '\' and ']' must be escaped (RFC 5424 section 6.3.3); unlike a
// lenient receiver, this parser rejects a lone backslash.
func (p *parser) paramValue() (string, error) {
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			v := b.String()
			if !utf8.ValidString(v) {
				return "", errors.New("value is not valid UTF-8")
			}
			return v, nil
		case ']':
			return "", fmt.Errorf("unescaped ']' at %d", p.i)
		case '\\':
			// RFC 5424 tells receivers to keep a backslash before any
			// other character; a sender must still escape every
			// backslash, and this fake checks senders.
			if p.i+1 < len(p.s) {
				if n := p.s[p.i+1]; n == '"' || n == '\\' || n == ']' {
					b.WriteByte(n)
					p.i += 2
					continue
				}
			}
			return "", fmt.Errorf("unescaped backslash at %d", p.i)
		}
		b.WriteByte(c)
		p.i++
	}
	return "", errors.New("value not closed")
}

package syslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// RELP framing (librelp's doc/relp.md):
//
//	FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//	TXNR    = 1*9DIGIT     (0 for the server's hints, e.g. serverclose)
//	COMMAND = 1*32ALPHA
//	DATALEN = 1*9DIGIT     (the octets of DATA; no SP DATA when 0)
//
// A response is the command "rsp" with DATA = CODE [SP TEXT] [LF CMDDATA],
// CODE 200 for success and anything else an error.
const (
	relpMaxDigits = 9
	relpMaxCmd    = 32
	relpMaxTxnr   = 999_999_999 // then the next is 1
	// relpMaxResponse bounds the DATA of a frame the server sends: a
	// response carries a status line and, for open, a few offers.
	relpMaxResponse = 128 << 10
)

// relpFrame is one frame read from the server.
type relpFrame struct {
	txnr int
	cmd  string
	data []byte
}

// readRELPFrame reads one frame of at most max data octets. It returns
// io.EOF when r ends at a frame boundary and an error for anything that
// is not a well-formed frame (after which the connection must be closed:
// RELP has no resynchronisation). It never panics, whatever r holds.
func readRELPFrame(r *bufio.Reader, max int) (relpFrame, error) {
	var f relpFrame
	txnr, err := readRELPNumber(r, "TXNR", true)
	if err != nil {
		return f, err
	}
	f.txnr = txnr
	var cmd strings.Builder
	for {
		c, err := r.ReadByte()
		if err != nil {
			return f, fmt.Errorf("relp: in COMMAND: %w", unexpectedEOF(err))
		}
		if c == ' ' {
			break
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') || cmd.Len() == relpMaxCmd {
			return f, fmt.Errorf("relp: COMMAND: byte %q not allowed (1 to %d letters)", c, relpMaxCmd)
		}
		cmd.WriteByte(c)
	}
	if cmd.Len() == 0 {
		return f, errors.New("relp: empty COMMAND")
	}
	f.cmd = cmd.String()
	n, err := readRELPNumber(r, "DATALEN", false)
	if err != nil {
		return f, err
	}
	if n > max {
		return f, fmt.Errorf("relp: DATALEN %d exceeds %d", n, max)
	}
	if n > 0 {
		f.data = make([]byte, n)
		if _, err := io.ReadFull(r, f.data); err != nil {
			return f, fmt.Errorf("relp: in DATA of %d octets: %w", n, unexpectedEOF(err))
		}
		c, err := r.ReadByte()
		if err != nil {
			return f, fmt.Errorf("relp: before TRAILER: %w", unexpectedEOF(err))
		}
		if c != '\n' {
			return f, fmt.Errorf("relp: TRAILER is %q, want LF", c)
		}
	}
	return f, nil
}

// readRELPNumber reads 1 to 9 digits and the byte after them: SP, or for
// a DATALEN of 0 the LF that ends the frame (after a non-zero DATALEN the
// SP before DATA). first reports io.EOF before the first digit as is.
func readRELPNumber(r *bufio.Reader, what string, first bool) (int, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if first && digits == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("relp: in %s: %w", what, unexpectedEOF(err))
		}
		switch {
		case c >= '0' && c <= '9':
			if digits == relpMaxDigits {
				return 0, fmt.Errorf("relp: %s has more than %d digits", what, relpMaxDigits)
			}
			n = n*10 + int(c-'0')
			digits++
			continue
		case digits == 0:
			return 0, fmt.Errorf("relp: %s starts with %q, want a digit", what, c)
		case c == ' ' && (what == "TXNR" || n > 0):
			return n, nil
		case c == '\n' && what == "DATALEN" && n == 0:
			return 0, nil
		}
		return 0, fmt.Errorf("relp: %s %d followed by %q", what, n, c)
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseRELPResponse splits the DATA of an rsp frame into its status code,
// the human-readable text and the command data after the first LF.
func parseRELPResponse(data []byte) (code int, text string, rest []byte, err error) {
	line := data
	if i := strings.IndexByte(string(data), '\n'); i >= 0 {
		line, rest = data[:i], data[i+1:]
	}
	if len(line) < 3 {
		return 0, "", nil, fmt.Errorf("relp: response %q: want a 3-digit status", line)
	}
	code, err = strconv.Atoi(string(line[:3]))
	if err != nil || line[0] < '0' || line[0] > '9' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, "", nil, fmt.Errorf("relp: response %q: want a 3-digit status", line)
	}
	if len(line) > 3 {
		if line[3] != ' ' {
			return 0, "", nil, fmt.Errorf("relp: response %q: want a space after the status", line)
		}
		text = string(line[4:])
	}
	return code, text, rest, nil
}

// relpOffers parses the offers of an open response: one per line,
// NAME[=VALUE[,VALUE...]].
func relpOffers(b []byte) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		name, values, _ := strings.Cut(line, "=")
		if values == "" {
			out[name] = nil
			continue
		}
		out[name] = strings.Split(values, ",")
	}
	return out
}

// appendRELPFrame appends one frame.
func appendRELPFrame(b []byte, txnr int, cmd string, data []byte) []byte {
	b = appendRELPHeader(b, txnr, cmd, len(data))
	b = append(b, data...)
	return append(b, '\n')
}

// appendRELPHeader appends a frame's header: TXNR SP COMMAND SP DATALEN,
// and the SP before DATA when n > 0. DATA and the LF trailer follow.
func appendRELPHeader(b []byte, txnr int, cmd string, n int) []byte {
	b = strconv.AppendInt(b, int64(txnr), 10)
	b = append(b, ' ')
	b = append(b, cmd...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(n), 10)
	if n > 0 {
		b = append(b, ' ')
	}
	return b
}

// nextTxnr returns the transaction number after t.
func nextTxnr(t int) int {
	if t >= relpMaxTxnr {
		return 1
	}
	return t + 1
}

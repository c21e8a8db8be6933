package syslogfake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// RELP, as librelp's imrelp speaks it (doc/relp.md in librelp): frames
//
//	TXNR SP COMMAND SP DATALEN [SP DATA] LF
//
// the client's transaction numbers start at 1 and each is the one before
// plus one; the server answers every command with "TXNR rsp LEN CODE
// [TEXT][LF DATA]" in order, and may send the hint "0 serverclose 0"
// before it closes.

// RELPFrame is one RELP frame.
type RELPFrame struct {
	Txnr    int
	Command string
	Data    []byte
}

// relpMaxData is librelp's default maximum DATALEN (128KiB); like imrelp
// in its default mode the fake aborts a session that exceeds it.
const relpMaxData = 128 << 10

// ReadRELPFrame reads one frame with at most max octets of data, strictly:
// 1 to 9 digits of TXNR, 1 to 32 letters of COMMAND, a DATALEN that
// matches the data, and the LF trailer. It returns io.EOF when r ends at
// a frame boundary. It never panics, whatever r holds.
func ReadRELPFrame(r *bufio.Reader, max int) (RELPFrame, error) {
	var f RELPFrame
	head, err := r.ReadSlice(' ')
	if err != nil {
		if errors.Is(err, io.EOF) && len(head) == 0 {
			return f, io.EOF
		}
		return f, fmt.Errorf("relp: TXNR: %w", unexpected(err))
	}
	if f.Txnr, err = relpNumber(head[:len(head)-1]); err != nil {
		return f, fmt.Errorf("relp: TXNR: %w", err)
	}
	cmd, err := r.ReadSlice(' ')
	if err != nil {
		return f, fmt.Errorf("relp: COMMAND: %w", unexpected(err))
	}
	cmd = cmd[:len(cmd)-1]
	if len(cmd) == 0 || len(cmd) > 32 {
		return f, fmt.Errorf("relp: COMMAND %.40q: want 1 to 32 letters", cmd)
	}
	for _, c := range cmd {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return f, fmt.Errorf("relp: COMMAND %.40q: want letters only", cmd)
		}
	}
	f.Command = string(cmd)
	// DATALEN ends with SP (data follows) or, for 0, the LF trailer.
	var digits []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return f, fmt.Errorf("relp: DATALEN: %w", unexpected(err))
		}
		if c == ' ' || c == '\n' {
			n, err := relpNumber(digits)
			switch {
			case err != nil:
				return f, fmt.Errorf("relp: DATALEN: %w", err)
			case (n == 0) != (c == '\n'):
				return f, fmt.Errorf("relp: DATALEN %d followed by %q", n, c)
			case n > max:
				return f, fmt.Errorf("relp: DATALEN %d exceeds the limit %d", n, max)
			case n == 0:
				return f, nil
			}
			f.Data = make([]byte, n+1)
			if _, err := io.ReadFull(r, f.Data); err != nil {
				return f, fmt.Errorf("relp: DATA: %w", unexpected(err))
			}
			if f.Data[n] != '\n' {
				return f, fmt.Errorf("relp: trailer %q, want LF", f.Data[n])
			}
			f.Data = f.Data[:n]
			return f, nil
		}
		digits = append(digits, c)
		if len(digits) > 9 {
			return f, errors.New("relp: DATALEN: more than 9 digits")
		}
	}
}

func relpNumber(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, fmt.Errorf("%.12q: want 1 to 9 digits", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%.12q: want digits", b)
		}
	}
	return strconv.Atoi(string(b))
}

// AppendRELPFrame appends f in wire form.
func AppendRELPFrame(b []byte, f RELPFrame) []byte {
	b = strconv.AppendInt(b, int64(f.Txnr), 10)
	b = append(b, ' ')
	b = append(b, f.Command...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(f.Data)), 10)
	if len(f.Data) > 0 {
		b = append(b, ' ')
		b = append(b, f.Data...)
	}
	return append(b, '\n')
}

// SetRELPStatus sets the status the server answers syslog commands with:
// 200 (the default) stores the message; anything else, such as 500,
// refuses it without storing it.
func (s *Server) SetRELPStatus(code int) {
	s.mu.Lock()
	s.relpStatus = code
	s.mu.Unlock()
}

// ServerClose sends the serverclose hint on every open RELP session and
// then drops it (see DropAll), as imrelp does when it shuts down.
func (s *Server) ServerClose() {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		_ = sc.write(RELPFrame{Txnr: 0, Command: "serverclose"})
		s.drop(sc)
	}
}

func (sc *serverConn) write(f RELPFrame) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := sc.c.Write(AppendRELPFrame(nil, f))
	return err
}

// serveRELP runs one RELP session: open first, then syslog commands,
// each stored and answered (or refused, see SetRELPStatus), until close,
// a protocol error (recorded, and the session aborted as librelp does) or
// the connection ends. Pause holds the session before its next frame;
// SetDropAfter drops it after the nth message is stored, before that
// message is answered.
func (s *Server) serveRELP(sc *serverConn) {
	defer s.wg.Done()
	defer func() {
		_ = sc.c.Close()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}()
	br := bufio.NewReaderSize(sc.c, 64<<10)
	want, opened, n := 1, false, 0
	for {
		s.mu.Lock()
		unpause := s.unpause
		s.mu.Unlock()
		if unpause != nil {
			<-unpause
		}
		// The connection ending between frames (a close, a reset, a TLS
		// handshake the client gave up) is no protocol error.
		if _, err := br.Peek(1); err != nil {
			return
		}
		f, err := ReadRELPFrame(br, relpMaxData)
		if err != nil {
			if !sc.isDropping() && !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("relp connection %d: %w", sc.id, err))
			}
			return
		}
		if f.Txnr != want {
			s.fail(fmt.Errorf("relp connection %d: txnr %d, want %d", sc.id, f.Txnr, want))
			return
		}
		want++
		if !opened && f.Command != "open" {
			s.fail(fmt.Errorf("relp connection %d: %s before open", sc.id, f.Command))
			return
		}
		var rsp string
		switch f.Command {
		case "open":
			if opened {
				s.fail(fmt.Errorf("relp connection %d: second open", sc.id))
				return
			}
			opened = true
			rsp = "200 OK\nrelp_version=0\nrelp_software=syslogfake\ncommands=syslog"
		case "close":
			_ = sc.write(RELPFrame{Txnr: f.Txnr, Command: "rsp"})
			return
		case "syslog":
			s.mu.Lock()
			code, dropAfter := s.relpStatus, s.dropAfter
			s.mu.Unlock()
			if code != 200 {
				rsp = strconv.Itoa(code) + " refused by syslogfake"
				break
			}
			if !s.store(sc.id, f.Data) {
				rsp = "500 cannot parse the message"
				break
			}
			n++
			if dropAfter > 0 && n == dropAfter {
				s.drop(sc)
				continue
			}
			rsp = "200 OK"
		default:
			s.fail(fmt.Errorf("relp connection %d: unknown command %q", sc.id, f.Command))
			return
		}
		if err := sc.write(RELPFrame{Txnr: f.Txnr, Command: "rsp", Data: []byte(rsp)}); err != nil {
			return
		}
	}
}

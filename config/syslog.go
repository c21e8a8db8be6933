package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CEFReservedKeys are the CEF extension keys the syslog sink writes itself
// (event time, DNS name and the Kafka position); cef.mapping may not name
// them.
var CEFReservedKeys = []string{"rt", "cs1", "cs1Label", "cs2", "cs2Label", "cs3", "cs3Label", "cn1", "cn1Label"}

// LEEFReservedKeys are the LEEF attribute keys the syslog sink writes
// itself; leef.mapping may not name them.
var LEEFReservedKeys = []string{"devTime", "devTimeFormat", "sev", "kafkaTopic", "kafkaPartition", "kafkaOffset"}

// leefForbidden are the characters a LEEF delimiter may not be: those of
// keys (letters, digits), of the key=value syntax and the header, and of
// the values siembridge writes itself (times, addresses, devTimeFormat).
const leefForbidden = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789=|\\-.:'+_/"

// LEEFDelimiter returns the attribute delimiter that leef.delimiter
// names: one printable ASCII character, "\t" or "tab" for a tab, or a hex
// code 0xHH or xHH (the forms a LEEF 2.0 header takes). Characters that
// would make the line ambiguous (see leefForbidden) are refused.
func LEEFDelimiter(s string) (byte, error) {
	var c byte
	switch {
	case s == "\t" || strings.EqualFold(s, "tab"):
		c = '\t'
	case len(s) == 1:
		c = s[0]
	case len(s) == 4 && strings.HasPrefix(strings.ToLower(s), "0x"), len(s) == 3 && (s[0] == 'x' || s[0] == 'X'):
		n, err := strconv.ParseUint(s[len(s)-2:], 16, 8)
		if err != nil {
			return 0, fmt.Errorf("%q: want one character, tab, or a hex code such as 0x5E", s)
		}
		c = byte(n)
	default:
		return 0, fmt.Errorf("%q: want one character, tab, or a hex code such as 0x5E", s)
	}
	if c != '\t' && (c <= ' ' || c >= 0x7f || strings.IndexByte(leefForbidden, c) >= 0) {
		return 0, fmt.Errorf("%q: the delimiter may not be a letter, digit, space, control character, non-ASCII or one of %s", s, leefForbidden)
	}
	return c, nil
}

// validateMapping checks a cef.mapping or leef.mapping: keys are letters
// and digits (CEF extension keys, LEEF attribute keys as IBM advises),
// not reserved; values are dotted field paths or empty (remove a default
// key).
func validateMapping(path string, m map[string]string, reserved []string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key is the same on every run
	for _, k := range keys {
		p := path + "." + k
		if k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			return fieldErr(p, "keys must be ASCII letters and digits")
		}
		for _, r := range reserved {
			if k == r {
				return fieldErr(p, "written by siembridge itself; choose another key")
			}
		}
		if v := m[k]; v != "" && (strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") || strings.ContainsAny(v, " \t\r\n")) {
			return fieldErr(p, fmt.Sprintf("%q is not a dotted field path such as source.ip", v))
		}
	}
	return nil
}

// validateFormat checks the keys added for RFC 3164, framing, UDP,
// RELP, CEF mapping and LEEF.
func (s *Syslog) validateFormat(path string) error {
	if err := oneOf(path+".rfc", s.RFC, "rfc5424", "rfc3164"); err != nil {
		return err
	}
	if err := oneOf(path+".framing", s.Framing, "octet_counting", "newline"); err != nil {
		return err
	}
	if s.Framing != DefaultSyslogFraming && (s.Network == "udp" || s.Network == "relp") {
		return fieldErr(path+".framing", "applies to network tcp and tls only (udp sends one message per datagram, relp one per command)")
	}
	if s.Network == "udp" && s.MaxMessageBytes > MaxSyslogUDPMessageBytes {
		return fieldErr(path+".max_message_bytes", fmt.Sprintf("%d exceeds %d, the largest UDP datagram", s.MaxMessageBytes, MaxSyslogUDPMessageBytes))
	}
	if s.RELPTLS && s.Network != "relp" {
		return fieldErr(path+".relp_tls", "applies to network relp only (network tls is TLS for tcp)")
	}
	if s.RELPWindow < 1 || s.RELPWindow > 100000 {
		return fieldErr(path+".relp_window", fmt.Sprintf("%d must be between 1 and 100000", s.RELPWindow))
	}
	if _, err := LEEFDelimiter(s.LEEF.Delimiter); err != nil {
		return fieldErr(path+".leef.delimiter", err.Error())
	}
	if err := validateMapping(path+".cef.mapping", s.CEF.Mapping, CEFReservedKeys); err != nil {
		return err
	}
	return validateMapping(path+".leef.mapping", s.LEEF.Mapping, LEEFReservedKeys)
}

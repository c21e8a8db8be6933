package config

// ByteSize is a number of bytes. In YAML it is an integer or a string with
// a unit: 512, "64KiB", "5MiB", "1GiB", "10MB" (decimal units are accepted).
type ByteSize int64

// Secret is a credential. It prints as "[redacted]" through fmt, slog and
// YAML/JSON marshalling; call Value for the real text.
type Secret string

// Value returns the secret's text.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

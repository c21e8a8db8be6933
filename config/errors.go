package config

import "strings"

// FieldError is the one error type Load, Parse and Validate return. Path is
// the full field path of the problem (routes[0].sink.urls), Msg says what is
// wrong. Error() is always a single line: "<path>: <msg>".
//
// Path is "yaml" for a syntax error (Msg then starts with the line number)
// and empty only for an error that is about no field, such as a config file
// that cannot be read (Msg then names the file).
type FieldError struct {
	Path string
	Msg  string
	// Err is the underlying error, if any (an *fs.PathError for a file that
	// cannot be read), for errors.Is and errors.As.
	Err error
}

func (e *FieldError) Error() string {
	msg := oneLine(e.Msg)
	if e.Path == "" {
		return msg
	}
	return oneLine(e.Path) + ": " + msg
}

// Unwrap returns the underlying error, or nil.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a *FieldError; msg is used as is so that callers choose
// their own quoting.
func fieldErr(path, msg string) *FieldError { return &FieldError{Path: path, Msg: msg} }

// joinPath appends child to parent: a key with a dot, an index ("[2]")
// without one.
func joinPath(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case strings.HasPrefix(child, "["):
		return parent + child
	default:
		return parent + "." + child
	}
}

// under puts err below path: a *FieldError's relative path is prefixed,
// any other error becomes a *FieldError at path.
func under(path string, err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Path: joinPath(path, fe.Path), Msg: fe.Msg, Err: fe.Err}
	}
	return &FieldError{Path: path, Msg: err.Error(), Err: err}
}

// oneLine folds line breaks so that an error never spans lines (yaml.v3
// type errors and some OS errors do).
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, "; ")
}

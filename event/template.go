package event

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxIndexNameLen is Elasticsearch's limit on an index name, in bytes.
const MaxIndexNameLen = 255

// IndexTemplate is a parsed index name pattern in the Logstash and Beats
// style, such as "security-%{[event][module]}-%{+yyyy.MM.dd}". It is safe
// for concurrent use.
//
// A template is literal text with two kinds of references:
//
//   - %{+PATTERN} formats the event time (Event.Time, in UTC) with a Joda
//     pattern made of yyyy, yy (year; YYYY and YY are accepted as the same,
//     as Logstash users often write them), MM, M (month), dd, d (day), HH, H
//     (hour), mm, m (minute), ss, s (second), ww, w (ISO week), xxxx, xx
//     (ISO week-based year) and the separators '.', '-' and '_'. Times
//     before year 0 or after 9999 are clamped to those years.
//   - %{[field][sub]} or %{field.sub} takes a field of the document (see
//     Field), lowercased, with characters Elasticsearch does not allow in
//     an index name replaced by '_'. A missing, null or empty field, or one
//     made only of dots, gives "unknown". At the start of the name, leading
//     '-', '_', '+' and '.' are removed from the value.
//
// The result is always a valid index name; one longer than MaxIndexNameLen
// bytes is cut to that length.
type IndexTemplate struct {
	raw       string
	parts     []tmplPart
	hasDate   bool
	hasField  bool
	unit      int64 // seconds per distinct rendering of the date parts
	cache     atomic.Pointer[dateCache]
	staticOut string // the whole output when there are no references
}

type partKind uint8

const (
	partText partKind = iota
	partDate
	partField
)

type tmplPart struct {
	kind  partKind
	text  string // partText
	date  []dateItem
	field string // partField: dotted path
}

type dateKind uint8

const (
	dateLit dateKind = iota
	dateYear4
	dateYear2
	dateMonth2
	dateMonth1
	dateDay2
	dateDay1
	dateHour2
	dateHour1
	dateMinute2
	dateMinute1
	dateSecond2
	dateSecond1
	dateWeek2
	dateWeek1
	dateWeekYear4
	dateWeekYear2
)

type dateItem struct {
	kind dateKind
	lit  byte
}

// dateCache holds the date parts rendered for one period of unit seconds:
// most events of a stream share it, so formatting costs a load and a
// compare.
type dateCache struct {
	key   int64
	dates []string // one per partDate, in order
	full  string   // the whole name, when the template has no fields
}

var errEmptyTemplate = errors.New("empty index name")

// ParseIndexTemplate parses an index name template. It fails on a reference
// that is not closed, an empty field name, an unknown or unsupported date
// pattern, or literal text that would make an invalid Elasticsearch index
// name (uppercase, one of \ / * ? " < > | , # : or a space or control
// character, a leading '-', '_' or '+', "." or "..", more than
// MaxIndexNameLen bytes). Errors are one line without a config path.
func ParseIndexTemplate(s string) (*IndexTemplate, error) {
	if s == "" {
		return nil, errEmptyTemplate
	}
	t := &IndexTemplate{raw: s, unit: 86400}
	err := scanRefs(s, func(text string) {
		t.parts = append(t.parts, tmplPart{kind: partText, text: text})
	}, func(ref string) error {
		if strings.HasPrefix(ref, "+") {
			items, unit, err := parseDatePattern(ref[1:])
			if err != nil {
				return err
			}
			t.parts = append(t.parts, tmplPart{kind: partDate, date: items})
			t.hasDate = true
			t.unit = min(t.unit, unit)
			return nil
		}
		path, err := parseFieldRef(ref)
		if err != nil {
			return err
		}
		t.parts = append(t.parts, tmplPart{kind: partField, field: path})
		t.hasField = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Render with the widest dates and a one-letter field value: any
	// problem left then comes from the literal text.
	var sample []byte
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			sample = append(sample, p.text...)
		case partDate:
			sample = appendDate(sample, p.date, time.Date(2024, 12, 28, 23, 59, 59, 0, time.UTC))
		case partField:
			sample = append(sample, 'x')
		}
	}
	if err := validIndexName(string(sample)); err != nil {
		return nil, err
	}
	if !t.hasDate && !t.hasField {
		t.staticOut = string(sample)
	}
	return t, nil
}

// UsesFields reports whether the template refers to fields of the
// document (%{[a][b]}), which are read from Doc.
func (t *IndexTemplate) UsesFields() bool { return t.hasField }

// String returns the template as it was parsed.
func (t *IndexTemplate) String() string { return t.raw }

// Format returns the index name for e. It allocates only when the template
// has field references or the date period changed.
func (t *IndexTemplate) Format(e *Event) string {
	if !t.hasField {
		if !t.hasDate {
			return t.staticOut
		}
		return t.dates(e.Time).full
	}
	var buf [MaxIndexNameLen + 1]byte
	return string(t.AppendFormat(buf[:0], e))
}

// AppendFormat appends the index name for e to dst and returns the extended
// buffer. It allocates only when dst must grow or the date period changed.
func (t *IndexTemplate) AppendFormat(dst []byte, e *Event) []byte {
	if !t.hasField {
		if !t.hasDate {
			return append(dst, t.staticOut...)
		}
		return append(dst, t.dates(e.Time).full...)
	}
	var c *dateCache
	if t.hasDate {
		c = t.dates(e.Time)
	}
	start, di := len(dst), 0
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			dst = append(dst, p.text...)
		case partDate:
			dst = append(dst, c.dates[di]...)
			di++
		case partField:
			dst = appendFieldValue(dst, e.Doc, p.field, len(dst) == start)
		}
	}
	if len(dst)-start > MaxIndexNameLen {
		n := start + MaxIndexNameLen
		for n > start && !utf8.RuneStart(dst[n]) {
			n--
		}
		dst = dst[:n]
	}
	return dst
}

var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// dates returns the date parts rendered for tm, from the cache when tm falls
// in the cached period. Concurrent misses may each render and store; any of
// their results is correct.
func (t *IndexTemplate) dates(tm time.Time) *dateCache {
	if tm.Before(minTime) {
		tm = minTime
	} else if tm.After(maxTime) {
		tm = maxTime
	}
	sec := tm.Unix()
	key := sec / t.unit
	if sec%t.unit < 0 {
		key-- // floor division for times before 1970
	}
	if c := t.cache.Load(); c != nil && c.key == key {
		return c
	}
	tm = tm.UTC()
	c := &dateCache{key: key}
	var full []byte
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			full = append(full, p.text...)
		case partDate:
			n := len(full)
			full = appendDate(full, p.date, tm)
			c.dates = append(c.dates, string(full[n:]))
		}
	}
	if !t.hasField {
		c.full = string(full)
	}
	t.cache.Store(c)
	return c
}

// parseDatePattern parses the PATTERN of %{+PATTERN} and returns the length
// in seconds of the period its rendering stays the same for.
func parseDatePattern(p string) ([]dateItem, int64, error) {
	if p == "" {
		return nil, 0, errors.New(`empty date pattern in "%{+}"`)
	}
	var items []dateItem
	unit := int64(86400)
	for i := 0; i < len(p); {
		c := p[i]
		if c == '.' || c == '-' || c == '_' {
			items = append(items, dateItem{kind: dateLit, lit: c})
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		run := p[i : i+n]
		i += n
		var k dateKind
		switch c {
		case 'y', 'Y':
			k = pick(n, 0, dateYear2, 0, dateYear4)
		case 'x':
			k = pick(n, 0, dateWeekYear2, 0, dateWeekYear4)
		case 'M':
			k = pick(n, dateMonth1, dateMonth2, 0, 0)
		case 'd':
			k = pick(n, dateDay1, dateDay2, 0, 0)
		case 'w':
			k = pick(n, dateWeek1, dateWeek2, 0, 0)
		case 'H':
			k, unit = pick(n, dateHour1, dateHour2, 0, 0), min(unit, 3600)
		case 'm':
			k, unit = pick(n, dateMinute1, dateMinute2, 0, 0), min(unit, 60)
		case 's':
			k, unit = pick(n, dateSecond1, dateSecond2, 0, 0), min(unit, 1)
		default:
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return nil, 0, fmt.Errorf("unknown date pattern letter %q", c)
			}
			r, _ := utf8.DecodeRuneInString(p[i-n:])
			return nil, 0, fmt.Errorf("invalid character %q in date pattern", r)
		}
		if k == dateLit {
			return nil, 0, fmt.Errorf("unsupported date pattern %q", run)
		}
		items = append(items, dateItem{kind: k})
	}
	return items, unit, nil
}

// pick returns the kind for a run of n letters, dateLit when n is not
// supported.
func pick(n int, k1, k2, k3, k4 dateKind) dateKind {
	switch n {
	case 1:
		return k1
	case 2:
		return k2
	case 3:
		return k3
	case 4:
		return k4
	}
	return dateLit
}

func appendDate(b []byte, items []dateItem, tm time.Time) []byte {
	year, month, day := tm.Date()
	wyear, week := tm.ISOWeek()
	for _, it := range items {
		switch it.kind {
		case dateLit:
			b = append(b, it.lit)
		case dateYear4:
			b = appendPadded(b, year, 4)
		case dateYear2:
			b = appendPadded(b, year%100, 2)
		case dateWeekYear4:
			b = appendPadded(b, wyear, 4)
		case dateWeekYear2:
			b = appendPadded(b, wyear%100, 2)
		case dateMonth2:
			b = appendPadded(b, int(month), 2)
		case dateMonth1:
			b = strconv.AppendInt(b, int64(month), 10)
		case dateDay2:
			b = appendPadded(b, day, 2)
		case dateDay1:
			b = strconv.AppendInt(b, int64(day), 10)
		case dateWeek2:
			b = appendPadded(b, week, 2)
		case dateWeek1:
			b = strconv.AppendInt(b, int64(week), 10)
		case dateHour2:
			b = appendPadded(b, tm.Hour(), 2)
		case dateHour1:
			b = strconv.AppendInt(b, int64(tm.Hour()), 10)
		case dateMinute2:
			b = appendPadded(b, tm.Minute(), 2)
		case dateMinute1:
			b = strconv.AppendInt(b, int64(tm.Minute()), 10)
		case dateSecond2:
			b = appendPadded(b, tm.Second(), 2)
		case dateSecond1:
			b = strconv.AppendInt(b, int64(tm.Second()), 10)
		}
	}
	return b
}

// appendPadded appends n (0 <= n <= 9999) zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var d [4]byte
	for i := 3; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[4-width:]...)
}

// parseFieldRef turns "[a][b]" or "a.b" into the dotted path "a.b".
func parseFieldRef(ref string) (string, error) {
	if ref == "" {
		return "", errors.New(`empty field name in "%{}"`)
	}
	if ref[0] != '[' {
		if strings.ContainsAny(ref, "[]") {
			return "", fmt.Errorf("invalid field reference %q", ref)
		}
		for seg := range strings.SplitSeq(ref, ".") {
			if seg == "" {
				return "", fmt.Errorf("empty field name in %q", ref)
			}
		}
		return ref, nil
	}
	var path strings.Builder
	for rest := ref; rest != ""; {
		end := strings.IndexByte(rest, ']')
		if rest[0] != '[' || end < 0 || strings.IndexByte(rest[1:end], '[') >= 0 {
			return "", fmt.Errorf("invalid field reference %q", ref)
		}
		seg := rest[1:end]
		if seg == "" || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".") || strings.Contains(seg, "..") {
			return "", fmt.Errorf("empty field name in %q", ref)
		}
		if path.Len() > 0 {
			path.WriteByte('.')
		}
		path.WriteString(seg)
		rest = rest[end+1:]
	}
	return path.String(), nil
}

// indexNameInvalid[c] is true for ASCII bytes Elasticsearch rejects in an
// index name (':' is the remote cluster separator), and for control
// characters, which it accepts but which have no place in a name.
var indexNameInvalid = func() (t [utf8.RuneSelf]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t[0x7F] = true
	for _, c := range []byte("\\/*?\"<>|, #:") {
		t[c] = true
	}
	return t
}()

// validIndexName checks a name against Elasticsearch's rules.
func validIndexName(s string) error {
	switch {
	case s == "":
		return errEmptyTemplate
	case s == "." || s == "..":
		return fmt.Errorf("index name must not be %q", s)
	case s[0] == '-' || s[0] == '_' || s[0] == '+':
		return fmt.Errorf("index name must not start with %q", s[0])
	case len(s) > MaxIndexNameLen:
		return fmt.Errorf("index name longer than %d bytes", MaxIndexNameLen)
	case !utf8.ValidString(s):
		return errors.New("index name is not valid UTF-8")
	}
	for _, r := range s {
		if r < utf8.RuneSelf && indexNameInvalid[r] {
			return fmt.Errorf("index name must not contain %q", r)
		}
		if unicode.ToLower(r) != r {
			return errors.New("index name must be lowercase")
		}
	}
	return nil
}

// appendFieldValue appends the value of the field at path, made safe for an
// index name (see IndexTemplate).
func appendFieldValue(dst, doc []byte, path string, atStart bool) []byte {
	raw, ok := lookup(doc, path)
	if ok && raw[0] == '"' {
		raw = raw[1 : len(raw)-1]
		for _, c := range raw {
			if c == '\\' {
				s, uok := unescape(raw)
				raw, ok = []byte(s), uok
				break
			}
		}
	}
	n := len(dst)
	if ok {
		dst = appendIndexSafe(dst, raw)
	}
	if atStart {
		i := n
		for i < len(dst) && (dst[i] == '-' || dst[i] == '_' || dst[i] == '+' || dst[i] == '.') {
			i++
		}
		dst = append(dst[:n], dst[i:]...)
	}
	if len(dst) == n || onlyDots(dst[n:]) {
		return append(dst[:n], "unknown"...)
	}
	return dst
}

// appendIndexSafe appends s lowercased, with characters not allowed in an
// index name and invalid UTF-8 replaced by '_'.
func appendIndexSafe(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case indexNameInvalid[c]:
				c = '_'
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, '_')
			continue
		}
		if r = unicode.ToLower(r); unicode.ToLower(r) != r {
			r = '_' // no stable lowercase form; never seen in practice
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

func onlyDots(b []byte) bool {
	for _, c := range b {
		if c != '.' {
			return false
		}
	}
	return true
}

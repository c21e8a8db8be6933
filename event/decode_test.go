package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var recTS = time.Date(2024, 3, 5, 10, 20, 30, 123456789, time.UTC)

func TestDecodePassThrough(t *testing.T) {
	docTS := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Time
	}{
		{"no timestamp", `{"a":1}`, recTS},
		{"empty object", `{}`, recTS},
		{"whitespace around", " \n\t{\"a\" : [ 1 , {} , [] ] }\r\n ", recTS},
		{"rfc3339", `{"@timestamp":"2024-01-02T03:04:05Z"}`, docTS},
		{"rfc3339 millis", `{"@timestamp":"2024-01-02T03:04:05.000Z"}`, docTS},
		{"rfc3339 nanos", `{"@timestamp":"2024-01-02T03:04:05.000000007Z"}`, docTS.Add(7)},
		{"more than nanos", `{"@timestamp":"2024-01-02T03:04:05.1234567899Z"}`, docTS.Add(123456789)},
		{"offset", `{"@timestamp":"2024-01-02T05:04:05+02:00"}`, docTS},
		{"offset no colon", `{"@timestamp":"2024-01-01T22:34:05.000-0430"}`, docTS},
		{"offset hours", `{"@timestamp":"2024-01-02T04:04:05+01"}`, docTS},
		{"no zone is utc", `{"@timestamp":"2024-01-02T03:04:05"}`, docTS},
		{"no zone fraction", `{"@timestamp":"2024-01-02T03:04:05.5"}`, docTS.Add(500 * time.Millisecond)},
		{"space separator", `{"@timestamp":"2024-01-02 03:04:05Z"}`, docTS},
		{"date only", `{"@timestamp":"2024-01-02"}`, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"epoch millis", `{"@timestamp":1704164645000}`, docTS},
		{"epoch millis fraction", `{"@timestamp":1704164645000.25}`, docTS.Add(250 * time.Microsecond)},
		{"epoch millis exponent", `{"@timestamp":1.704164645e12}`, recTS},
		{"epoch millis huge", `{"@timestamp":99999999999999999999}`, recTS},
		{"escaped timestamp", `{"@timestamp":"2024-01-02T03:04:05\u005a"}`, docTS},
		{"escaped key", `{"\u0040timestamp":"2024-01-02T03:04:05Z"}`, docTS},
		{"timestamp later", `{"a":{"b":[1,2]},"@timestamp":"2024-01-02T03:04:05Z"}`, docTS},
		{"nested timestamp ignored", `{"x":{"@timestamp":"2024-01-02T03:04:05Z"}}`, recTS},
		{"timestamp in array ignored", `{"x":["@timestamp","2024-01-02T03:04:05Z"]}`, recTS},
		{"timestamp as value ignored", `{"x":"@timestamp","y":"2024-01-02T03:04:05Z"}`, recTS},
		{"unparseable", `{"@timestamp":"yesterday"}`, recTS},
		{"bad month", `{"@timestamp":"2024-13-02T03:04:05Z"}`, recTS},
		{"bad day", `{"@timestamp":"2023-02-29T03:04:05Z"}`, recTS},
		{"leap day", `{"@timestamp":"2024-02-29T03:04:05Z"}`, time.Date(2024, 2, 29, 3, 4, 5, 0, time.UTC)},
		{"bad zone", `{"@timestamp":"2024-01-02T03:04:05+2"}`, recTS},
		{"trailing junk", `{"@timestamp":"2024-01-02T03:04:05Zjunk"}`, recTS},
		{"timestamp object", `{"@timestamp":{"a":1}}`, recTS},
		{"timestamp null", `{"@timestamp":null}`, recTS},
		{"duplicate keys last wins", `{"@timestamp":"2020-01-01T00:00:00Z","@timestamp":"2024-01-02T03:04:05Z"}`, docTS},
		{"duplicate keys last unparseable", `{"@timestamp":"2024-01-02T03:04:05Z","@timestamp":{}}`, recTS},
		{"duplicate keys", `{"a":1,"a":2}`, recTS},
		{"huge number", `{"n":123456789012345678901234567890e999999}`, recTS},
		{"all literals", `{"t":true,"f":false,"n":null,"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, recTS},
		{"unicode", `{"msg":"Grüße, 日本語, 😀"}`, recTS},
		{"lone surrogate escape", `{"s":"\ud800"}`, recTS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := []byte(tt.value)
			doc, wrapped, got := Decode("t", 0, 1, recTS, value)
			if wrapped {
				t.Fatalf("wrapped %s", doc)
			}
			if &doc[0] != &value[0] || len(doc) != len(value) {
				t.Error("doc is not value itself")
			}
			if !got.Equal(tt.want) {
				t.Errorf("time = %v, want %v", got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("time location = %v, want UTC", got.Location())
			}
		})
	}
}

func TestDecodeWraps(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	deepArr := `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "}"
	big := []byte(`{"a":"` + strings.Repeat("x", 5<<20) + `"`) // 5 MiB, unterminated
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", nil},
		{"spaces", []byte("  \n")},
		{"syslog", []byte(`<34>1 2024-03-05T10:20:30.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8`)},
		{"cef", []byte(`CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232`)},
		{"binary", []byte{0x00, 0x01, 0xff, 0xfe, '{', 0x7f}},
		{"invalid utf8 in string", []byte("{\"a\":\"\xff\xfe\"}")},
		{"invalid utf8 key", []byte("{\"\xc3\":1}")},
		{"overlong utf8", []byte("{\"a\":\"\xc0\xaf\"}")},
		{"surrogate utf8", []byte("{\"a\":\"\xed\xa0\x80\"}")},
		{"array", []byte(`[{"a":1}]`)},
		{"string", []byte(`"hello"`)},
		{"number", []byte(`42`)},
		{"null", []byte(`null`)},
		{"too deep", []byte(deep)},
		{"too deep arrays", []byte(deepArr)},
		{"unterminated", []byte(`{"a":1`)},
		{"trailing garbage", []byte(`{"a":1} x`)},
		{"two objects", []byte(`{"a":1}{"b":2}`)},
		{"trailing comma", []byte(`{"a":1,}`)},
		{"missing colon", []byte(`{"a" 1}`)},
		{"single quotes", []byte(`{'a':1}`)},
		{"bad escape", []byte(`{"a":"\x"}`)},
		{"short unicode escape", []byte(`{"a":"\u12"}`)},
		{"control char in string", []byte("{\"a\":\"x\ny\"}")},
		{"nul in string", []byte("{\"a\":\"x\x00y\"}")},
		{"leading zero", []byte(`{"a":01}`)},
		{"bare minus", []byte(`{"a":-}`)},
		{"bad fraction", []byte(`{"a":1.}`)},
		{"bad exponent", []byte(`{"a":1e}`)},
		{"bad literal", []byte(`{"a":tru}`)},
		{"mismatched", []byte(`{"a":[1}`)},
		{"bom", []byte("\xef\xbb\xbf{}")},
		{"5 MiB", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, wrapped, got := Decode("logs", 3, 42, recTS, tt.value)
			if !wrapped {
				t.Fatal("not wrapped")
			}
			if !got.Equal(recTS) {
				t.Errorf("time = %v, want record time", got)
			}
			if json.Valid(tt.value) && utf8.Valid(tt.value) && len(tt.value) > 0 && tt.value[0] == '{' && tt.name != "too deep arrays" && tt.name != "too deep" {
				t.Error("json.Valid accepts it")
			}
			w := checkWrap(t, doc)
			want := strings.ToValidUTF8(string(tt.value), "\uFFFD")
			if w.Message != want || w.Event.Original != want {
				t.Errorf("message/original do not hold the value")
			}
			if w.Kafka.Topic != "logs" || w.Kafka.Partition != 3 || w.Kafka.Offset != 42 {
				t.Errorf("kafka = %+v", w.Kafka)
			}
		})
	}
}

// MaxDepth itself is allowed.
func TestDecodeMaxDepth(t *testing.T) {
	v := strings.Repeat(`{"a":`, MaxDepth-1) + "[]" + strings.Repeat("}", MaxDepth-1)
	if _, wrapped, _ := Decode("t", 0, 0, recTS, []byte(v)); wrapped {
		t.Error("depth MaxDepth wrapped")
	}
	v = strings.Repeat(`{"a":`, MaxDepth) + "[]" + strings.Repeat("}", MaxDepth)
	if _, wrapped, _ := Decode("t", 0, 0, recTS, []byte(v)); !wrapped {
		t.Error("depth MaxDepth+1 not wrapped")
	}
}

type wrapDoc struct {
	Timestamp *string `json:"@timestamp"`
	Message   string  `json:"message"`
	Event     struct {
		Original string `json:"original"`
	} `json:"event"`
	Kafka struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
		Timestamp *string `json:"timestamp"`
	} `json:"kafka"`
}

func checkWrap(t *testing.T, doc []byte) wrapDoc {
	t.Helper()
	if !json.Valid(doc) || !utf8.Valid(doc) || doc[0] != '{' {
		t.Fatalf("wrapped doc is not a valid JSON object: %.200q", doc)
	}
	if _, _, ok := scan(doc); !ok {
		t.Fatalf("wrapped doc would itself be wrapped: %.200q", doc)
	}
	var w wrapDoc
	if err := json.Unmarshal(doc, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWrap(t *testing.T) {
	value := []byte("a\"b\\c\x00d\x01\x1f\n\r\t\b\f\x7f é \u2028 \u2029 \xe2\x80 \xff end")
	doc := Wrap("my.topic-1", 7, 9007199254740993, recTS, value)
	want := `{"@timestamp":"2024-03-05T10:20:30.123456789Z",` +
		`"message":"a\"b\\c\u0000d\u0001\u001f\n\r\t\b\f` + "\x7f é " + `\u2028 \u2029 ` + "\uFFFD \uFFFD end\"," +
		`"event":{"original":"a\"b\\c\u0000d\u0001\u001f\n\r\t\b\f` + "\x7f é " + `\u2028 \u2029 ` + "\uFFFD \uFFFD end\"}," +
		`"kafka":{"topic":"my.topic-1","partition":7,"offset":9007199254740993,"timestamp":"2024-03-05T10:20:30.123456789Z"}}`
	if string(doc) != want {
		t.Errorf("Wrap =\n%s\nwant\n%s", doc, want)
	}
	w := checkWrap(t, doc)
	if w.Message != strings.ToValidUTF8(string(value), "\uFFFD") {
		t.Errorf("message = %q", w.Message)
	}
	// The exact offset survives: check the text, not a float64 decode.
	if !bytes.Contains(doc, []byte(`"offset":9007199254740993`)) {
		t.Error("offset not exact")
	}
}

func TestWrapNoTimestamp(t *testing.T) {
	for _, ts := range []time.Time{{}, time.UnixMilli(-1)} {
		doc := Wrap("t", 0, 0, ts, []byte("x"))
		w := checkWrap(t, doc)
		if w.Timestamp != nil || w.Kafka.Timestamp != nil {
			t.Errorf("ts %v: got a timestamp: %s", ts, doc)
		}
	}
	doc := Wrap("t", 0, 0, time.UnixMilli(0), []byte("x"))
	if w := checkWrap(t, doc); w.Timestamp == nil || *w.Timestamp != "1970-01-01T00:00:00Z" {
		t.Errorf("epoch: %s", doc)
	}
	// Offsets in other zones are written in UTC.
	doc = Wrap("t", 0, 0, recTS.In(time.FixedZone("x", 3600)), []byte("x"))
	if w := checkWrap(t, doc); *w.Timestamp != "2024-03-05T10:20:30.123456789Z" {
		t.Errorf("zone: %s", doc)
	}
}

func TestNewAndID(t *testing.T) {
	e := New("fw", 2, 17, recTS, []byte("k"), []byte(`{"@timestamp":"2024-01-02T03:04:05Z"}`))
	if e.Wrapped || e.Time.Year() != 2024 || e.Time.Month() != 1 || e.Size() != len(e.Value) {
		t.Errorf("event = %+v", e)
	}
	if e.ID() != "fw+2+17" || e.ID() != ID("fw", 2, 17) {
		t.Errorf("ID = %q", e.ID())
	}
	e2 := New("fw", 2, 17, recTS.Add(time.Hour), nil, []byte("other"))
	if e2.ID() != e.ID() {
		t.Error("ID depends on more than topic, partition and offset")
	}
	if ID("a", 1, 23) == ID("a", 12, 3) {
		t.Error("ID ambiguous")
	}
	if got := ID("t", -1, -1); got != "t+-1+-1" {
		t.Errorf("ID = %q", got)
	}
}

// scanDepth returns the nesting depth of a valid JSON text.
func scanDepth(b []byte) int {
	depth, maxDepth, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxDepth
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"@timestamp":"2024-01-02T03:04:05.000Z","a":[1,2,{"b":null}]}`,
		`{"@timestamp":1704164645000}`, `[1]`, `"x"`, "{\"a\":\"\xff\"}", `<13>Jan  1 00:00:00 host app: hi`,
		`CEF:0|a|b|1|2|n|5|src=1.2.3.4`, `{"a":"\ud800\udc00"}`, " {\"a\":1e5} ", `{"a":-0.5E+3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		orig := bytes.Clone(value)
		doc, wrapped, tm := Decode("topic", 1, 2, recTS, value)
		if !bytes.Equal(value, orig) {
			t.Fatal("Decode modified value")
		}
		if !json.Valid(doc) || !utf8.Valid(doc) || doc[skipSpace(doc, 0)] != '{' {
			t.Fatalf("doc not a valid JSON object: %q", doc)
		}
		ref := json.Valid(value) && utf8.Valid(value) && len(value) > 0 && value[skipSpace(value, 0)] == '{'
		if !wrapped {
			if !ref {
				t.Fatalf("passed through but not valid: %q", value)
			}
			if !bytes.Equal(doc, value) {
				t.Fatal("doc is not value")
			}
			return
		}
		if ref && scanDepth(value) <= MaxDepth {
			t.Fatalf("wrapped a valid object: %q", value)
		}
		if !tm.Equal(recTS) {
			t.Fatal("wrapped with a time other than ts")
		}
		var w wrapDoc
		if err := json.Unmarshal(doc, &w); err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(string(value), "\uFFFD")
		if w.Message != want || w.Event.Original != want {
			t.Fatalf("message %q, original %q, want %q", w.Message, w.Event.Original, want)
		}
		if utf8.Valid(value) && w.Message != string(value) {
			t.Fatal("valid UTF-8 text changed")
		}
		if w.Kafka.Topic != "topic" || w.Kafka.Partition != 1 || w.Kafka.Offset != 2 {
			t.Fatalf("kafka = %+v", w.Kafka)
		}
	})
}

// FuzzTimestamp checks parseTimestamp against time.Parse where the formats
// overlap.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+05:30", "2024-02-30T00:00:00Z", "1999-12-31T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTimestamp([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if err == nil && !rfc3339Offset(s) {
			// time.Parse accepts zone offsets such as +00:60 that RFC
			// 3339 forbids; parseTimestamp rightly refuses them.
			return
		}
		if err == nil && len(s) > 19 && s[10] == 'T' && (s[19] == '.' || s[19] == 'Z' || s[19] == '+' || s[19] == '-') {
			if !ok || !got.Equal(want) {
				t.Fatalf("parseTimestamp(%q) = %v, %v; time.Parse = %v", s, got, ok, want)
			}
		}
		if ok && err == nil && !got.Equal(want) {
			t.Fatalf("parseTimestamp(%q) = %v; time.Parse = %v", s, got, want)
		}
	})
}

// rfc3339Offset reports whether s ends in Z or a zone offset ±hh:mm with
// hh ≤ 23 and mm ≤ 59.
func rfc3339Offset(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return true
	}
	n := len(s)
	if n < 6 || (s[n-6] != '+' && s[n-6] != '-') || s[n-3] != ':' {
		return false
	}
	hh, err1 := strconv.Atoi(s[n-5 : n-3])
	mm, err2 := strconv.Atoi(s[n-2:])
	return err1 == nil && err2 == nil && hh <= 23 && mm <= 59
}

func TestRFC3339Offset(t *testing.T) {
	for s, want := range map[string]bool{
		"2024-01-02T03:04:05Z":      true,
		"2024-01-02T03:04:05+05:30": true,
		"0000-01-01T00:00:00+00:60": false,
		"2024-01-02T03:04:05+24:00": false,
		"2024-01-02T03:04:05":       false,
	} {
		if got := rfc3339Offset(s); got != want {
			t.Errorf("rfc3339Offset(%q) = %v, want %v", s, got, want)
		}
	}
}

var benchDoc = []byte(`{"@timestamp":"2024-03-05T10:20:30.123Z","labels":{"seq":123456},"ecs":{"version":"8.11.0"},` +
	`"event":{"kind":"event","category":["process"],"type":["start"],"action":"Process Create (rule: ProcessCreate)","code":"1","module":"sysmon","dataset":"windows.sysmon_operational"},` +
	`"host":{"name":"WS-FIN-0142","hostname":"ws-fin-0142","os":{"family":"windows","name":"Windows 11 Enterprise","version":"10.0"}},` +
	`"process":{"pid":7312,"name":"powershell.exe","executable":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",` +
	`"command_line":"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\backup.ps1","parent":{"pid":4120,"name":"explorer.exe"}},` +
	`"user":{"name":"jsmith","domain":"CORP"},"agent":{"type":"winlogbeat","version":"8.11.3","name":"WS-FIN-0142"},"message":"Process Create"}`)

func BenchmarkDecode(b *testing.B) {
	b.Run("object", func(b *testing.B) {
		b.SetBytes(int64(len(benchDoc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, wrapped, _ := Decode("t", 0, 0, recTS, benchDoc); wrapped {
				b.Fatal("wrapped")
			}
		}
	})
	b.Run("stdlib-valid", func(b *testing.B) { // the baseline scan replaces
		b.SetBytes(int64(len(benchDoc)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(benchDoc) || !utf8.Valid(benchDoc) {
				b.Fatal("invalid")
			}
		}
	})
	line := []byte(`<34>1 2024-03-05T10:20:30.003Z mymachine.example.com sshd 4242 - - Failed password for invalid user admin from 198.51.100.7 port 51022 ssh2`)
	b.Run("wrap", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if _, wrapped, _ := Decode("t", 0, 0, recTS, line); !wrapped {
				b.Fatal("not wrapped")
			}
		}
	})
}

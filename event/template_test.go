package event

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIndexTemplateFormat(t *testing.T) {
	// 2021-01-03 is a Sunday in ISO week 53 of 2020.
	tm := time.Date(2021, 1, 3, 7, 8, 9, 0, time.UTC)
	doc := `{"event":{"module":"Sysmon","dataset":"windows.sysmon"},"host.name":"WS-FIN-0142",` +
		`"bad":"A/b*c?d\"e<f>g|h i,j#k:l\\m","dash":"-_+.Lead","dots":"..","n":42,"t":true,"null":null,"empty":"",` +
		`"uni":"ÄÖÜ Straße","esc":"\u0041\n"}`
	tests := []struct {
		tmpl string
		want string
	}{
		{"security", "security"},
		{"security-%{+yyyy.MM.dd}", "security-2021.01.03"},
		{"security-%{+YYYY.MM.dd}", "security-2021.01.03"},
		{"logs-%{+yy.M.d}", "logs-21.1.3"},
		{"logs-%{+yyyy.MM.dd-HH}", "logs-2021.01.03-07"},
		{"logs-%{+yyyy_MM_dd_HH_mm_ss}", "logs-2021_01_03_07_08_09"},
		{"logs-%{+H.m.s}", "logs-7.8.9"},
		{"weekly-%{+xxxx.ww}", "weekly-2020.53"},
		{"weekly-%{+xx.w}", "weekly-20.53"},
		{"%{+yyyy}", "2021"},
		{"%{[event][module]}-%{+yyyy.MM}", "sysmon-2021.01"},
		{"ecs-%{event.dataset}", "ecs-windows.sysmon"},
		{"h-%{host.name}", "h-ws-fin-0142"},
		{"h-%{[host.name]}", "h-ws-fin-0142"},
		{"x-%{missing}", "x-unknown"},
		{"x-%{null}", "x-unknown"},
		{"x-%{empty}", "x-unknown"},
		{"x-%{n}-%{t}", "x-42-true"},
		{"x-%{bad}", "x-a_b_c_d_e_f_g_h_i_j_k_l_m"},
		{"x-%{dash}", "x--_+.lead"},
		{"%{dash}", "lead"},
		{"%{missing}", "unknown"},
		{".%{dots}", ".unknown"},
		{"%{dots}", "unknown"},
		{"x-%{uni}", "x-äöü_straße"},
		{"x-%{esc}", "x-a_"},
		{"x-%{event}", "x-{_module___sysmon___dataset___windows.sysmon_}"},
		{"100%-%{+yyyy}", "100%-2021"},
		{"a%b", "a%b"},
	}
	e := New("t", 0, 0, tm, nil, []byte(doc))
	if e.Wrapped {
		t.Fatal("test doc wrapped")
	}
	for _, tt := range tests {
		it, err := ParseIndexTemplate(tt.tmpl)
		if err != nil {
			t.Errorf("%q: %v", tt.tmpl, err)
			continue
		}
		for range 2 { // the second time from the cache
			if got := it.Format(e); got != tt.want {
				t.Errorf("%q.Format = %q, want %q", tt.tmpl, got, tt.want)
			}
		}
		if got := string(it.AppendFormat([]byte("pre:"), e)); got != "pre:"+tt.want {
			t.Errorf("%q.AppendFormat = %q", tt.tmpl, got)
		}
		if err := validIndexName(it.Format(e)); err != nil {
			t.Errorf("%q: %v", tt.tmpl, err)
		}
	}
}

func TestIndexTemplateTimes(t *testing.T) {
	it, err := ParseIndexTemplate("i-%{+yyyy.MM.dd.HH}")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tm   time.Time
		want string
	}{
		{time.Date(2024, 12, 31, 23, 59, 59, 999999999, time.UTC), "i-2024.12.31.23"},
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "i-2025.01.01.00"},
		{time.Date(2025, 1, 1, 1, 30, 0, 0, time.FixedZone("CET", 3600)), "i-2025.01.01.00"},
		{time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC), "i-2025.01.01.00"},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "i-1969.12.31.23"},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "i-1970.01.01.00"},
		{time.Time{}, "i-0001.01.01.00"},
		{time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), "i-0000.01.01.00"},
		{time.Date(12345, 6, 1, 0, 0, 0, 0, time.UTC), "i-9999.12.31.23"},
	}
	for _, tt := range tests {
		if got := it.Format(&Event{Time: tt.tm}); got != tt.want {
			t.Errorf("Format(%v) = %q, want %q", tt.tm, got, tt.want)
		}
	}
}

func TestIndexTemplateLong(t *testing.T) {
	it, err := ParseIndexTemplate("logs-%{a}-%{+yyyy}")
	if err != nil {
		t.Fatal(err)
	}
	e := New("t", 0, 0, recTS, nil, []byte(`{"a":"`+strings.Repeat("é", 300)+`"}`))
	got := it.Format(e)
	if len(got) > MaxIndexNameLen {
		t.Errorf("len = %d", len(got))
	}
	if err := validIndexName(got); err != nil {
		t.Error(err)
	}
}

func TestParseIndexTemplateErrors(t *testing.T) {
	tests := []struct{ tmpl, err string }{
		{"", "empty index name"},
		{"logs-%{+yyyy", `unclosed "%{"`},
		{"logs-%{", `unclosed "%{"`},
		{"logs-%{}", `empty field name in "%{}"`},
		{"logs-%{+}", `empty date pattern in "%{+}"`},
		{"logs-%{[]}", `empty field name in "[]"`},
		{"logs-%{[a]b}", `invalid field reference "[a]b"`},
		{"logs-%{[a][]}", `empty field name in "[a][]"`},
		{"logs-%{a..b}", `empty field name in "a..b"`},
		{"logs-%{.a}", `empty field name in ".a"`},
		{"logs-%{a]}", `invalid field reference "a]"`},
		{"logs-%{+yyyy.QQ}", `unknown date pattern letter 'Q'`},
		{"logs-%{+yyyy.MMM}", `unsupported date pattern "MMM"`},
		{"logs-%{+yyy}", `unsupported date pattern "yyy"`},
		{"logs-%{+yyyy/MM}", `invalid character '/' in date pattern`},
		{"logs-%{+yyyy 'T'}", `invalid character ' ' in date pattern`},
		{"Logs-%{+yyyy}", "index name must be lowercase"},
		{"logs-É", "index name must be lowercase"},
		{"logs*", `index name must not contain '*'`},
		{"logs %{+yyyy}", `index name must not contain ' '`},
		{"a:b", `index name must not contain ':'`},
		{"a#b", `index name must not contain '#'`},
		{"a\nb", `index name must not contain '\n'`},
		{"-logs", `index name must not start with '-'`},
		{"_logs", `index name must not start with '_'`},
		{"+logs", `index name must not start with '+'`},
		{"%{+-yyyy}", `index name must not start with '-'`},
		{".", `index name must not be "."`},
		{"..", `index name must not be ".."`},
		{strings.Repeat("a", 256), "index name longer than 255 bytes"},
		{strings.Repeat("a", 246) + "%{+yyyy.MM.dd}", "index name longer than 255 bytes"},
		{"logs-\xff", "index name is not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParseIndexTemplate(tt.tmpl)
		if err == nil || err.Error() != tt.err {
			t.Errorf("ParseIndexTemplate(%q) error = %v, want %q", tt.tmpl, err, tt.err)
		}
	}
	for _, ok := range []string{".hidden-%{+yyyy}", "a-" + strings.Repeat("b", 253), "%{a}", "%{+yyyy}%{a}", "日本-%{+yyyy}"} {
		if _, err := ParseIndexTemplate(ok); err != nil {
			t.Errorf("ParseIndexTemplate(%q): %v", ok, err)
		}
	}
}

func TestIndexTemplateConcurrent(t *testing.T) {
	it, err := ParseIndexTemplate("c-%{h}-%{+yyyy.MM.dd}")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				day := time.Date(2024, 1, 1+(i+g)%3, 12, 0, 0, 0, time.UTC)
				e := New("t", 0, 0, day, nil, []byte(`{"h":"H1"}`))
				want := "c-h1-" + day.Format("2006.01.02")
				if got := it.Format(e); got != want {
					t.Errorf("got %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIndexTemplateAllocs(t *testing.T) {
	e := New("t", 0, 0, recTS, nil, benchDoc)
	dateOnly, _ := ParseIndexTemplate("security-%{+yyyy.MM.dd}")
	withField, _ := ParseIndexTemplate("security-%{[event][module]}-%{+yyyy.MM.dd}")
	dateOnly.Format(e)
	withField.Format(e)
	if n := testing.AllocsPerRun(100, func() { dateOnly.Format(e) }); n != 0 {
		t.Errorf("date-only Format: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { withField.Format(e) }); n != 1 {
		t.Errorf("Format with field: %v allocs", n)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { withField.AppendFormat(buf[:0], e) }); n != 0 {
		t.Errorf("AppendFormat with field: %v allocs", n)
	}
}

func FuzzIndexTemplate(f *testing.F) {
	f.Add("security-%{+yyyy.MM.dd}", []byte(`{"a":"x"}`), int64(0))
	f.Add("%{[a][b]}-%{+xxxx.ww}", []byte(`{"a":{"b":"-_Upper CASE/é"}}`), int64(1700000000000))
	f.Add(".%{a}", []byte(`{"a":".."}`), int64(-1))
	f.Add("%{a}%{b}", []byte(`{"a":"__","b":"+"}`), int64(253402300800000))
	f.Fuzz(func(t *testing.T, tmpl string, doc []byte, ms int64) {
		it, err := ParseIndexTemplate(tmpl)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		e := &Event{Doc: doc, Time: time.UnixMilli(ms)}
		got := it.Format(e)
		if err := validIndexName(got); err != nil {
			t.Fatalf("%q over %q = %q: %v", tmpl, doc, got, err)
		}
		if string(it.AppendFormat(nil, e)) != got {
			t.Fatal("AppendFormat differs from Format")
		}
	})
}

func BenchmarkIndexTemplate(b *testing.B) {
	e := New("t", 0, 0, recTS, nil, benchDoc)
	for _, tmpl := range []string{"security-%{+yyyy.MM.dd}", "security-%{[event][module]}-%{+yyyy.MM.dd}"} {
		it, err := ParseIndexTemplate(tmpl)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tmpl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				it.Format(e)
			}
		})
	}
}

func TestIndexTemplateUsesFields(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		want bool
	}{
		{"security", false},
		{"siembridge-%{+yyyy.MM.dd}", false},
		{"logs-%{[event][module]}-%{+yyyy.MM}", true},
		{"%{[data_stream][dataset]}", true},
	} {
		tp, err := ParseIndexTemplate(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.UsesFields(); got != tc.want {
			t.Errorf("%q: UsesFields() = %v, want %v", tc.tmpl, got, tc.want)
		}
	}
}

package loopback

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func TestRefuseAndBackOnTheSameAddress(t *testing.T) {
	s := New("fake", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") }))
	if err := s.Refuse(true); err != nil { // before Start: nothing to do
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	url := s.URL()
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "fake: already started") {
		t.Fatalf("second Start: %v", err)
	}
	steps := []struct {
		refuse bool
		works  bool
	}{{false, true}, {true, false}, {true, false}, {false, true}, {false, true}}
	for i, st := range steps {
		if err := s.Refuse(st.refuse); err != nil {
			t.Fatalf("step %d: Refuse(%v): %v", i, st.refuse, err)
		}
		if s.URL() != url {
			t.Fatalf("step %d: URL %s, want %s", i, s.URL(), url)
		}
		body, err := get(url)
		if works := err == nil && body == "hi"; works != st.works {
			t.Fatalf("step %d: GET = %q, %v; want served %v", i, body, err, st.works)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !s.Closed() {
		t.Fatal("not Closed after Close")
	}
	if _, err := get(url); err == nil {
		t.Fatal("served after Close")
	}
	for name, err := range map[string]error{"Start": s.Start(), "Refuse": s.Refuse(false)} {
		if err == nil || err.Error() != "fake: server closed" {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

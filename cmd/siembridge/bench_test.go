package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/siembridge/siembridge/internal/bench"
)

// The bench report replaces its own part of the page and keeps the
// sections others wrote around it.
func TestWriteGenerated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "benchmarks.md")
	part := func(s string) string { return bench.MarkdownBegin + "\n" + s + "\n" + bench.MarkdownEnd + "\n" }
	for _, c := range []struct{ name, old, want string }{
		{"new file", "", part("one")},
		{"between the markers", "intro\n" + part("old") + "\n## Export\n\nkept\n", "intro\n" + part("one") + "\n## Export\n\nkept\n"},
		{"no markers yet", "# Benchmarks\n\nold table\n", part("one") + "\n# Benchmarks\n\nold table\n"},
	} {
		if c.old != "" {
			if err := os.WriteFile(path, []byte(c.old), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			os.Remove(path)
		}
		if err := writeGenerated(path, part("one")); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

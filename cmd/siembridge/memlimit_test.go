package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/siembridge/siembridge/config"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &config.Config{Routes: []config.Route{
		{Buffer: config.Buffer{MaxBytes: 16 << 20}},
		{Buffer: config.Buffer{MaxBytes: 32 << 20}},
	}}
	t.Setenv("GOMEMLIMIT", "")
	want := int64(48<<20 + memoryHeadroom)
	if got := setMemoryLimit(cfg, log); got != want {
		t.Fatalf("limit %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Fatalf("runtime limit %d, want %d", got, want)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := setMemoryLimit(cfg, log); got != 0 {
		t.Fatalf("with GOMEMLIMIT set: limit %d, want 0 (left to the operator)", got)
	}
}

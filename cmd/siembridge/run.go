package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "siembridge.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	b, err := bridge.New(cfg, bridge.WithLogger(log))
	if err != nil {
		return usageError{err}
	}
	log.Info("starting", "routes", len(cfg.Routes), "brokers", cfg.Kafka.Brokers)
	return b.Run(ctx)
}

// loadConfig loads and validates a configuration file; its errors are usage
// errors (exit 2) of one line naming the field.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// newLogger builds the process logger from the log section.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

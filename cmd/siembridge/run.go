package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/gctune"
	"github.com/siembridge/siembridge/metrics"
	"github.com/siembridge/siembridge/sinks/registry"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("run", "run [--config FILE]",
		"Consumes each route's topics and feeds its sink until SIGINT or SIGTERM, then finishes\n"+
			"the requests in flight, commits and leaves the consumer groups; a second signal cuts\n"+
			"the requests in flight.", stdout)
	path := fs.String("config", "siembridge.yaml", "configuration file")
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	gctune.Apply(cfg, log)
	opts := []bridge.Option{bridge.WithLogger(log), bridge.WithSinkFactory(registry.New)}
	reg := metrics.NewRegistry()
	if cfg.Metrics.Listen != "" {
		hooks, err := metrics.New(reg)
		if err != nil {
			return err
		}
		opts = append(opts, bridge.WithHooks(hooks))
	}
	b, err := bridge.New(cfg, opts...)
	if err != nil {
		return usageError{err: err}
	}
	if cfg.Metrics.Listen != "" {
		// Served beside the bridge, stopped after it returned.
		srv, err := metrics.NewServer(metrics.ServerConfig{Listen: cfg.Metrics.Listen, Routes: cfg.Routes}, b, reg, metrics.WithLogger(log))
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Close(sctx); err != nil {
				log.Warn("stopping the metrics server", "err", err)
			}
		}()
		log.Info("metrics and status page listening", "url", "http://"+srv.Addr()+"/")
	}
	log.Info("starting", "routes", len(cfg.Routes), "brokers", cfg.Kafka.Brokers)
	stopAbort := abortOnSecondSignal(ctx, b, log)
	defer stopAbort()
	return b.Run(ctx)
}

// abortOnSecondSignal calls b.Abort when a stop signal arrives after the
// first one (which ended ctx): the operator wants out now, so the requests
// in flight are cut, what was delivered is committed once, and Run
// returns. The returned function stops listening.
func abortOnSecondSignal(ctx context.Context, b *bridge.Bridge, log *slog.Logger) func() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	done := make(chan struct{})
	go func() {
		seen := 0
		for {
			select {
			case <-done:
				return
			case <-sigs:
				// The first signal also ended ctx (signal.NotifyContext
				// in main); a signal after that is the second.
				seen++
				if seen >= 2 && ctx.Err() != nil {
					log.Warn("second stop signal: cutting requests in flight; committing what was delivered and exiting")
					b.Abort()
				}
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// loadConfig loads and validates a configuration file; its errors are usage
// errors (exit 2) of one line naming the field.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err: err}
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

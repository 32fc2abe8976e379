package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"zohosink/connector"
)

const runUsage = `
zohosink run --config FILE [--drain-timeout 30s]

Runs every sync of the config until SIGINT or SIGTERM, then drains: stops
fetching, finishes in-flight writes (abandoning them after --drain-timeout),
commits what is done and exits 0. A fatal error (revoked refresh token, missing
scope, unknown module, wrong data center, a mapping that Zoho rejects record
after record) exits 1 with one line on stderr saying what to do.

Example:
  export ZOHO_CLIENT_ID=1000.XXXX ZOHO_CLIENT_SECRET=... ZOHO_REFRESH_TOKEN=1000.yyyy...
  zohosink run --config zohosink.yaml`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run", runUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long shutdown waits for in-flight writes")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadValid(*path, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	r, err := connector.New(cfg, connector.WithLogger(log), connector.WithDrainTimeout(*drain))
	if err != nil {
		return err
	}
	log.Info("zohosink starting", "version", version, "syncs", len(cfg.Syncs), "brokers", strings.Join(cfg.Kafka.Brokers, ","), "group", cfg.Kafka.GroupID, "http", cfg.HTTP.Listen)
	if err := r.Run(ctx); err != nil {
		return err
	}
	log.Info("zohosink " + r.Stopped())
	return nil
}

// loadValid loads and validates a config, printing every problem.
func loadValid(path string, stderr io.Writer) (*connector.Config, error) {
	if path == "" {
		return nil, &exitError{code: 2, err: errors.New("--config is required (see --help)")}
	}
	cfg, err := connector.Load(path)
	if err != nil {
		// One problem a line, each naming the key and line.
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		if len(lines) == 1 {
			return nil, fmt.Errorf("config %s: %s", path, lines[0])
		}
		fmt.Fprintf(stderr, "zohosink: config %s cannot be read:\n", path)
		for _, l := range lines {
			fmt.Fprintf(stderr, "  %s\n", strings.TrimSpace(l))
		}
		return nil, errSilent
	}
	if err := cfg.Validate(); err != nil {
		var ve *connector.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "zohosink: config %s has %d problem(s):\n", path, len(ve.Problems))
			for _, p := range ve.Problems {
				fmt.Fprintf(stderr, "  %s\n", problemLine(p))
			}
			return nil, errSilent
		}
		return nil, err
	}
	return cfg, nil
}

func problemLine(p connector.Problem) string {
	if p.Sync != "" {
		return fmt.Sprintf("sync %q: %s: %s", p.Sync, p.Key, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.Key, p.Message)
}

func newLogger(cfg *connector.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

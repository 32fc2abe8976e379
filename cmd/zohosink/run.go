package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"zohosink/connector"
	"zohosink/connector/config"
)

const runUsage = `
zohosink run --config FILE [--drain-timeout 30s]

Runs every sync of the config until SIGINT or SIGTERM, then drains: stops
fetching, finishes in-flight writes (abandoning them after --drain-timeout),
commits what is done and exits 0. A fatal error (revoked refresh token, missing
scope, unknown module, wrong data center, a mapping that Zoho rejects record
after record) exits 1 with one line on stderr saying what to do.

Example (the config reads its secrets from the environment or files, e.g.
client_secret: ${ZOHO_CLIENT_SECRET} and refresh_token: file:refresh_token):
  export ZOHO_CLIENT_ID=1000.XXXX ZOHO_CLIENT_SECRET=...
  zohosink run --config zohosink.yaml

Profiling: with ZOHOSINK_CPUPROFILE=FILE in the environment, run writes a Go
CPU profile of its whole life to FILE (go tool pprof FILE), ending it on exit;
with ZOHOSINK_MEMPROFILE=FILE, the allocations of its whole life, on exit.`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run", runUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long shutdown waits for in-flight writes")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadValid("run", *path, stderr)
	if err != nil {
		return err
	}
	log, fold := newLogger(cfg, stderr)
	defer fold.Flush()
	if path := os.Getenv("ZOHOSINK_CPUPROFILE"); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if path := os.Getenv("ZOHOSINK_MEMPROFILE"); path != "" {
		defer writeMemProfile(path, stderr)
	}
	memLimit := setMemoryLimit(cfg)
	gogc := setGCPercent()
	procs := adaptProcs(ctx, log)
	// The Go runtime's and the process's own metrics (GOMAXPROCS, heap,
	// CPU, RSS) beside zohosink's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r, err := connector.New(cfg, connector.WithLogger(log), connector.WithDrainTimeout(*drain), connector.WithRegistry(reg))
	if err != nil {
		return err
	}
	log.Info("zohosink starting", "version", version, "syncs", len(cfg.Syncs), "brokers", strings.Join(cfg.Kafka.Brokers, ","), "group", cfg.Kafka.GroupID, "http", cfg.HTTP.Listen, "memory_limit", memLimit, "gogc", gogc, "gomaxprocs", procs)
	if err := r.Run(ctx); err != nil {
		fold.Flush() // the counts of folded warnings before the last line
		return err
	}
	fold.Flush()
	log.Info("zohosink " + r.Stopped())
	return nil
}

// startCPUProfile starts a CPU profile written to path (ZOHOSINK_CPUPROFILE:
// for measuring, off unless set); the function it returns ends it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("ZOHOSINK_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ZOHOSINK_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeMemProfile writes the allocations profile to path
// (ZOHOSINK_MEMPROFILE: for measuring, off unless set).
func writeMemProfile(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "zohosink run: ZOHOSINK_MEMPROFILE: %v\n", err)
	}
}

// loadValid loads and validates a config, printing every problem (those of
// reading it and those of validating what could be read) at once.
func loadValid(command, path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		return nil, &exitError{code: 2, err: errors.New("--config is required (see --help)")}
	}
	cfg, err := config.Load(path)
	var problems []config.Problem
	var pe *config.ParseError
	switch {
	case errors.As(err, &pe):
		problems = pe.AllProblems()
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", path, err)
	default:
		var ve *config.ValidationError
		if err := cfg.Validate(); errors.As(err, &ve) {
			problems = ve.Problems
		} else if err != nil {
			return nil, err
		}
	}
	if len(problems) == 0 {
		return cfg, nil
	}
	fmt.Fprintf(stderr, "zohosink %s: config %s has %d problem(s):\n", command, path, len(problems))
	for _, p := range problems {
		fmt.Fprintf(stderr, "  %s\n", p)
	}
	return nil, errSilent
}

// newLogger builds the logger of cfg.log. Its warnings go through a
// FoldingHandler: call Flush on the way out so the counts of folded ones are
// written; it is flushed every half minute meanwhile, for as long as the
// process lives.
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, *connector.FoldingHandler) {
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
	w = redactingWriter{w}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	fold := connector.NewFoldingHandler(h, foldEvery)
	go func() {
		for range time.Tick(foldEvery) {
			fold.Flush()
		}
	}()
	return slog.New(fold), fold
}

// foldEvery is how long a repeated warning is only counted.
const foldEvery = 30 * time.Second

// redactingWriter hides the password of any URL in what it writes: a last
// line of defence for errors of libraries that quote the URL they called.
// slog writes a whole record in one Write, so a URL is never split.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, config.RedactURL(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setMemoryLimit gives the Go runtime a soft memory limit of twice
// kafka.max_buffered_bytes plus 64 MiB, unless GOMEMLIMIT sets one: the
// garbage collector then works harder as the heap nears it, so the process's
// memory follows the configured budget rather than doubling the live heap
// (GOGC's default). It is soft: a process that needs more gets it. It
// returns the limit in force, as text.
func setMemoryLimit(cfg *config.Config) string {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		return v + " (GOMEMLIMIT)"
	}
	limit := 2*cfg.Kafka.MaxBufferedBytes + 64<<20
	debug.SetMemoryLimit(limit)
	return fmt.Sprintf("%d MiB", limit>>20)
}

// defaultGCPercent is run's GOGC unless the environment sets one.
const defaultGCPercent = 200

// setGCPercent lets the heap grow to three times its live part before a
// collection (GOGC=200) instead of twice, unless GOGC is set: a process
// holding a read-ahead of tens of thousands of records marks all of them at
// every cycle, so collecting half as often saves about a microsecond a
// change writing new records (BENCHMARKS.md). The soft memory limit
// (setMemoryLimit) still bounds the heap: near it, the collector runs as
// often as it must whatever GOGC says. Not when GOMEMLIMIT is set either:
// an operator's limit may be the container's (the Kubernetes Deployment
// sets it to limits.memory), and a heap let grow nearer to it leaves less
// room for what is not heap. It returns the setting in force, as text.
func setGCPercent() string {
	inForce := func(why string) string {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		if p < 0 {
			return "off" + why
		}
		return strconv.Itoa(p) + why
	}
	switch {
	case os.Getenv("GOGC") != "":
		return inForce(" (GOGC)")
	case os.Getenv("GOMEMLIMIT") != "":
		return inForce(" (Go's default: GOMEMLIMIT is set)")
	}
	debug.SetGCPercent(defaultGCPercent)
	return strconv.Itoa(defaultGCPercent)
}

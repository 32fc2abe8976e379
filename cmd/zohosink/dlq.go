package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"zohosink/connector"
)

const dlqUsage = `
zohosink dlq inspect --config FILE [--limit N] [--json] [--all]
zohosink dlq replay  --config FILE [--max-replays 3]

inspect prints the dead-lettered records: original topic/partition/offset, key,
error code, field and message; one row per source record (a record that failed
again in a replay shows its newest copy; --all shows every copy).

replay sends every dead-lettered record through its sync again (after you fixed
the mapping or the data), committing its own progress (group <group_id>.replay)
so it can stop and resume. A record that fails again goes back to the
dead-letter topic with its replay count raised; one replayed --max-replays
times already is left where it is.

Examples:
  zohosink dlq inspect --config zohosink.yaml --limit 20
  zohosink dlq inspect --config zohosink.yaml --json | jq .
  zohosink dlq replay --config zohosink.yaml`

// dlqFlags are the flags of dlq inspect and dlq replay.
type dlqFlags struct {
	fs         *flag.FlagSet
	path       *string
	limit      *int
	asJSON     *bool
	all        *bool
	maxReplays *int
	drain      *time.Duration
	http       *string
}

func newDLQFlags(name string, stdout, stderr io.Writer) dlqFlags {
	fs := flags(name, dlqUsage, stdout, stderr)
	return dlqFlags{
		fs:         fs,
		path:       fs.String("config", "", "the config file (YAML)"),
		limit:      fs.Int("limit", 0, "inspect: at most this many records (0: all)"),
		asJSON:     fs.Bool("json", false, "inspect: one JSON object per line"),
		all:        fs.Bool("all", false, "inspect: every copy of a record dead-lettered again by a replay, not only the newest"),
		maxReplays: fs.Int("max-replays", 3, "replay: leave records replayed this many times already"),
		drain:      fs.Duration("drain-timeout", 30*time.Second, "replay: how long stopping waits for in-flight writes"),
		http:       fs.String("http", "off", "replay: serve /metrics and /status on `ADDR` (off by default, so a replay runs beside zohosink run)"),
	}
}

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "replay") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			newDLQFlags("dlq", stdout, stderr).fs.Usage()
			return nil
		}
		fmt.Fprintf(stderr, "%s\n\n", strings.TrimSpace(dlqUsage))
		if len(args) == 0 {
			return &exitError{code: 2, err: errors.New("say inspect or replay")}
		}
		return &exitError{code: 2, err: fmt.Errorf("unknown subcommand %q: say inspect or replay", args[0])}
	}
	sub := args[0]
	f := newDLQFlags("dlq "+sub, stdout, stderr)
	if err := parse(f.fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadValid("dlq", *f.path, stderr)
	if err != nil {
		return err
	}
	if sub == "inspect" {
		return dlqInspect(ctx, cfg, *f.limit, *f.asJSON, *f.all, stdout)
	}
	cfg.HTTP.Listen = *f.http
	log := newLogger(cfg, stderr)
	r, err := connector.New(cfg, connector.WithLogger(log), connector.WithReplay(*f.maxReplays), connector.WithDrainTimeout(*f.drain))
	if err != nil {
		return err
	}
	log.Info("zohosink starting a replay of the dead-letter topic", "version", version, "topic", cfg.Kafka.DeadLetterTopic, "group", cfg.Kafka.GroupID+".replay", "max_replays", *f.maxReplays)
	if err := r.Run(ctx); err != nil {
		return err
	}
	res := r.ReplayResult()
	st := r.Status()
	var written, skipped, dead int64
	for _, s := range st.Syncs {
		written, skipped, dead = written+s.Written, skipped+s.Skipped, dead+s.DeadLettered
	}
	fmt.Fprintf(stdout, "replayed %d dead letter(s): %d written, %d skipped, %d dead-lettered again; left in place: %d replayed %d times already, %d of unknown syncs\n",
		res.Replayed, written, skipped, dead, res.OverLimit, *f.maxReplays, res.UnknownSync)
	return nil
}

// printable shows a key as text when it is text, else as hex.
func printable(b []byte) string {
	if b == nil {
		return "(null)"
	}
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if r < 0x20 {
				ok = false
				break
			}
		}
		if ok {
			return string(b)
		}
	}
	if len(b) > 16 {
		return fmt.Sprintf("%x…", b[:16])
	}
	return fmt.Sprintf("%x", b)
}

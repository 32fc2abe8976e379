package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"zohosink/connector"
	"zohosink/connector/dlq"
)

// dlqUsage is the help of dlq itself: what its subcommands are for.
const dlqUsage = `
zohosink dlq inspect --config FILE [--limit N] [--json] [--all]
zohosink dlq replay  --config FILE [--max-replays 3] [--from-start]

inspect shows the dead-lettered records, why each was set aside and what
became of it; replay sends them through their sync again once you fixed the
mapping or the data. Each has its own flags: zohosink dlq inspect --help,
zohosink dlq replay --help.

Examples:
  zohosink dlq inspect --config zohosink.yaml
  zohosink dlq replay --config zohosink.yaml`

const dlqInspectUsage = `
zohosink dlq inspect --config FILE [--limit N] [--json] [--all]

Prints the dead-lettered records: original topic/partition/offset, key, stage,
error code, field, message, how many times a replay sent the record through
its sync again (REPLAYS), and what became of it (STATE):

  pending                  no replay has read it yet (the next dlq replay will)
  left (replayed N times)  a replay left it where it is: it had been replayed
                           --max-replays times (dlq replay --help says how to
                           send it again), or its sync is not in the config
  replayed                 a replay wrote it to Zoho (or skipped it, as the
                           mode table says); hidden unless --all

One row per source record: a record that failed again in a replay was
dead-lettered again, and only its newest copy is shown (--all shows every
copy, the older ones as superseded). The last line says how many rows there
are and what was hidden. --json prints one object per line (with "state",
"key_decoded" and "value_decoded") and nothing else on stdout.

Examples:
  zohosink dlq inspect --config zohosink.yaml --limit 20
  zohosink dlq inspect --config zohosink.yaml --json | jq 'select(.state == "left")'`

const dlqReplayUsage = `
zohosink dlq replay --config FILE [--max-replays 3] [--from-start]

Sends the dead-lettered records through their sync again (after you fixed the
mapping or the data), up to the end of the dead-letter topic as it is when the
replay starts, and prints what became of them. Progress is committed under
the group <group_id>.replay, so a replay can stop and resume and the next one
starts where it ended. Each record goes through its sync at most once per
replay, from its newest copy; the older copies are left where they are.

A record that fails again goes back to the dead-letter topic with its replay
count raised. One replayed --max-replays times already is left where it is,
and the replay's progress moves past it: a later replay does not read it
again, even with a higher --max-replays. Once its cause is fixed, send it
again with --from-start and a limit above its count, e.g. after 3 replays:

  zohosink dlq replay --config zohosink.yaml --from-start --max-replays 4

--from-start reads the whole dead-letter topic and sends again the records
earlier replays left (replayed their --max-replays then, below this one's
now): it copies them to the end of the topic, where this replay reads them.
Records earlier replays wrote (dlq inspect shows them as replayed) are never
sent again, even if this replay is interrupted: that would undo later changes
in Zoho, or insert twice. It refuses to run while another replay is running.

Examples:
  zohosink dlq replay --config zohosink.yaml
  zohosink dlq replay --config zohosink.yaml --from-start --max-replays 5`

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "replay") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(stdout, strings.TrimSpace(dlqUsage))
			return nil
		}
		fmt.Fprintf(stderr, "%s\n\n", strings.TrimSpace(dlqUsage))
		if len(args) == 0 {
			return &exitError{code: 2, err: errors.New("say inspect or replay")}
		}
		return &exitError{code: 2, err: fmt.Errorf("unknown subcommand %q: say inspect or replay", args[0])}
	}
	if args[0] == "inspect" {
		return cmdDLQInspect(ctx, args[1:], stdout, stderr)
	}
	return cmdDLQReplay(ctx, args[1:], stdout, stderr)
}

func cmdDLQInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("dlq inspect", dlqInspectUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	limit := fs.Int("limit", 0, "at most this many rows (0: all)")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	all := fs.Bool("all", false, "every dead letter: older copies of records dead-lettered again, and records a replay wrote")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 0 {
		return &exitError{code: 2, err: fmt.Errorf("--limit %d: say how many rows at most, or 0 (the default) for all", *limit)}
	}
	cfg, err := loadValid("dlq", *path, stderr)
	if err != nil {
		return err
	}
	return dlqInspect(ctx, cfg, *limit, *asJSON, *all, stdout, stderr)
}

func cmdDLQReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("dlq replay", dlqReplayUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	maxReplays := fs.Int("max-replays", dlq.DefaultMaxReplays, "leave where they are records replayed this many times already")
	fromStart := fs.Bool("from-start", false, "send again the records earlier replays left (with a --max-replays above their count), read from the start of the dead-letter topic")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long stopping waits for in-flight writes")
	httpAddr := fs.String("http", "off", "serve /metrics and /status on `ADDR` (off by default, so a replay runs beside zohosink run)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *maxReplays < 1 {
		return &exitError{code: 2, err: fmt.Errorf("--max-replays %d: it must be at least 1 (a replay with a lower limit would send nothing and still move its progress past every record)", *maxReplays)}
	}
	cfg, err := loadValid("dlq", *path, stderr)
	if err != nil {
		return err
	}
	cfg.HTTP.Listen = *httpAddr
	// A replay is a one-off: static membership would keep it in the replay
	// group for a session timeout after it ended (blocking --from-start).
	cfg.Kafka.InstanceID = ""
	log, fold := newLogger(cfg, stderr)
	defer fold.Flush()
	opts := []connector.Option{connector.WithLogger(log), connector.WithReplay(*maxReplays), connector.WithDrainTimeout(*drain)}
	if *fromStart {
		opts = append(opts, connector.WithReplayFromStart())
	}
	r, err := connector.New(cfg, opts...)
	if err != nil {
		return err
	}
	log.Info("zohosink starting a replay of the dead-letter topic", "version", version, "topic", cfg.Kafka.DeadLetterTopic, "group", dlq.ReplayGroup(cfg), "max_replays", *maxReplays, "from_start", *fromStart)
	runErr := r.Run(ctx)
	// Whatever stopped it, the stretch it committed was read with this
	// limit: dlq inspect needs it to tell records left from records written.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := r.SaveReplayLimits(sctx); err != nil {
		log.Warn("could not record --max-replays with the replay's progress: dlq inspect assumes the default for this stretch", "err", err)
	}
	cancel()
	if runErr != nil {
		return runErr
	}
	res := r.ReplayResult()
	st := r.Status()
	var written, skipped, dead int64
	for _, s := range st.Syncs {
		written, skipped, dead = written+s.Written, skipped+s.Skipped, dead+s.DeadLettered
	}
	from := ""
	if res.FromStart {
		from = fmt.Sprintf(" (with %d left by earlier replays, sent again)", res.Requeued)
	}
	fmt.Fprintf(stdout, "replayed %d dead letter(s)%s: %d written, %d skipped, %d dead-lettered again; left in place: %d replayed %d times already, %d of unknown syncs, %d older copies superseded by a newer one\n",
		res.Replayed, from, written, skipped, dead, res.OverLimit, *maxReplays, res.UnknownSync, res.Superseded)
	if res.OverLimit > 0 {
		fmt.Fprintf(stdout, "%d record(s) reached --max-replays %d and stay in %s; once their cause is fixed, send them again with: zohosink dlq replay --config %s --from-start --max-replays %d\n",
			res.OverLimit, *maxReplays, cfg.Kafka.DeadLetterTopic, *path, res.MaxLeftReplays+1)
	}
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

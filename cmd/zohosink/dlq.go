package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"zohosink/connector"
	"zohosink/schema"
)

const dlqUsage = `
zohosink dlq inspect --config FILE [--limit N] [--json]
zohosink dlq replay  --config FILE [--max-replays 3]

inspect prints the dead-lettered records: original topic/partition/offset, key,
error code, field and message.

replay sends every dead-lettered record through its sync again (after you fixed
the mapping or the data), committing its own progress (group <group_id>.replay)
so it can stop and resume. A record that fails again goes back to the
dead-letter topic with its replay count raised; one replayed --max-replays
times already is left where it is.

Examples:
  zohosink dlq inspect --config zohosink.yaml --limit 20
  zohosink dlq inspect --config zohosink.yaml --json | jq .
  zohosink dlq replay --config zohosink.yaml`

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "replay") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			flags("dlq", dlqUsage, stdout, stderr).Usage()
			return nil
		}
		fmt.Fprintf(stderr, "%s\n\n", strings.TrimSpace(dlqUsage))
		return &exitError{code: 2, err: errors.New("say inspect or replay")}
	}
	sub := args[0]
	fs := flags("dlq "+sub, dlqUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	limit := fs.Int("limit", 0, "inspect: at most this many records (0: all)")
	asJSON := fs.Bool("json", false, "inspect: one JSON object per line")
	maxReplays := fs.Int("max-replays", 3, "replay: leave records replayed this many times already")
	drain := fs.Duration("drain-timeout", 30*time.Second, "replay: how long stopping waits for in-flight writes")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadValid(*path, stderr)
	if err != nil {
		return err
	}
	if sub == "inspect" {
		opts, err := connector.BrokerOptions(cfg)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		dls, err := connector.ReadDeadLetters(rctx, opts, cfg.Kafka.DeadLetterTopic, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for _, d := range dls {
				if err := enc.Encode(d); err != nil {
					return err
				}
			}
			return nil
		}
		if len(dls) == 0 {
			fmt.Fprintf(stdout, "the dead-letter topic %s is empty\n", cfg.Kafka.DeadLetterTopic)
			return nil
		}
		decs, _ := connector.NewDecoders(cfg)
		key := func(d connector.DeadLetter) string {
			// The key alone decodes like a tombstone's: its row key as text.
			if dec := decs[d.Sync]; dec != nil && len(d.Key) > 0 {
				if ch, err := dec.Decode(rctx, schema.Message{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Key: d.Key}); err == nil && ch.KeyString != "" {
					return ch.KeyString
				}
			}
			return printable(d.Key)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SYNC\tSOURCE\tKEY\tSTAGE\tCODE\tFIELD\tREPLAYS\tMESSAGE")
		for _, d := range dls {
			fmt.Fprintf(tw, "%s\t%s/%d@%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Sync, d.Topic, d.Partition, d.Offset, key(d), d.Stage, d.Code, d.Field, d.ReplayCount, d.Message)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d dead-lettered record(s) in %s\n", len(dls), cfg.Kafka.DeadLetterTopic)
		return nil
	}
	log := newLogger(cfg, stderr)
	r, err := connector.New(cfg, connector.WithLogger(log), connector.WithReplay(*maxReplays), connector.WithDrainTimeout(*drain))
	if err != nil {
		return err
	}
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
		res.Replayed, written, skipped, dead, res.OverLimit, *maxReplays, res.UnknownSync)
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

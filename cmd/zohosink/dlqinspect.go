package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"zohosink/connector/config"
	"zohosink/connector/dlq"

	"zohosink/connector"
	"zohosink/schema"
)

// dlqInspect prints the dead letters of cfg's dead-letter topic with what
// became of each (dlq.States). Unless all, only the newest
// copy of each source record (a record that failed again on replay was
// dead-lettered again, and its older copies stay in the topic), and not
// those a replay wrote. limit > 0 bounds the rows shown. stdout gets the
// rows only (with --json, for jq); explanations go to stderr.
func dlqInspect(ctx context.Context, cfg *config.Config, limit int, asJSON, all bool, stdout, stderr io.Writer) error {
	topic, group := cfg.Kafka.DeadLetterTopic, dlq.ReplayGroup(cfg)
	opts, err := connector.BrokerOptions(cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Every record, whatever the limit: the newest copies and the state of
	// each can be anywhere.
	read, err := dlq.ReadWithProgress(rctx, opts, topic, group)
	var unreachable *dlq.BrokersUnreachableError
	switch {
	case errors.Is(err, dlq.ErrNoTopic):
		msg := fmt.Sprintf("no dead letters: the dead-letter topic %s does not exist yet (zohosink run creates it when it starts: if it has run, check kafka.brokers, kafka.group_id and kafka.dead_letter_topic)\n", topic)
		if asJSON {
			fmt.Fprint(stderr, msg) // stdout stays empty for jq
		} else {
			fmt.Fprint(stdout, msg)
		}
		return nil
	case errors.As(err, &unreachable):
		hint := connector.KafkaHint(cfg, unreachable.Err)
		if hint == "" {
			hint = "check kafka.brokers, kafka.tls and kafka.sasl"
		}
		return fmt.Errorf("%w (%s)", err, hint)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("%w: reading it took over 60s (check kafka.brokers, kafka.tls and kafka.sasl)", err)
	case err != nil:
		return err
	}
	known := map[string]bool{}
	for _, s := range cfg.Syncs {
		known[s.Name] = true
	}
	states := dlq.States(read.Letters, read.Progress, func(name string) bool { return known[name] })
	if read.ProgressErr != nil {
		fmt.Fprintf(stderr, "warning: cannot read the progress of the replay group %s, so what replays did is unknown (STATE unknown, nothing hidden as replayed): %v\n", group, read.ProgressErr)
		for i, st := range states {
			if st.State != dlq.StateSuperseded {
				states[i] = dlq.State{State: "unknown"}
			}
		}
	}
	type row struct {
		d  dlq.Letter
		st dlq.State
	}
	var rows []row
	superseded, replayed := 0, 0
	for i, d := range read.Letters {
		if !all {
			switch states[i].State {
			case dlq.StateSuperseded:
				superseded++
				continue
			case dlq.StateReplayed:
				replayed++
				continue
			}
		}
		rows = append(rows, row{d, states[i]})
	}
	// In the order of the source records (the partitions of the dead-letter
	// topic interleave as they were fetched), a record's copies oldest first.
	slices.SortStableFunc(rows, func(x, y row) int {
		a, b := x.d, y.d
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.ReplayCount, b.ReplayCount))
	})
	total := len(rows)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	hidden := hiddenNote(replayed, superseded)

	dec := newDLQDecoder(ctx, cfg)
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			line := jsonDeadLetter{Letter: r.d, State: r.st.State, StateReason: r.st.Why}
			if k, ok := dec.key(r.d); ok {
				line.KeyDecoded = &k
			}
			line.ValueDecoded = dec.value(r.d)
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		if hidden != "" {
			fmt.Fprintf(stderr, "%s\n", hidden)
		}
		return nil
	}
	if len(rows) == 0 {
		if hidden != "" {
			fmt.Fprintf(stdout, "no dead letters left to replay in %s (%s)\n", topic, hidden)
		} else {
			fmt.Fprintf(stdout, "no dead letters: the dead-letter topic %s is empty\n", topic)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYNC\tSOURCE\tKEY\tSTAGE\tCODE\tFIELD\tREPLAYS\tSTATE\tMESSAGE")
	for _, r := range rows {
		d := r.d
		key, ok := dec.key(d)
		if !ok {
			key = printable(d.Key)
		}
		fmt.Fprintf(tw, "%s\t%s/%d@%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Sync, d.Topic, d.Partition, d.Offset, key, d.Stage, d.Code, d.Field, d.ReplayCount, r.st, d.Message)
	}
	tw.Flush()
	footer := fmt.Sprintf("%d dead-lettered record(s) in %s", total, topic)
	if len(rows) < total {
		footer = fmt.Sprintf("showing %d of %s", len(rows), footer)
	}
	if hidden != "" {
		footer += " (" + hidden + ")"
	}
	fmt.Fprintln(stdout, footer)
	return nil
}

// hiddenNote says what the default view left out: dead letters a replay
// wrote, and older copies of records dead-lettered again. "" when nothing.
func hiddenNote(replayed, superseded int) string {
	var parts []string
	if replayed > 0 {
		parts = append(parts, fmt.Sprintf("%d replayed by an earlier `dlq replay`", replayed))
	}
	switch {
	case superseded == 1:
		parts = append(parts, "1 older copy superseded by a replay")
	case superseded > 1:
		parts = append(parts, fmt.Sprintf("%d older copies superseded by replays", superseded))
	}
	if len(parts) == 0 {
		return ""
	}
	them := "them"
	if replayed+superseded == 1 {
		them = "it"
	}
	return strings.Join(parts, " and ") + " hidden; --all shows " + them
}

// jsonDeadLetter is one line of dlq inspect --json: the dead letter with its
// raw key and value (base64), and their decoded forms when the sync's
// decoder reads them.
type jsonDeadLetter struct {
	dlq.Letter
	// State is what became of it: pending, replayed, left or superseded
	// (dlq.State); StateReason says why it was left.
	State       string `json:"state"`
	StateReason string `json:"state_reason,omitempty"`
	// KeyDecoded is the row key as the table shows it.
	KeyDecoded *string `json:"key_decoded,omitempty"`
	// ValueDecoded is the changed row: the change's after columns (before
	// for a delete).
	ValueDecoded json.RawMessage `json:"value_decoded,omitempty"`
}

// dlqDecoder decodes dead letters with their sync's decoder. It gives up for
// good after the first failure that is not the record's own (the schema
// registry out of reach), so a registry down costs one timeout, not one per
// record.
type dlqDecoder struct {
	ctx  context.Context
	decs map[string]connector.Decoder
	off  bool
}

func newDLQDecoder(ctx context.Context, cfg *config.Config) *dlqDecoder {
	decs, _ := connector.NewDecoders(cfg)
	return &dlqDecoder{ctx: ctx, decs: decs}
}

func (x *dlqDecoder) decode(d dlq.Letter, m schema.Message) (schema.Change, bool) {
	dec := x.decs[d.Sync]
	if dec == nil || x.off {
		return schema.Change{}, false
	}
	ctx, cancel := context.WithTimeout(x.ctx, 15*time.Second)
	defer cancel()
	ch, err := dec.Decode(ctx, m)
	if err != nil {
		x.off = x.off || schema.IsRetryable(err)
		return schema.Change{}, false
	}
	return ch, true
}

// key returns the record's row key as text. The key alone decodes like a
// tombstone's.
func (x *dlqDecoder) key(d dlq.Letter) (string, bool) {
	if len(d.Key) == 0 {
		return "", false
	}
	ch, ok := x.decode(d, schema.Message{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Key: d.Key})
	if !ok || ch.KeyString == "" {
		return "", false
	}
	return ch.KeyString, true
}

// value returns the record's changed row as a JSON object: after, or before
// for a delete; nil when there is none or it does not decode.
func (x *dlqDecoder) value(d dlq.Letter) json.RawMessage {
	if len(d.Value) == 0 {
		return nil
	}
	ch, ok := x.decode(d, schema.Message{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Timestamp: d.Timestamp, Key: d.Key, Value: d.Value})
	if !ok {
		return nil
	}
	row := ch.After
	if ch.Op == schema.OpDelete || row == nil {
		row = ch.Before
	}
	if row == nil {
		return nil
	}
	b := json.RawMessage(schema.KeyString(row))
	if !json.Valid(b) {
		return nil
	}
	return b
}

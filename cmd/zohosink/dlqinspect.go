package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"zohosink/connector"
	"zohosink/schema"
)

// dlqInspect prints the dead letters of cfg's dead-letter topic: every
// copy when all, else only the newest copy of each source record (a record
// that failed again on replay was dead-lettered again, and its older copies
// stay in the topic). limit > 0 bounds the rows shown.
func dlqInspect(ctx context.Context, cfg *connector.Config, limit int, asJSON, all bool, stdout io.Writer) error {
	topic := cfg.Kafka.DeadLetterTopic
	opts, err := connector.BrokerOptions(cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	readLimit := limit
	if !all {
		readLimit = 0 // the newest copies can be anywhere: read them all
	}
	read, err := connector.ReadDeadLetterTopic(rctx, opts, topic, readLimit)
	var unreachable *connector.BrokersUnreachableError
	switch {
	case errors.Is(err, connector.ErrNoDeadLetterTopic):
		if !asJSON {
			fmt.Fprintf(stdout, "no dead letters: the dead-letter topic %s does not exist yet (zohosink run creates it when it starts: if it has run, check kafka.brokers, kafka.group_id and kafka.dead_letter_topic)\n", topic)
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
	dls, superseded := read.DeadLetters, 0
	total := int(read.Total)
	if !all {
		dls, superseded = connector.LatestDeadLetters(dls)
		total = len(dls)
	}
	// In the order of the source records (the partitions of the dead-letter
	// topic interleave as they were fetched), a record's copies oldest first.
	slices.SortStableFunc(dls, func(a, b connector.DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.ReplayCount, b.ReplayCount))
	})
	if limit > 0 && len(dls) > limit {
		dls = dls[:limit]
	}
	total = max(total, len(dls))

	dec := newDLQDecoder(ctx, cfg)
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, d := range dls {
			row := jsonDeadLetter{DeadLetter: d}
			if k, ok := dec.key(d); ok {
				row.KeyDecoded = &k
			}
			row.ValueDecoded = dec.value(d)
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	}
	if len(dls) == 0 {
		fmt.Fprintf(stdout, "no dead letters: the dead-letter topic %s is empty\n", topic)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYNC\tSOURCE\tKEY\tSTAGE\tCODE\tFIELD\tREPLAYS\tMESSAGE")
	for _, d := range dls {
		key, ok := dec.key(d)
		if !ok {
			key = printable(d.Key)
		}
		fmt.Fprintf(tw, "%s\t%s/%d@%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Sync, d.Topic, d.Partition, d.Offset, key, d.Stage, d.Code, d.Field, d.ReplayCount, d.Message)
	}
	tw.Flush()
	footer := fmt.Sprintf("%d dead-lettered record(s) in %s", total, topic)
	if len(dls) < total {
		footer = fmt.Sprintf("showing %d of %s", len(dls), footer)
	}
	switch {
	case superseded == 1:
		footer += " (1 older copy superseded by a replay hidden; --all shows it)"
	case superseded > 1:
		footer += fmt.Sprintf(" (%d older copies superseded by replays hidden; --all shows them)", superseded)
	}
	fmt.Fprintln(stdout, footer)
	return nil
}

// jsonDeadLetter is one line of dlq inspect --json: the dead letter with its
// raw key and value (base64), and their decoded forms when the sync's
// decoder reads them.
type jsonDeadLetter struct {
	connector.DeadLetter
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

func newDLQDecoder(ctx context.Context, cfg *connector.Config) *dlqDecoder {
	decs, _ := connector.NewDecoders(cfg)
	return &dlqDecoder{ctx: ctx, decs: decs}
}

func (x *dlqDecoder) decode(d connector.DeadLetter, m schema.Message) (schema.Change, bool) {
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
func (x *dlqDecoder) key(d connector.DeadLetter) (string, bool) {
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
func (x *dlqDecoder) value(d connector.DeadLetter) json.RawMessage {
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

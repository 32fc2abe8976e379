package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"zohosink/connector"
	"zohosink/schema"
)

// dlqInspect prints the dead letters of cfg's dead-letter topic.
func dlqInspect(ctx context.Context, cfg *connector.Config, limit int, asJSON bool, stdout io.Writer) error {
	opts, err := connector.BrokerOptions(cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	dls, err := connector.ReadDeadLetters(rctx, opts, cfg.Kafka.DeadLetterTopic, limit)
	if err != nil {
		return err
	}
	if asJSON {
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

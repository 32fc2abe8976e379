package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"zohosink/connector/demo"
)

const demoUsage = `
zohosink demo [--records N] [--keep]

Runs the whole pipeline on this machine with nothing installed: an embedded
Kafka broker, schema registry and Zoho CRM simulator, Debezium-style Avro
change events for five warehouse tables (customers -> Contacts, leads -> Leads,
companies -> Accounts, opportunities -> Deals, and a newsletter audience
mirrored onto Contacts) with snapshot reads, inserts, updates, deletes and a
few bad records, and the real connector between them. Shows progress, then a
summary: records per sync and mode, API calls, records per call, credits,
dead letters with their reasons.

Examples:
  zohosink demo
  zohosink demo --records 2000
  zohosink demo --keep        # stay up and print the addresses to explore`

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", demoUsage, stdout, stderr)
	records := fs.Int("records", 100, "rows per warehouse table")
	keep := fs.Bool("keep", false, "stay up after the summary until Ctrl-C, printing the addresses")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up when the pipeline has not caught up by then")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *records < 1 {
		return &exitError{code: 2, err: fmt.Errorf("--records %d: give at least 1 row per table", *records)}
	}
	_, err := demo.Run(ctx, demo.Options{Records: *records, Keep: *keep, Out: stdout, Timeout: *timeout})
	return err
}

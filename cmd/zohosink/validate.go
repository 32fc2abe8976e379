package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"zohosink/connector"
	"zohosink/zoho"
	"zohosink/schema"
)

const validateUsage = `
zohosink validate --config FILE [--online]

Checks the config without writing anything: every problem at once, one line
each, naming the sync and the key. With --online it also gets a Zoho token and
checks every mapped field against the org's fields metadata (unknown or
read-only fields, constants Zoho cannot take, picklist values not in the org's
list) and lists the fields each module requires. Exit 0 when valid.

Examples:
  zohosink validate --config zohosink.yaml
  zohosink validate --config zohosink.yaml --online`

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("validate", validateUsage, stdout, stderr)
	path := fs.String("config", "", "the config file (YAML)")
	online := fs.Bool("online", false, "also check the mapped fields against the Zoho org")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadValid(*path, stderr)
	if err != nil {
		return err
	}
	if *online {
		fmt.Fprintf(stdout, "config %s passes the offline checks:\n", *path)
	} else {
		fmt.Fprintf(stdout, "config %s is valid:\n", *path)
	}
	for _, line := range cfg.Summary() {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	if !*online {
		return nil
	}
	// Say what is slow while it is: a token endpoint out of reach is
	// retried for a while before the command gives up with the reason.
	onRetry := zoho.WithOnRetry(func(op zoho.Operation, module string, attempt int, err error) {
		if attempt == 1 {
			fmt.Fprintf(stderr, "online: %v; retrying for a while\n", err)
		}
	})
	client, err := connector.NewZohoClient(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), onRetry)
	if err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tctx, tcancel := context.WithTimeout(octx, 20*time.Second)
	err = client.CheckToken(tctx)
	tcancel()
	if err != nil {
		return fmt.Errorf("online: %w", err)
	}
	fmt.Fprintf(stdout, "online: got a Zoho token; API domain %s\n", client.APIDomain())
	columns := topicColumns(octx, cfg, stdout)
	findings, required, err := connector.CheckOnline(octx, cfg, client, columns)
	if err != nil {
		return fmt.Errorf("online: %w", err)
	}
	mods := make([]string, 0, len(required))
	for m := range required {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, m := range mods {
		fmt.Fprintf(stdout, "online: %s requires %s\n", m, strings.Join(required[m], ", "))
	}
	problems := 0
	for _, f := range findings {
		if f.Warning {
			fmt.Fprintf(stdout, "  %s\n", f)
			continue
		}
		problems++
		fmt.Fprintf(stderr, "  %s\n", f)
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "zohosink validate: %d problem(s) found online\n", problems)
		return errSilent
	}
	fmt.Fprintln(stdout, "online: every mapped field exists and is writable")
	fmt.Fprintf(stdout, "config %s is valid, checked online against %s\n", *path, client.APIDomain())
	return nil
}

// topicColumns reads each topic's latest value schema from the registry
// (subject <topic>-value), for checking column types against field types.
// A topic with no schema yet, or a registry out of reach, is only said.
func topicColumns(ctx context.Context, cfg *connector.Config, stdout io.Writer) map[string][]schema.Column {
	if cfg.SchemaRegistry.URL == "" {
		return nil
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.SchemaRegistry.URL)}
	if cfg.SchemaRegistry.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.SchemaRegistry.Username, cfg.SchemaRegistry.Password.Reveal()))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		fmt.Fprintf(stdout, "online: schema registry: %v (column types not checked)\n", err)
		return nil
	}
	out := map[string][]schema.Column{}
	for i := range cfg.Syncs {
		for _, topic := range cfg.Syncs[i].Topics {
			ss, err := cl.SchemaByVersion(ctx, topic+"-value", -1)
			if err != nil {
				fmt.Fprintf(stdout, "online: no value schema for topic %s in the registry (%v): its column types are not checked\n", topic, err)
				continue
			}
			cols, err := schema.ColumnsOf(ss.Schema.Schema)
			if err != nil {
				fmt.Fprintf(stdout, "online: topic %s: %v\n", topic, err)
				continue
			}
			out[topic] = cols
		}
	}
	return out
}

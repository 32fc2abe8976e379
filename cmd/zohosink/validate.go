package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"
	"zohosink/connector/config"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"zohosink/connector"
	"zohosink/schema"
	"zohosink/zoho"
)

const validateUsage = `
zohosink validate --config FILE [--online]

Checks the config without writing anything: every problem at once, one line
each, naming the sync and the key. With --online it also gets a Zoho token and
checks every mapped field against the org's fields metadata (unknown or
read-only fields, constants Zoho cannot take, picklist values not in the org's
list, column types from the topics' registered schemas) and lists the fields
each module requires; it also reaches the Kafka brokers (and says which topics
do not exist yet) and the schema registry. Exit 0 when valid.

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
	cfg, err := loadValid("validate", *path, stderr)
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
	fmt.Fprintln(stdout, "  (this minted 1 of the 10 access tokens Zoho allows per refresh token in 10 minutes; run and dlq replay take one each too, so a burst of validate --online can hold back a restart sharing the token)")
	problems := 0
	if err := checkKafka(octx, cfg, stdout); err != nil {
		problems++
		fmt.Fprintf(stderr, "  %v\n", err)
	}
	columns, err := topicColumns(octx, cfg, stdout)
	if err != nil {
		problems++
		fmt.Fprintf(stderr, "  %v\n", err)
	}
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

// checkKafka reaches the brokers and says which topics do not exist yet (a
// warning: Debezium creates a table's topic with its first change).
func checkKafka(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	opts, err := connector.BrokerOptions(cfg)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	var topics []string
	for i := range cfg.Syncs {
		topics = append(topics, cfg.Syncs[i].Topics...)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(cctx, topics...)
	if err != nil {
		return fmt.Errorf("kafka: cannot reach the brokers %s: %w (check kafka.brokers, kafka.tls and kafka.sasl)", strings.Join(cfg.Kafka.Brokers, ", "), err)
	}
	missing := 0
	var all []string
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			missing++
			if all == nil {
				if everything, err := kadm.NewClient(cl).ListTopics(cctx); err == nil {
					all = everything.Names()
				}
			}
			hint := ""
			if near := connector.SuggestTopic(t, all); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			fmt.Fprintf(stdout, "  warning: topic %s does not exist (yet)%s: check its name; Debezium creates a table's topic with its first change\n", t, hint)
		}
	}
	fmt.Fprintf(stdout, "online: reached Kafka at %s; %d of %d topics exist\n", strings.Join(cfg.Kafka.Brokers, ", "), len(topics)-missing, len(topics))
	return nil
}

// topicColumns reads each topic's latest value schema from the registry
// (subject <topic>-value), for checking column types against field types.
// A topic with no schema yet, or a registry out of reach, is only said.
func topicColumns(ctx context.Context, cfg *config.Config, stdout io.Writer) (map[string][]schema.Column, error) {
	// Syncs with format json never read the registry: neither does this.
	var avro []*config.SyncConfig
	for i := range cfg.Syncs {
		if cfg.Syncs[i].Format != "json" {
			avro = append(avro, &cfg.Syncs[i])
		}
	}
	if cfg.SchemaRegistry.URL == "" || len(avro) == 0 {
		return nil, nil
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.SchemaRegistry.URL)}
	if cfg.SchemaRegistry.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.SchemaRegistry.Username, cfg.SchemaRegistry.Password.Reveal()))
	}
	shown := cfg.SchemaRegistry.URL // without a password in it
	if u, err := url.Parse(shown); err == nil {
		shown = u.Redacted()
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", shown, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cl.Subjects(cctx); err != nil {
		return nil, fmt.Errorf("schema registry %s cannot be reached: %w (check schema_registry.url and its credentials)", shown, err)
	}
	fmt.Fprintf(stdout, "online: reached the schema registry at %s\n", shown)
	out := map[string][]schema.Column{}
	for _, sync := range avro {
		for _, topic := range sync.Topics {
			ss, err := cl.SchemaByVersion(cctx, topic+"-value", -1)
			if err != nil {
				fmt.Fprintf(stdout, "  warning: no value schema for topic %s in the registry (%v): its column types are not checked\n", topic, err)
				continue
			}
			cols, err := schema.ColumnsOf(ss.Schema.Schema)
			if err != nil {
				fmt.Fprintf(stdout, "  warning: topic %s: %v\n", topic, err)
				continue
			}
			out[topic] = cols
		}
	}
	return out, nil
}

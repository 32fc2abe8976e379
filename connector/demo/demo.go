// Package demo runs the whole zohosink pipeline on one machine with nothing
// installed: an embedded Kafka broker (kfake), schema registry (srfake) and
// Zoho CRM simulator (zohotest), a generator of Debezium-style Avro change
// events for five warehouse tables, and the real connector between them.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"zohosink/connector/config"
	"zohosink/connector/dlq"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"zohosink/connector"
	"zohosink/schema/schematest"
	"zohosink/zoho/zohotest"
)

//go:embed demo.yaml
var configTemplate string

// Options tune the demo.
type Options struct {
	Records int           // rows per table (default 100)
	Keep    bool          // stay up after the summary until ctx ends
	Out     io.Writer     // progress and summary (default stdout)
	Timeout time.Duration // give up when the pipeline has not caught up by then (default 2m)
	Seed    uint64        // the data generator's seed
}

// Result is what the demo measured, for tests and the summary.
type Result struct {
	Produced     int
	Status       connector.Status
	DeadLetters  []dlq.Letter
	APICalls     int            // every call the simulator answered, tokens included
	Calls        map[string]int // APICalls by kind (upsert, coql, fields, token, ...)
	WriteCalls   int            // the calls that write records (insert, update, upsert, delete, tags)
	WriteRecords int
	Credits      int
	Elapsed      time.Duration
	LagZero      bool // committed offsets equal the end of every partition
}

// Run runs the demo. It returns an error when the pipeline did not account
// for every record produced.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Records <= 0 {
		o.Records = 100
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	out := o.Out
	start := time.Now()

	var topics []string
	for _, t := range tables {
		topics = append(topics, t.Topic())
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("demo: start the embedded Kafka broker: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	reg := srfake.New()
	defer reg.Close()
	sim := zohotest.NewServer(zohotest.WithLatency(5*time.Millisecond, 30*time.Millisecond))
	defer sim.Close()
	creds := sim.Credentials()

	fmt.Fprintf(out, "zohosink demo: embedded Kafka at %s, schema registry at %s, Zoho CRM simulator at %s\n", broker, reg.URL(), sim.URL)

	// Produce the warehouse's change events.
	srcl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		return nil, err
	}
	encs := map[string]*schematest.Encoder{}
	for _, t := range tables {
		e, err := schematest.Register(ctx, srcl, t)
		if err != nil {
			return nil, err
		}
		encs[t.Name] = e
	}
	events, err := plan(encs, o.Records, o.Seed)
	if err != nil {
		return nil, err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return nil, err
	}
	recs := make([]*kgo.Record, len(events))
	perTopic := map[string]int{}
	for i, e := range events {
		recs[i] = &kgo.Record{Topic: e.topic, Key: e.key, Value: e.value}
		perTopic[e.topic]++
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		prod.Close()
		return nil, fmt.Errorf("demo: produce: %w", err)
	}
	prod.Close()
	fmt.Fprintf(out, "produced %d Debezium change events (Avro, Confluent framing) to %d topics of 3 partitions\n\n", len(events), len(topics))

	// The connector, configured like any user would.
	var cfgText bytes.Buffer
	err = template.Must(template.New("demo").Parse(configTemplate)).Execute(&cfgText, map[string]string{
		"Broker": broker, "Registry": reg.URL(), "Zoho": sim.URL,
		"ClientID": creds.ClientID, "ClientSecret": creds.ClientSecret, "RefreshToken": creds.RefreshToken,
	})
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(cfgText.Bytes(), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("demo: config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo: config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner, err := connector.New(cfg, connector.WithLogger(log), connector.WithDrainTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- runner.Run(runCtx) }()

	// Progress until every record is accounted for and committed.
	total := len(events)
	deadline := time.After(o.Timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var caughtUp bool
	for !caughtUp {
		select {
		case err := <-runErr:
			return nil, fmt.Errorf("demo: the connector stopped: %w", err)
		case <-ctx.Done():
			stop()
			<-runErr //nolint:errcheck // stopped by us: its error is the cancellation
			return nil, ctx.Err()
		case <-deadline:
			stop()
			<-runErr //nolint:errcheck // stopped by us: its error is the cancellation
			printProgress(out, start, runner.Status(), total)
			return nil, fmt.Errorf("demo: the pipeline did not catch up within %s", o.Timeout)
		case <-tick.C:
			st := runner.Status()
			printProgress(out, start, st, total)
			caughtUp = accounted(st) == total && lagZero(st)
		}
	}
	elapsed := time.Since(start)

	res := &Result{Produced: total, Status: runner.Status(), Elapsed: elapsed}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	read, err := dlq.Read(rctx, []kgo.Opt{kgo.SeedBrokers(broker)}, cfg.Kafka.DeadLetterTopic, 0)
	res.DeadLetters = read.Letters
	if err != nil {
		return nil, fmt.Errorf("demo: read the dead-letter topic: %w", err)
	}
	// Commits trail the work by at most commit_interval.
	for {
		res.LagZero, err = committedAtEnd(rctx, broker, cfg.Kafka.GroupID, topics)
		if err != nil || res.LagZero || rctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Calls = map[string]int{}
	for _, r := range sim.Requests() {
		kind := r.Operation
		if kind == "" {
			kind = "other"
		}
		res.APICalls++
		res.Calls[kind]++
		switch r.Operation {
		case "insert", "update", "upsert", "delete", "add_tags", "remove_tags":
			res.WriteCalls++
			res.WriteRecords += r.Records
		}
	}
	res.Credits = sim.CreditsUsed()
	summary(out, res, runner, o.Keep)

	if o.Keep {
		addr := runner.HTTPAddr()
		cfgFile := ""
		if dir, err := os.MkdirTemp("", "zohosink-demo"); err == nil {
			cfgFile = filepath.Join(dir, "demo.yaml")
			// For the user's own commands: logs at info, so `run` says
			// what it does (the demo keeps its own quiet).
			text := strings.Replace(cfgText.String(), "level: warn", "level: info", 1)
			if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
				cfgFile = ""
			}
			defer os.RemoveAll(dir)
		}
		fmt.Fprintf(out, "\nEverything stays up until Ctrl-C:\n  Kafka broker     %s   (kcat -b %s -L)\n  schema registry  %s\n  Zoho simulator   %s   (client_id %s, client_secret %s, refresh_token %s: demo credentials)\n  metrics          http://%s/metrics\n  status           http://%s/status\n",
			broker, broker, reg.URL(), sim.URL, creds.ClientID, creds.ClientSecret, creds.RefreshToken, addr, addr)
		if cfgFile != "" {
			fmt.Fprintf(out, "  the demo's config %s; try:\n    zohosink dlq inspect --config %s\n    zohosink validate --config %s --online\n    zohosink run --config %s   (joins the demo's consumer group: the partitions are shared)\n", cfgFile, cfgFile, cfgFile, cfgFile)
		}
		<-ctx.Done()
	}
	stop()
	if err := <-runErr; err != nil {
		return res, fmt.Errorf("demo: the connector stopped: %w", err)
	}
	if accounted(res.Status) != total {
		return res, fmt.Errorf("demo: %d records produced but %d accounted for", total, accounted(res.Status))
	}
	if !res.LagZero {
		return res, errors.New("demo: the committed offsets did not reach the end of every partition")
	}
	return res, nil
}

func accounted(st connector.Status) int {
	n := 0
	for _, s := range st.Syncs {
		n += int(s.Written + s.Skipped + s.DeadLettered)
	}
	return n
}

func lagZero(st connector.Status) bool {
	for _, s := range st.Syncs {
		if s.Lag != 0 {
			return false
		}
	}
	return true
}

func printProgress(out io.Writer, start time.Time, st connector.Status, total int) {
	var consumed, written, dead int64
	var per []string
	for _, s := range st.Syncs {
		consumed += s.Consumed
		written += s.Written
		dead += s.DeadLettered
		per = append(per, fmt.Sprintf("%s %d", s.Name, s.Written))
	}
	fmt.Fprintf(out, "[%4.1fs] consumed %d/%d  written %d  dead-lettered %d  (written: %s)\n",
		time.Since(start).Seconds(), consumed, total, written, dead, strings.Join(per, ", "))
}

// committedAtEnd reports whether the group's committed offsets equal the end
// of every partition.
func committedAtEnd(ctx context.Context, broker, group string, topics []string) (bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		c, found := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && (!found || c.At != o.Offset) {
			ok = false
		}
	})
	return ok, nil
}

func summary(out io.Writer, res *Result, runner *connector.Runner, keep bool) {
	fmt.Fprintf(out, "\nDone in %.1fs: %d change events from 5 warehouse tables.\n\n", res.Elapsed.Seconds(), res.Produced)
	written := counterBy(runner, "zohosink_records_written_total", "operation")
	skipped := counterBy(runner, "zohosink_records_skipped_total", "reason")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sync\tmodule\ttype/mode\tconsumed\twritten\tskipped\tdead-lettered\t")
	var c, w, s, d int64
	for _, st := range res.Status.Syncs {
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%d\t%d\t%d\t%d\t\n", st.Name, st.Module, st.Type, st.Mode, st.Consumed, st.Written, st.Skipped, st.DeadLettered)
		c, w, s, d = c+st.Consumed, w+st.Written, s+st.Skipped, d+st.DeadLettered
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%d\t%d\t\n", c, w, s, d)
	tw.Flush()
	check := "consumed = written + skipped + dead-lettered"
	if c != w+s+d {
		check = fmt.Sprintf("MISMATCH: consumed %d != %d", c, w+s+d)
	}
	fmt.Fprintf(out, "(%s)\n\n", check)
	fmt.Fprintf(out, "Written by operation: %s\n", joinCounts(written))
	fmt.Fprintf(out, "Skipped by reason:    %s\n", joinCounts(skipped))
	perCall := 0.0
	if res.WriteCalls > 0 {
		perCall = float64(res.WriteRecords) / float64(res.WriteCalls)
	}
	fmt.Fprintf(out, "Zoho API:             %d calls (%s), %d credits used; writes carried %.1f records per call\n", res.APICalls, callKinds(res.Calls), res.Credits, perCall)
	lag := "at the end of every partition (lag 0)"
	if !res.LagZero {
		lag = "NOT at the end of every partition"
	}
	fmt.Fprintf(out, "Committed offsets:    %s\n\n", lag)
	if len(res.DeadLetters) > 0 {
		fmt.Fprintf(out, "Dead-lettered (%d), with the reason each carries in its headers:\n", len(res.DeadLetters))
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		for _, dl := range res.DeadLetters {
			msg := reason(dl)
			if r := []rune(msg); len(r) > 90 {
				msg = string(r[:87]) + "..."
			}
			fmt.Fprintf(tw, "  %s\t%s/%d@%d\t%s\t%s\t%s\t%s\n", dl.Sync, dl.Topic, dl.Partition, dl.Offset, dl.Stage, dl.Code, dl.Field, msg)
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	if !keep {
		fmt.Fprintf(out, "Next: `%s demo --keep` leaves the stack up to explore (metrics, /status, the dead-letter topic);\n", invokedAs())
	}
	fmt.Fprintln(out, "README.md walks from here to a real Kafka + Debezium + Zoho CRM setup.")
}

// callKinds lists calls by kind, the most first: "6 upsert, 5 fields,
// 1 token".
func callKinds(calls map[string]int) string {
	kinds := make([]string, 0, len(calls))
	for k := range calls {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if calls[kinds[i]] != calls[kinds[j]] {
			return calls[kinds[i]] > calls[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", calls[k], k)
	}
	return strings.Join(parts, ", ")
}

// reason is a dead letter's message without what the row's other columns
// show: the decoder's messages start with where the record came from
// ("schema: decode value of t/0@12 (schema id 9): schema id 9: not found"
// reads "value: schema id 9: not found").
func reason(dl dlq.Letter) string {
	msg, ok := strings.CutPrefix(dl.Message, "schema: decode ")
	if !ok {
		return dl.Message
	}
	msg = strings.Replace(msg, fmt.Sprintf(" of %s/%d@%d", dl.Topic, dl.Partition, dl.Offset), "", 1)
	// "value (schema id 9): schema id 9: ..." names the schema twice.
	if open := strings.Index(msg, " (schema id "); open >= 0 {
		if end := strings.Index(msg[open:], "): "); end >= 0 {
			id := msg[open+2 : open+end] // "schema id 9"
			if rest := msg[open+end+3:]; strings.HasPrefix(rest, id) {
				msg = msg[:open] + ": " + rest
			}
		}
	}
	return msg
}

// invokedAs is how the user ran zohosink: `go run ./cmd/zohosink` (a binary
// in Go's build cache) or the binary's name.
func invokedAs() string {
	if exe := os.Args[0]; strings.Contains(exe, "go-build") || strings.Contains(exe, os.TempDir()+string(filepath.Separator)+"go-") {
		return "go run ./cmd/zohosink"
	}
	return "zohosink"
}

// counterBy sums a counter family by one label.
func counterBy(runner *connector.Runner, name, by string) map[string]float64 {
	out := map[string]float64{}
	mfs, err := runner.Registry().Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, by)] += m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func joinCounts(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, int(m[k])))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

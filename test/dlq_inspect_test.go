package test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

const dlqInspectConfig = `kafka: {brokers: ["{{.Broker}}"], group_id: {{.Group}}, commit_interval: 200ms}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`

// A group that never dead-lettered anything has no dead-letter topic: that
// is no dead letters, not an error.
func TestDeadLetterInspectNoTopicYet(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	cfg := s.config(dlqInspectConfig, map[string]string{"Group": "freshgroup"})
	code, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", cfg)
	want := "no dead letters: the dead-letter topic freshgroup.dlq does not exist yet"
	if code != 0 || !strings.HasPrefix(stdout, want) || stderr != "" {
		t.Fatalf("dlq inspect: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, stdout, stderr, want)
	}
	// --json keeps stdout empty (a pipe into jq reads no records) and says
	// why on stderr.
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--json")
	if code != 0 || stdout != "" || !strings.HasPrefix(stderr, want) {
		t.Fatalf("dlq inspect --json: exit %d, stdout %q, stderr %q; want exit 0, nothing on stdout and %q on stderr", code, stdout, stderr, want)
	}
}

// A negative --limit is a mistake, not "all".
func TestDeadLetterInspectNegativeLimit(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	cfg := s.config(dlqInspectConfig, map[string]string{"Group": "neg"})
	code, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--limit", "-1")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--limit -1") || !strings.Contains(stderr, "0 (the default) for all") {
		t.Fatalf("dlq inspect --limit -1: exit %d, stdout %q, stderr %q; want exit 2 and why", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", cfg, "--max-replays", "0")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--max-replays 0") {
		t.Fatalf("dlq replay --max-replays 0: exit %d, stdout %q, stderr %q; want exit 2 and why", code, stdout, stderr)
	}
}

// dlq, dlq inspect and dlq replay each have their own help: their own
// flags and examples, not the others'.
func TestDeadLetterHelpPerSubcommand(t *testing.T) {
	help := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCmd(t, nil, append(args, "--help")...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v --help: exit %d, stderr %q", args, code, stderr)
		}
		return stdout
	}
	dlq, inspect, replay := help("dlq"), help("dlq", "inspect"), help("dlq", "replay")
	if dlq == inspect || dlq == replay || inspect == replay {
		t.Fatalf("the helps are not distinct:\n--- dlq\n%s\n--- inspect\n%s\n--- replay\n%s", dlq, inspect, replay)
	}
	for _, c := range []struct {
		name, text  string
		has, hasNot []string
	}{
		{"dlq", dlq, []string{"dlq inspect --help", "dlq replay --help", "Examples:"}, []string{"\n  -"}},
		{"dlq inspect", inspect, []string{"\n  -limit int", "\n  -json", "\n  -all", "\n  -config", "STATE", "pending", "left", "replayed", "zohosink dlq inspect --config"},
			[]string{"\n  -max-replays", "\n  -from-start", "\n  -drain-timeout", "\n  -http", "zohosink dlq replay --config"}},
		{"dlq replay", replay, []string{"\n  -max-replays int", "\n  -from-start", "\n  -drain-timeout", "\n  -http", "\n  -config", "--from-start --max-replays", "zohosink dlq replay --config"},
			[]string{"\n  -limit", "\n  -json", "\n  -all", "zohosink dlq inspect --config"}},
	} {
		for _, w := range c.has {
			if !strings.Contains(c.text, w) {
				t.Errorf("%s --help lacks %q:\n%s", c.name, w, c.text)
			}
		}
		for _, w := range c.hasNot {
			if strings.Contains(c.text, w) {
				t.Errorf("%s --help shows %q, another subcommand's:\n%s", c.name, w, c.text)
			}
		}
	}
}

// A broker that cannot be talked to is named, with what to check, well
// within inspect's 60s bound: nothing listening, or a SASL setting that does
// not match the listener.
func TestDeadLetterInspectUnreachableBroker(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	dead := freeAddr(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	withSASL := kc.ListenAddrs()[0]
	for _, c := range []struct {
		name, broker, sasl string
		want               []string
	}{
		{"nothing listening", dead, "", []string{"connection refused", "kafka.brokers", "kafka.tls", "kafka.sasl"}},
		{"no SASL to a SASL listener", withSASL, "", []string{"SASL", "kafka.sasl"}},
		{"wrong SASL password", withSASL, `{mechanism: plain, username: admin, password: wrong}`, []string{"kafka.sasl"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := dlqInspectConfig
			if c.sasl != "" {
				tmpl = strings.Replace(tmpl, "commit_interval: 200ms}", "commit_interval: 200ms, sasl: "+c.sasl+"}", 1)
			}
			cfg := s.config(tmpl, map[string]string{"Group": "g", "Broker": c.broker})
			begin := time.Now()
			code, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", cfg)
			took := time.Since(begin)
			if code == 0 || !strings.Contains(stderr, "cannot talk to Kafka broker(s) "+c.broker) {
				t.Fatalf("dlq inspect: exit %d, want non-zero and the broker named\n%s%s", code, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if took > 45*time.Second {
				t.Errorf("took %s", took)
			}
			t.Logf("%s: %s", took.Round(time.Millisecond), stderr)
		})
	}
}

// footer is the last line of inspect's table output.
func footer(stdout string) string {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	return lines[len(lines)-1]
}

// rows are the table's rows (header and footer left out).
func rows(stdout string) []string {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 2 {
		return nil
	}
	return lines[1 : len(lines)-1]
}

// Four rows fail to map and one fails to decode; replays without a fix
// dead-letter them again, twice. inspect shows each source record once (its
// newest copy), says how many copies it hid, tells the truth about --limit,
// and --json carries the decoded key and row.
func TestDeadLetterInspectAfterReplays(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := rowsMissingLastName(t, enc, 12) // ids 0, 3, 6, 9: MAPPING_ERROR
	bad := event(t, enc, 'c', nil, map[string]any{"id": int64(100), "email": email(100), "last_name": "X", "title": nil, "phone": nil, "note": nil})
	bad.Value = []byte("this is neither Avro nor JSON") // DECODE_ERROR
	recs = append(recs, bad)
	s.produce(recs...)
	cfg := s.config(dlqInspectConfig, map[string]string{"Group": "dlqi"})
	runUntilCommitted(t, s, cfg, "dlqi", topic)

	// Before any replay: five dead letters; --limit says it shows a part.
	code, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", cfg)
	if code != 0 || len(rows(stdout)) != 5 || footer(stdout) != "5 dead-lettered record(s) in dlqi.dlq" {
		t.Fatalf("dlq inspect: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--limit", "1")
	if code != 0 || len(rows(stdout)) != 1 || footer(stdout) != "showing 1 of 5 dead-lettered record(s) in dlqi.dlq" {
		t.Fatalf("dlq inspect --limit 1: exit %d\n%s%s", code, stdout, stderr)
	}

	// Replay without fixing anything: all five fail again, twice.
	for i := 1; i <= 2; i++ {
		code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", cfg)
		if code != 0 || !strings.Contains(stdout, "replayed 5 dead letter(s)") || !strings.Contains(stdout, "5 dead-lettered again") {
			t.Fatalf("dlq replay %d: exit %d\n%s%s", i, code, stdout, stderr)
		}
	}
	if n := len(s.deadLetters("dlqi.dlq")); n != 15 {
		t.Fatalf("%d records in the dead-letter topic, want 15 (5 failures, each dead-lettered three times)", n)
	}

	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg)
	want := "5 dead-lettered record(s) in dlqi.dlq (10 older copies superseded by replays hidden; --all shows them)"
	if code != 0 || footer(stdout) != want {
		t.Fatalf("dlq inspect after replays: exit %d, footer %q, want %q\n%s%s", code, footer(stdout), want, stdout, stderr)
	}
	var order []string
	sources := map[string]bool{}
	source := regexp.MustCompile(`\b` + regexp.QuoteMeta(topic) + `/0@\d+\b`)
	for _, r := range rows(stdout) {
		src := source.FindString(r)
		if src == "" || sources[src] || !strings.Contains(r, "  2  ") {
			t.Fatalf("row %q: want each source once, replayed twice\n%s", r, stdout)
		}
		sources[src] = true
		order = append(order, strings.TrimPrefix(src, topic+"/0@"))
	}
	if got := strings.Join(order, ","); got != "0,3,6,9,12" {
		t.Fatalf("rows in the order %s of their source offsets, want 0,3,6,9,12\n%s", got, stdout)
	}
	if len(sources) != 5 || strings.Count(stdout, "MAPPING_ERROR") != 4 || strings.Count(stdout, "DECODE_ERROR") != 1 {
		t.Fatalf("want 5 rows, one per source (4 MAPPING_ERROR, 1 DECODE_ERROR):\n%s", stdout)
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--limit", "2")
	want = "showing 2 of 5 dead-lettered record(s) in dlqi.dlq (10 older copies superseded by replays hidden; --all shows them)"
	if code != 0 || len(rows(stdout)) != 2 || footer(stdout) != want {
		t.Fatalf("dlq inspect --limit 2 after replays: exit %d, footer %q, want %q\n%s%s", code, footer(stdout), want, stdout, stderr)
	}

	// --json: the newest copies too, with the decoded key and row.
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--json")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 5 {
		t.Fatalf("dlq inspect --json: exit %d, %d lines\n%s%s", code, len(lines), stdout, stderr)
	}
	mapped := 0
	for _, l := range lines {
		var d struct {
			Code         string         `json:"code"`
			ReplayCount  int            `json:"replay_count"`
			Key, Value   []byte         // the raw fields stay
			KeyDecoded   *string        `json:"key_decoded"`
			ValueDecoded map[string]any `json:"value_decoded"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if d.ReplayCount != 2 || len(d.Key) == 0 || len(d.Value) == 0 {
			t.Fatalf("want the newest copy with its raw key and value: %s", l)
		}
		switch d.Code {
		case "MAPPING_ERROR":
			mapped++
			id, _ := d.ValueDecoded["id"].(float64)
			if d.KeyDecoded == nil || *d.KeyDecoded != `{"id":`+strconv.Itoa(int(id))+`}` || int(id)%3 != 0 ||
				d.ValueDecoded["email"] != email(int(id)) || d.ValueDecoded["last_name"] != nil || d.ValueDecoded["title"] != "T" {
				t.Fatalf("decoded key and row wrong: %s", l)
			}
			if _, ok := d.ValueDecoded["last_name"]; !ok {
				t.Fatalf("a null column is left out of value_decoded: %s", l)
			}
		case "DECODE_ERROR":
			if d.ValueDecoded != nil || strings.Contains(l, `"value_decoded"`) {
				t.Fatalf("an undecodable value has no value_decoded: %s", l)
			}
			if d.KeyDecoded == nil || *d.KeyDecoded != `{"id":100}` {
				t.Fatalf("its key decodes, so key_decoded shows it: %s", l)
			}
		default:
			t.Fatalf("code %q: %s", d.Code, l)
		}
	}
	if mapped != 4 {
		t.Fatalf("%d MAPPING_ERROR lines, want 4\n%s", mapped, stdout)
	}
	// The table shows the key as key_decoded does.
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, `{"id":100}`) || !strings.Contains(stdout, `{"id":9}`) {
		t.Fatalf("the table's keys:\n%s", stdout)
	}
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--json", "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 2 || strings.Count(stdout, `"replay_count":2`) != 2 {
		t.Fatalf("dlq inspect --json --limit 2: exit %d\n%s", code, stdout)
	}
}

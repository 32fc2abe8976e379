package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// envOf is an env lookup over a fixed map.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func noEnv(string) (string, bool) { return "", false }

// minimalYAML is the smallest config that validates.
const minimalYAML = `
kafka:
  brokers: ["localhost:9092"]
schema_registry:
  url: http://localhost:8081
zoho:
  data_center: us
  client_id: id
  client_secret: the-client-secret
  refresh_token: the-refresh-token
syncs:
  - name: contacts
    topics: ["db.public.customers"]
    module: Contacts
    type: model
    mode: upsert
    match_on: [Email]
    fields: {Last_Name: last_name, Email: email}
`

func mustParse(t *testing.T, yml string, env func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yml), env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestConfigDefaults(t *testing.T) {
	cfg := mustParse(t, minimalYAML, noEnv)
	s := cfg.Syncs[0]
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"kafka.group_id", cfg.Kafka.GroupID, "zohosink"},
		{"kafka.dead_letter_topic", cfg.Kafka.DeadLetterTopic, "zohosink.dlq"},
		{"kafka.start_offset", cfg.Kafka.StartOffset, "earliest"},
		{"kafka.commit_interval", cfg.Kafka.CommitInterval.D(), 2 * time.Second},
		{"kafka.session_timeout", cfg.Kafka.SessionTimeout.D(), 45 * time.Second},
		{"kafka.rebalance_timeout", cfg.Kafka.RebalanceTimeout.D(), 60 * time.Second},
		{"kafka.heartbeat_interval", cfg.Kafka.HeartbeatInterval.D(), 100 * time.Millisecond},
		{"zoho.environment", cfg.Zoho.Environment, "production"},
		{"zoho.edition", cfg.Zoho.Edition, "standard"},
		{"zoho.request_timeout", cfg.Zoho.RequestTimeout.D(), 30 * time.Second},
		{"zoho.max_concurrency", cfg.Zoho.MaxConcurrency, 0},
		{"syncs[0].batch_size", s.BatchSize, 100},
		{"syncs[0].linger", s.Linger.D(), time.Second},
		{"syncs[0].format", s.Format, "auto"},
		{"syncs[0].trigger", s.Trigger, []string{}},
		{"syncs[0].FieldsDefaulted", s.FieldsDefaulted, false},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:9464"},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "json"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
	if s.Trigger == nil {
		t.Error("trigger is nil: Zoho would run every automation, the product's default is none")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the minimal config does not validate: %v", err)
	}
}

func TestConfigDefaultsFollowGroupAndKeepExplicitValues(t *testing.T) {
	yml := minimalYAML + `
    batch_size: 0
    linger: 0s
    trigger: [workflow]
`
	yml = strings.Replace(yml, "kafka:\n", "kafka:\n  group_id: crm-sync\n  commit_interval: 0s\n", 1)
	cfg := mustParse(t, yml, noEnv)
	if got := cfg.Kafka.DeadLetterTopic; got != "crm-sync.dlq" {
		t.Errorf("dead_letter_topic = %q, want crm-sync.dlq (from group_id)", got)
	}
	s := cfg.Syncs[0]
	if s.BatchSize != 0 || s.Linger != 0 || cfg.Kafka.CommitInterval != 0 {
		t.Errorf("explicit zeros were replaced by defaults: batch_size %d, linger %s, commit_interval %s", s.BatchSize, s.Linger, cfg.Kafka.CommitInterval)
	}
	if !slices.Equal(s.Trigger, []string{"workflow"}) {
		t.Errorf("trigger = %v", s.Trigger)
	}
	assertProblems(t, cfg.Validate(), []wantProblem{
		{"", "kafka.commit_interval", "out of range"},
		{"contacts", "syncs[0].batch_size", "out of range"},
		{"contacts", "syncs[0].linger", "out of range"},
	})
}

// wantProblem is a Problem a test expects, its line aside.
type wantProblem struct{ Sync, Key, Message string }

func (w wantProblem) String() string {
	return Problem{Sync: w.Sync, Key: w.Key, Message: w.Message}.String()
}

// assertProblems checks that err is a *ValidationError holding exactly the
// problems of want, in any order, matching Sync and Key exactly and Message
// by substring.
func assertProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError with %d problems", err, len(want))
	}
	got := slices.Clone(ve.Problems)
	for _, w := range want {
		i := slices.IndexFunc(got, func(p Problem) bool {
			return p.Sync == w.Sync && p.Key == w.Key && strings.Contains(p.Message, w.Message)
		})
		if i < 0 {
			t.Errorf("missing problem %s (sync %q key %q); got:\n%s", w, w.Sync, w.Key, ve.Error())
			continue
		}
		got = slices.Delete(got, i, i+1)
	}
	for _, p := range got {
		t.Errorf("unexpected problem: %s", p)
	}
}

func TestConfigEnvExpansion(t *testing.T) {
	env := envOf(map[string]string{
		"BROKER": "kafka:9092", "N": "7", "SECRET": "s3cr#t: x", "A": "a", "B": "b", "EMPTY": "", "BOOL": "true",
		"DURATION": "750ms", "AMOUNT": "100", "TILDE": "~",
	})
	for _, c := range []struct {
		name  string
		yml   string // replaces "  data_center: us\n"
		check func(*Config) (got, want any)
	}{
		{"list element", "  data_center: us\n", func(c *Config) (any, any) { return c.Kafka.Brokers, []string{"kafka:9092"} }},
		{"number", "  data_center: us\n  max_concurrency: ${N}\n", func(c *Config) (any, any) { return c.Zoho.MaxConcurrency, 7 }},
		{"duration", "  data_center: us\n  request_timeout: ${DURATION}\n", func(c *Config) (any, any) { return c.Zoho.RequestTimeout.D(), 750 * time.Millisecond }},
		{"YAML-looking value stays a string", "  data_center: us\n  accounts_url: ${SECRET}\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "s3cr#t: x" }},
		{"boolean-looking value into a string", "  data_center: us\n  accounts_url: ${BOOL}\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "true" }},
		{"null-looking value into a string", "  data_center: us\n  accounts_url: ${TILDE}\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "~" }},
		{"several in one value", "  data_center: us\n  accounts_url: ${A}-${B}\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "a-b" }},
		{"quoted", "  data_center: us\n  accounts_url: \"x${A}\"\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "xa" }},
		{"empty variable takes the default", "  data_center: us\n  edition: ${EMPTY}\n", func(c *Config) (any, any) { return c.Zoho.Edition, "standard" }},
		{"$${ escapes", "  data_center: us\n  accounts_url: pa$${A}ss\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "pa${A}ss" }},
		{"lone $ is kept", "  data_center: us\n  accounts_url: a$b$\n", func(c *Config) (any, any) { return c.Zoho.AccountsURL, "a$b$" }},
		{"comments are not expanded", "  data_center: us # ${UNSET}\n", func(c *Config) (any, any) { return c.Zoho.DataCenter, "us" }},
		{"constants take the type of the value", "  data_center: us\n", func(c *Config) (any, any) { return c.Syncs[0].Constants["Amount"], 100 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := strings.Replace(minimalYAML, "  data_center: us\n", c.yml, 1)
			yml = strings.Replace(yml, `["localhost:9092"]`, `["${BROKER}"]`, 1)
			yml += "    constants:\n      Amount: ${AMOUNT}\n"
			got, want := c.check(mustParse(t, yml, env))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestConfigEnvErrors(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        []string
	}{
		{"unset", "${ZOHO_CLIENT_SECRET}", []string{"line 9", "zoho.client_secret", "environment variable ZOHO_CLIENT_SECRET is not set"}},
		{"unterminated", "${ZOHO", []string{"line 9", "zoho.client_secret", "unterminated ${"}},
		{"bad name", "${1X}", []string{"line 9", "zoho.client_secret", "${1X} is not a valid environment variable name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := strings.Replace(minimalYAML, "the-client-secret", c.value, 1)
			_, err := Parse([]byte(yml), noEnv)
			if err == nil {
				t.Fatal("Parse accepted the config")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// Every unset variable is reported, not only the first.
	yml := strings.Replace(minimalYAML, "the-client-secret", "${S1}", 1)
	yml = strings.Replace(yml, "the-refresh-token", "${S2}", 1)
	_, err := Parse([]byte(yml), noEnv)
	if err == nil || !strings.Contains(err.Error(), "S1") || !strings.Contains(err.Error(), "S2") {
		t.Errorf("error %v does not name both S1 and S2", err)
	}
}

func TestConfigLoadUsesProcessEnvironment(t *testing.T) {
	t.Setenv("ZS_TEST_SECRET", "from-env")
	path := filepath.Join(t.TempDir(), "zohosink.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(minimalYAML, "the-client-secret", "${ZS_TEST_SECRET}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Zoho.ClientSecret.Reveal(); got != "from-env" {
		t.Errorf("client_secret = %q", got)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v, want an error naming the file", err)
	}
}

func TestConfigSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	secretFile := write("client-secret", "cs-from-file-123\n")
	write("refresh-token", "1000.rt-from-file\r\n")
	passFile := write("sasl", "kafka-pass-9")
	yml := strings.Replace(minimalYAML, "the-client-secret", "file:"+secretFile, 1)
	yml = strings.Replace(yml, "the-refresh-token", "file:${DIR}/refresh-token", 1)
	yml = strings.Replace(yml, "kafka:\n", "kafka:\n  sasl: {mechanism: plain, username: u, password: \"file:"+passFile+"\"}\n", 1)
	cfg := mustParse(t, yml, envOf(map[string]string{"DIR": dir}))
	for _, c := range []struct{ key, got, want string }{
		{"zoho.client_secret", cfg.Zoho.ClientSecret.Reveal(), "cs-from-file-123"},
		{"zoho.refresh_token", cfg.Zoho.RefreshToken.Reveal(), "1000.rt-from-file"},
		{"kafka.sasl.password", cfg.Kafka.SASL.Password.Reveal(), "kafka-pass-9"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
		}
	}
	// file: is only for secrets: a client id is taken as written.
	cfg2 := mustParse(t, strings.Replace(minimalYAML, "client_id: id", "client_id: file:/nope", 1), noEnv)
	if cfg2.Zoho.ClientID != "file:/nope" {
		t.Errorf("client_id = %q", cfg2.Zoho.ClientID)
	}

	for _, c := range []struct{ name, value, want string }{
		{"missing file", "file:" + filepath.Join(dir, "nope"), "line 10: zoho.refresh_token: cannot read the secret file " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"directory", "file:" + dir, "zoho.refresh_token: cannot read the secret file " + dir},
		{"no path", `"file:"`, "zoho.refresh_token: file: needs a path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(minimalYAML, "the-refresh-token", c.value, 1)), noEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestConfigSecretsNeverShown checks every way a config is printed.
func TestConfigSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"CS": "cs-0xDEADBEEF", "RT": "1000.rt-CAFEBABE", "KP": "kp-FEEDFACE", "RP": "rp-BAADF00D",
	}
	yml := strings.Replace(minimalYAML, "the-client-secret", "${CS}", 1)
	yml = strings.Replace(yml, "the-refresh-token", "${RT}", 1)
	yml = strings.Replace(yml, "kafka:\n", "kafka:\n  sasl: {mechanism: scram-sha-512, username: u, password: \"${KP}\"}\n", 1)
	yml = strings.Replace(yml, "  url: http://localhost:8081\n", "  url: http://localhost:8081\n  username: ru\n  password: ${RP}\n", 1)
	yml = strings.Replace(yml, "data_center: us", "data_center: mars", 1) // make Validate fail
	cfg := mustParse(t, yml, envOf(secrets))
	if cfg.Zoho.ClientSecret.Reveal() != secrets["CS"] {
		t.Fatalf("Reveal = %q", cfg.Zoho.ClientSecret.Reveal())
	}

	var slogJSON, slogText bytes.Buffer
	slog.New(slog.NewJSONHandler(&slogJSON, nil)).Info("config", "config", cfg, "secret", cfg.Zoho.RefreshToken)
	slog.New(slog.NewTextHandler(&slogText, nil)).Info("config", "config", cfg, "secret", cfg.Zoho.RefreshToken)
	outputs := map[string]string{
		"Validate().Error()": fmt.Sprint(cfg.Validate()),
		"Redacted()":         cfg.Redacted(),
		"Summary()":          strings.Join(cfg.Summary(), "\n"),
		"%v":                 fmt.Sprintf("%v", cfg),
		"%+v":                fmt.Sprintf("%+v", cfg),
		"%#v":                fmt.Sprintf("%#v", cfg),
		"%s of a Secret":     fmt.Sprintf("%s %q %x", cfg.Zoho.ClientSecret, cfg.Zoho.ClientSecret, cfg.Zoho.ClientSecret),
		"slog JSON":          slogJSON.String(),
		"slog text":          slogText.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the secret %q:\n%s", name, s, out)
			}
		}
	}
	for _, name := range []string{"Redacted()", "%v", "slog JSON", "slog text"} {
		if !strings.Contains(outputs[name], "[redacted]") {
			t.Errorf("%s does not show [redacted]:\n%s", name, outputs[name])
		}
	}
	if Secret("").String() != "" {
		t.Errorf("an empty secret prints %q, want it empty", Secret("").String())
	}
}

func TestConfigParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, yml string
		want      []string
	}{
		{"unknown top-level key", minimalYAML + "logs: {level: debug}\n", []string{"line 19: logs: unknown key (did you mean log?)"}},
		{"unknown nested key", strings.Replace(minimalYAML, "  data_center: us\n", "  data_center: us\n  datacenter: eu\n", 1), []string{"line 8: zoho.datacenter: unknown key (did you mean data_center?)"}},
		{"unknown sync key lists the known keys", minimalYAML + "    colour: blue\n", []string{"line 19: syncs[0].colour: unknown key (known keys of syncs[0]: name, topics,"}},
		{"scalar for a list", strings.Replace(minimalYAML, `["localhost:9092"]`, "localhost:9092", 1), []string{"line 3: kafka.brokers: expected a list"}},
		{"word for a number", strings.Replace(minimalYAML, "  data_center: us\n", "  data_center: us\n  max_concurrency: lots\n", 1), []string{"line 8: zoho.max_concurrency: \"lots\" is not a whole number"}},
		{"number for a duration", minimalYAML + "    linger: 5\n", []string{"line 19: syncs[0].linger: \"5\" is not a duration"}},
		{"list for a string", strings.Replace(minimalYAML, "module: Contacts", "module: [Contacts]", 1), []string{"line 14: syncs[0].module: expected a single value, got a list"}},
		{"duplicate key", strings.Replace(minimalYAML, "  client_id: id\n", "  client_id: id\n  client_id: other\n", 1), []string{"line 9: zoho.client_id: duplicate key (first set at line 8)"}},
		{"mapping for a section", strings.Replace(minimalYAML, "http:", "x:", 1) + "http: 9464\n", []string{"http: expected a mapping of keys (listen)"}},
		{"not YAML", "kafka: [\n", []string{"config is not valid YAML", "indentation"}},
		{"tab indentation", "kafka:\n\tbrokers: [a:1]\n", []string{"config is not valid YAML", "line 2 is indented with a tab"}},
		{"two documents", minimalYAML + "---\nkafka: {}\n", []string{"line 19: the config holds more than one YAML document"}},
		{"several at once", minimalYAML + "    colour: blue\nlogging: {}\n", []string{"syncs[0].colour", "logging: unknown key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yml), noEnv)
			if err == nil {
				t.Fatal("Parse accepted the config")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigAnchorsAndMergeKeys(t *testing.T) {
	yml := minimalYAML + `    linger: &l 250ms
  - <<: &base {module: Contacts, type: model, mode: upsert, match_on: [Email]}
    name: contacts-eu
    topics: ["db.eu.customers"]
    fields: {Last_Name: ln, Email: em}
    linger: *l
`
	cfg := mustParse(t, yml, noEnv)
	s := cfg.Syncs[1]
	if s.Module != "Contacts" || s.Mode != "upsert" || s.Linger.D() != 250*time.Millisecond || s.BatchSize != 100 {
		t.Errorf("merged sync = %+v", s)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := Parse([]byte(minimalYAML+"  - <<: {modul: Contacts}\n    name: x\n"), noEnv); err == nil || !strings.Contains(err.Error(), "syncs[1].modul") {
		t.Errorf("unknown key in a merged mapping: %v", err)
	}
}

// A key written beside a merge key overrides the merged one (that is what
// merge keys are for); of several merged mappings the earlier wins; a key
// written twice in one mapping is still a duplicate. Top-level x- keys hold
// anchors and are otherwise ignored.
func TestConfigMergeKeysOverride(t *testing.T) {
	yml := `x-defaults: &leads {module: Leads, type: model, mode: upsert, match_on: [Email], <<: &slow {linger: 2s, batch_size: 10, format: json}}
x-fields:
  leadfields: &leadfields {Last_Name: ln, Email: em, Company: company}
` + minimalYAML + `    linger: 250ms
  - <<: &base {module: Contacts, type: model, mode: upsert, match_on: [Email], batch_size: 50}
    name: contacts-insert
    topics: ["db.eu.customers"]
    mode: insert
    match_on: []
    fields: {Last_Name: ln, Email: em}
  - <<: [*base, *slow]
    name: contacts-slow
    topics: ["db.us.customers"]
    fields: {Last_Name: ln, Email: em}
  - <<: *leads
    name: leads
    topics: ["db.public.leads"]
    fields: {<<: *leadfields, Company: org}
`
	cfg := mustParse(t, yml, noEnv)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sync    int
		got     any
		want    any
		meaning string
	}{
		{1, cfg.Syncs[1].Mode, "insert", "a key written beside << wins"},
		{1, len(cfg.Syncs[1].MatchOn), 0, "a key written beside << wins, even empty"},
		{1, cfg.Syncs[1].BatchSize, 50, "a key only merged is taken"},
		{2, cfg.Syncs[2].BatchSize, 50, "the earlier of <<: [*a, *b] wins"},
		{2, cfg.Syncs[2].Linger.D(), 2 * time.Second, "a key of the later merged mapping alone is taken"},
		{3, cfg.Syncs[3].Module, "Leads", "merged from an x- key"},
		{3, cfg.Syncs[3].Linger.D(), 2 * time.Second, "merged through a merged mapping's own <<"},
		{3, cfg.Syncs[3].Fields["Company"], "org", "a merge key inside fields, overridden"},
		{3, cfg.Syncs[3].Fields["Email"], "em", "a merge key inside fields"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("syncs[%d]: got %v, want %v: %s", c.sync, c.got, c.want, c.meaning)
		}
	}

	for _, c := range []struct{ name, yml, want string }{
		{"written twice beside <<", minimalYAML + "  - <<: {module: Contacts}\n    name: x\n    name: y\n", "line 21: syncs[1].name: duplicate key (first set at line 20)"},
		{"written twice in the merged mapping", minimalYAML + "  - <<: {module: Contacts, module: Leads}\n    name: x\n", "syncs[1].module: duplicate key (first set at line 19)"},
		{"an unknown key under x- is not checked, a nested x- key is", minimalYAML + "x-anything: {colour: blue}\nlog: {x-level: debug}\n", "log.x-level: unknown key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yml), noEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "x-anything") {
				t.Errorf("a top-level x- key reported: %v", err)
			}
		})
	}
}

func TestConfigAliasAbuse(t *testing.T) {
	bomb := "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 8; i++ {
		bomb += fmt.Sprintf("a%d: &a%d [*a%d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	for _, c := range []struct{ name, yml, want string }{
		{"cycle in constants", minimalYAML + "    constants: &c {A: *c}\n", "syncs[0].constants.A: an alias refers to a value that contains it"},
		{"cycle in a list", strings.Replace(minimalYAML, "match_on: [Email]", "match_on: &m [*m]", 1), "an alias refers to a value that contains it"},
		{"billion laughs", minimalYAML + "    constants:\n      " + strings.ReplaceAll(bomb, "\n", "\n      ") + "\n", "too many values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yml), noEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestConfigEmpty(t *testing.T) {
	cfg := mustParse(t, "# nothing yet\n", noEnv)
	assertProblems(t, cfg.Validate(), []wantProblem{
		{"", "kafka.brokers", "required"},
		{"", "zoho.data_center", "required"},
		{"", "zoho.client_id", "required"},
		{"", "zoho.client_secret", "required"},
		{"", "zoho.refresh_token", "required"},
		{"", "syncs", "at least one sync"},
	})
}

// validBase is a valid config using most features, for Validate's table.
const validBase = `
kafka:
  brokers: ["localhost:9092"]
schema_registry:
  url: http://localhost:8081
zoho:
  data_center: us
  client_id: id
  client_secret: cs
  refresh_token: rt
syncs:
  - name: contacts
    topics: ["db.public.customers"]
    module: Contacts
    type: model
    mode: upsert
    match_on: [Email]
    fields: {Last_Name: last_name, Email: email}
    constants: {Lead_Source: Warehouse}
  - name: members
    topics: ["db.public.members"]
    module: Leads
    type: audience
    mode: mirror
    match_on: [Email]
    fields: {Last_Name: last_name, Email: email, Company: company}
    remove_action: untag
    tag: Member
`

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := mustParse(t, validBase, noEnv)
	if err := base.Validate(); err != nil {
		t.Fatalf("the base config does not validate: %v", err)
	}
	const c0, c1 = "contacts", "members"
	for _, c := range []struct {
		name   string
		mutate func(c *Config)
		want   []wantProblem
	}{
		// kafka
		{"brokers required", func(c *Config) { c.Kafka.Brokers = nil }, []wantProblem{{"", "kafka.brokers", "required"}}},
		{"broker is a URL", func(c *Config) { c.Kafka.Brokers = []string{"kafka://b:9092"} }, []wantProblem{{"", "kafka.brokers[0]", "is a URL"}}},
		{"broker list in one string", func(c *Config) { c.Kafka.Brokers = []string{"a:9092,b:9092"} }, []wantProblem{{"", "kafka.brokers[0]", "own item"}}},
		{"group required", func(c *Config) { c.Kafka.GroupID = "" }, []wantProblem{{"", "kafka.group_id", "required"}}},
		{"dead-letter topic required", func(c *Config) { c.Kafka.DeadLetterTopic = "" }, []wantProblem{{"", "kafka.dead_letter_topic", "required"}}},
		{"dead-letter topic name", func(c *Config) { c.Kafka.DeadLetterTopic = "dead letters" }, []wantProblem{{"", "kafka.dead_letter_topic", "not a valid Kafka topic name"}}},
		{"start offset", func(c *Config) { c.Kafka.StartOffset = "newest" }, []wantProblem{{"", "kafka.start_offset", `"newest" is not earliest or latest`}}},
		{"commit interval zero", func(c *Config) { c.Kafka.CommitInterval = 0 }, []wantProblem{{"", "kafka.commit_interval", "out of range"}}},
		{"commit interval above 5s", func(c *Config) { c.Kafka.CommitInterval = Duration(6 * time.Second) }, []wantProblem{{"", "kafka.commit_interval", "at most 5s"}}},
		{"session timeout", func(c *Config) { c.Kafka.SessionTimeout = 0 }, []wantProblem{{"", "kafka.session_timeout", "more than 0"}}},
		{"rebalance timeout", func(c *Config) { c.Kafka.RebalanceTimeout = Duration(-time.Second) }, []wantProblem{{"", "kafka.rebalance_timeout", "more than 0"}}},
		{"heartbeat past a third of the session", func(c *Config) { c.Kafka.HeartbeatInterval = Duration(20 * time.Second) }, []wantProblem{{"", "kafka.heartbeat_interval", "a third of kafka.session_timeout"}}},
		{"tls file missing", func(c *Config) {
			c.Kafka.TLS = TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}
		}, []wantProblem{{"", "kafka.tls.ca_file", "no such file"}}},
		{"tls file is a directory", func(c *Config) { c.Kafka.TLS = TLSConfig{Enabled: true, CAFile: dir} }, []wantProblem{{"", "kafka.tls.ca_file", "is a directory"}}},
		{"tls cert without key", func(c *Config) { c.Kafka.TLS = TLSConfig{Enabled: true, CertFile: pem} }, []wantProblem{{"", "kafka.tls.key_file", "go together"}}},
		{"tls files not checked when disabled", func(c *Config) { c.Kafka.TLS = TLSConfig{CAFile: filepath.Join(dir, "nope.pem")} }, nil},
		{"tls files present", func(c *Config) { c.Kafka.TLS = TLSConfig{Enabled: true, CAFile: pem, CertFile: pem, KeyFile: pem} }, nil},
		{"sasl mechanism", func(c *Config) { c.Kafka.SASL = SASLConfig{Mechanism: "gssapi", Username: "u", Password: "p"} }, []wantProblem{{"", "kafka.sasl.mechanism", "not one of plain, scram-sha-256, scram-sha-512"}}},
		{"sasl mechanism spelling", func(c *Config) { c.Kafka.SASL = SASLConfig{Mechanism: "SCRAM_SHA_256", Username: "u", Password: "p"} }, []wantProblem{{"", "kafka.sasl.mechanism", "write scram-sha-256"}}},
		{"sasl credentials", func(c *Config) { c.Kafka.SASL = SASLConfig{Mechanism: "plain"} }, []wantProblem{
			{"", "kafka.sasl.username", "required with sasl.mechanism plain"}, {"", "kafka.sasl.password", "required"},
		}},
		// schema registry
		{"registry required for auto", func(c *Config) { c.SchemaRegistry.URL = "" }, []wantProblem{{"", "schema_registry.url", `sync "contacts" decodes with format auto`}}},
		{"registry not required for json", func(c *Config) {
			c.SchemaRegistry.URL = ""
			c.Syncs[0].Format, c.Syncs[1].Format = "json", "json"
		}, nil},
		{"registry url", func(c *Config) { c.SchemaRegistry.URL = "localhost:8081" }, []wantProblem{{"", "schema_registry.url", "not an http:// or https:// URL"}}},
		{"registry password without user", func(c *Config) { c.SchemaRegistry.Password = "p" }, []wantProblem{{"", "schema_registry.username", "required"}}},
		// zoho
		{"data center required", func(c *Config) { c.Zoho.DataCenter = "" }, []wantProblem{{"", "zoho.data_center", "required"}}},
		{"data center", func(c *Config) { c.Zoho.DataCenter = "US" }, []wantProblem{{"", "zoho.data_center", "(write us)"}}},
		{"environment", func(c *Config) { c.Zoho.Environment = "staging" }, []wantProblem{{"", "zoho.environment", "not one of production, sandbox, developer"}}},
		{"client id", func(c *Config) { c.Zoho.ClientID = "" }, []wantProblem{{"", "zoho.client_id", "required"}}},
		{"client secret", func(c *Config) { c.Zoho.ClientSecret = "" }, []wantProblem{{"", "zoho.client_secret", "required"}}},
		{"refresh token", func(c *Config) { c.Zoho.RefreshToken = "" }, []wantProblem{{"", "zoho.refresh_token", "zohosink auth"}}},
		{"edition", func(c *Config) { c.Zoho.Edition = "premium" }, []wantProblem{{"", "zoho.edition", "not one of free, standard"}}},
		{"concurrency range", func(c *Config) { c.Zoho.MaxConcurrency = 26; c.Zoho.Edition = "ultimate" }, []wantProblem{{"", "zoho.max_concurrency", "out of range 0..25"}}},
		{"concurrency negative", func(c *Config) { c.Zoho.MaxConcurrency = -1 }, []wantProblem{{"", "zoho.max_concurrency", "out of range"}}},
		{"concurrency above the edition", func(c *Config) { c.Zoho.MaxConcurrency = 6; c.Zoho.Edition = "free" }, []wantProblem{{"", "zoho.max_concurrency", "free edition's limit of 5"}}},
		{"concurrency at the edition's limit", func(c *Config) { c.Zoho.MaxConcurrency = 20; c.Zoho.Edition = "enterprise" }, nil},
		{"credit budget", func(c *Config) { c.Zoho.DailyCreditBudget = -5 }, []wantProblem{{"", "zoho.daily_credit_budget", "0 (no budget) or more"}}},
		{"request timeout", func(c *Config) { c.Zoho.RequestTimeout = 0 }, []wantProblem{{"", "zoho.request_timeout", "more than 0"}}},
		{"requests per second", func(c *Config) { c.Zoho.RequestsPerSecond = -1 }, []wantProblem{{"", "zoho.requests_per_second", "0 (no cap) or more"}}},
		{"api domain", func(c *Config) { c.Zoho.APIDomain = "www.zohoapis.com" }, []wantProblem{{"", "zoho.api_domain", "not an http:// or https:// URL"}}},
		{"accounts url", func(c *Config) { c.Zoho.AccountsURL = "https://" }, []wantProblem{{"", "zoho.accounts_url", "has no host"}}},
		{"local overrides are fine", func(c *Config) {
			c.Zoho.APIDomain, c.Zoho.AccountsURL = "http://127.0.0.1:4242", "http://127.0.0.1:4242"
		}, nil},
		// syncs
		{"no syncs", func(c *Config) { c.Syncs = nil }, []wantProblem{{"", "syncs", "at least one sync"}}},
		{"name required", func(c *Config) { c.Syncs[0].Name = "" }, []wantProblem{{"", "syncs[0].name", "required"}}},
		{"name characters", func(c *Config) { c.Syncs[0].Name = "Contacts EU" }, []wantProblem{{"Contacts EU", "syncs[0].name", "only a-z, 0-9, _ and -"}}},
		{"name unique", func(c *Config) { c.Syncs[1].Name = c0 }, []wantProblem{{c0, "syncs[1].name", "also the name of syncs[0]"}}},
		{"topics required", func(c *Config) { c.Syncs[0].Topics = nil }, []wantProblem{{c0, "syncs[0].topics", "required"}}},
		{"topic in two syncs", func(c *Config) { c.Syncs[1].Topics = []string{"x", "db.public.customers"} }, []wantProblem{{c1, "syncs[1].topics[1]", `also read by sync "contacts"`}}},
		{"topic twice in a sync", func(c *Config) { c.Syncs[0].Topics = []string{"t", "t"} }, []wantProblem{{c0, "syncs[0].topics[1]", "listed twice"}}},
		{"topic name", func(c *Config) { c.Syncs[0].Topics = []string{"db/customers"} }, []wantProblem{{c0, "syncs[0].topics[0]", "not a valid Kafka topic name"}}},
		{"topic is the dead-letter topic", func(c *Config) { c.Syncs[0].Topics = []string{"zohosink.dlq"} }, []wantProblem{{c0, "syncs[0].topics[0]", "dead-letter topic"}}},
		{"module case", func(c *Config) { c.Syncs[0].Module = "contacts" }, []wantProblem{{c0, "syncs[0].module", "write Contacts"}}},
		{"module singular", func(c *Config) { c.Syncs[0].Module = "Contact" }, []wantProblem{{c0, "syncs[0].module", "write Contacts"}}},
		{"module unknown", func(c *Config) { c.Syncs[0].Module = "Vendors" }, []wantProblem{{c0, "syncs[0].module", "not one of Contacts, Leads, Accounts, Deals"}}},
		{"type", func(c *Config) { c.Syncs[0].Type = "table" }, []wantProblem{{c0, "syncs[0].type", "not one of model, audience"}}},
		{"mode of another type", func(c *Config) { c.Syncs[0].Mode = "mirror" }, []wantProblem{{c0, "syncs[0].mode", "mirror is a mode of type audience"}}},
		{"mode", func(c *Config) { c.Syncs[1].Mode = "insert" }, []wantProblem{{c1, "syncs[1].mode", "not a mode of type audience"}}},
		{"match_on for upsert", func(c *Config) { c.Syncs[0].MatchOn = nil }, []wantProblem{{c0, "syncs[0].match_on", "required for model mode upsert"}}},
		{"match_on for update", func(c *Config) { c.Syncs[0].Mode = "update"; c.Syncs[0].MatchOn = nil }, []wantProblem{{c0, "syncs[0].match_on", "required for model mode update"}}},
		{"match_on not needed for insert", func(c *Config) { c.Syncs[0].Mode = "insert"; c.Syncs[0].MatchOn = nil }, nil},
		{"match_on for audience", func(c *Config) { c.Syncs[1].MatchOn = nil }, []wantProblem{{c1, "syncs[1].match_on", "required for audience mode mirror"}}},
		{"match_on mapped", func(c *Config) { c.Syncs[0].MatchOn = []string{"Phone"} }, []wantProblem{{c0, "syncs[0].match_on[0]", "Phone is not mapped"}}},
		{"match_on by constant", func(c *Config) { c.Syncs[0].MatchOn = []string{"Lead_Source"} }, nil},
		{"match_on twice", func(c *Config) { c.Syncs[0].MatchOn = []string{"Email", "Email"} }, []wantProblem{{c0, "syncs[0].match_on[1]", "listed twice"}}},
		{"match_on name", func(c *Config) { c.Syncs[0].MatchOn = []string{"e-mail"} }, []wantProblem{{c0, "syncs[0].match_on[0]", "not a Zoho field API name"}}},
		{"remove_action for model", func(c *Config) { c.Syncs[0].RemoveAction = "delete" }, []wantProblem{{c0, "syncs[0].remove_action", "not allowed for model syncs"}}},
		{"remove_action for mirror", func(c *Config) { c.Syncs[1].RemoveAction = "" }, []wantProblem{{c1, "syncs[1].remove_action", "required for audience mode mirror (no default)"}}},
		{"remove_action for remove", func(c *Config) { c.Syncs[1].Mode = "remove"; c.Syncs[1].RemoveAction = "" }, []wantProblem{{c1, "syncs[1].remove_action", "required for audience mode remove"}}},
		{"remove_action for add", func(c *Config) { c.Syncs[1].Mode = "add" }, []wantProblem{{c1, "syncs[1].remove_action", "no effect in audience mode add"}}},
		{"remove_action value", func(c *Config) { c.Syncs[1].RemoveAction = "archive" }, []wantProblem{{c1, "syncs[1].remove_action", "not one of delete, untag, clear_fields"}}},
		{"tag for untag", func(c *Config) { c.Syncs[1].Tag = "" }, []wantProblem{{c1, "syncs[1].tag", "required with remove_action untag"}}},
		{"tag for model", func(c *Config) { c.Syncs[0].Tag = "x" }, []wantProblem{{c0, "syncs[0].tag", "for audience syncs"}}},
		{"clear_fields required", func(c *Config) { c.Syncs[1].RemoveAction = "clear_fields" }, []wantProblem{{c1, "syncs[1].clear_fields", "required with remove_action clear_fields"}}},
		{"clear_fields valid", func(c *Config) {
			c.Syncs[1].RemoveAction = "clear_fields"
			c.Syncs[1].ClearFields = []string{"Lead_Status"}
		}, nil},
		{"clear_fields without the action", func(c *Config) { c.Syncs[1].ClearFields = []string{"Lead_Status"} }, []wantProblem{{c1, "syncs[1].clear_fields", "no effect"}}},
		{"clear_fields of a required field", func(c *Config) {
			c.Syncs[1].RemoveAction = "clear_fields"
			c.Syncs[1].ClearFields = []string{"Company", "Email", "x y"}
		}, []wantProblem{
			{c1, "syncs[1].clear_fields[0]", "required by module Leads"},
			{c1, "syncs[1].clear_fields[1]", "in match_on"},
			{c1, "syncs[1].clear_fields[2]", "not a Zoho field API name"},
		}},
		{"trigger", func(c *Config) { c.Syncs[0].Trigger = []string{"workflow", "webhook"} }, []wantProblem{{c0, "syncs[0].trigger[1]", `"webhook" is not one of workflow, approval`}}},
		{"batch size zero", func(c *Config) { c.Syncs[0].BatchSize = 0 }, []wantProblem{{c0, "syncs[0].batch_size", "out of range 1..100"}}},
		{"batch size above 100", func(c *Config) { c.Syncs[0].BatchSize = 101 }, []wantProblem{{c0, "syncs[0].batch_size", "out of range 1..100"}}},
		{"linger zero", func(c *Config) { c.Syncs[0].Linger = 0 }, []wantProblem{{c0, "syncs[0].linger", "out of range"}}},
		{"linger too long", func(c *Config) { c.Syncs[0].Linger = Duration(time.Hour) }, []wantProblem{{c0, "syncs[0].linger", "at most 5m0s"}}},
		{"format", func(c *Config) { c.Syncs[0].Format = "protobuf" }, []wantProblem{{c0, "syncs[0].format", "not one of auto, avro, json"}}},
		{"required field of Contacts", func(c *Config) { delete(c.Syncs[0].Fields, "Last_Name") }, []wantProblem{{c0, "syncs[0].fields", "module Contacts requires Last_Name: map it under fields (Last_Name: <column>) or constants"}}},
		{"required field of Leads", func(c *Config) { delete(c.Syncs[1].Fields, "Company") }, []wantProblem{{c1, "syncs[1].fields", "module Leads requires Company"}}},
		{"required fields of Deals", func(c *Config) {
			c.Syncs[0].Module, c.Syncs[0].MatchOn = "Deals", []string{"Deal_Name"}
			c.Syncs[0].Fields = map[string]string{"Deal_Name": "name"}
		}, []wantProblem{{c0, "syncs[0].fields", "module Deals requires Stage"}}},
		{"required field of Accounts by constant", func(c *Config) {
			c.Syncs[0].Module, c.Syncs[0].MatchOn = "Accounts", []string{"Website"}
			c.Syncs[0].Fields = map[string]string{"Website": "site"}
			c.Syncs[0].Constants = map[string]any{"Account_Name": "Acme"}
		}, nil},
		{"required fields not needed for update", func(c *Config) { c.Syncs[0].Mode = "update"; delete(c.Syncs[0].Fields, "Last_Name") }, nil},
		{"required fields not needed for audience remove", func(c *Config) {
			c.Syncs[1].Mode = "remove"
			c.Syncs[1].Fields = map[string]string{"Email": "email"}
		}, nil},
		{"required fields for audience add", func(c *Config) {
			c.Syncs[1].Mode, c.Syncs[1].RemoveAction = "add", ""
			delete(c.Syncs[1].Fields, "Last_Name")
		}, []wantProblem{{c1, "syncs[1].fields", "module Leads requires Last_Name"}}},
		{"field name", func(c *Config) { c.Syncs[0].Fields["Mobile Phone"] = "mobile" }, []wantProblem{{c0, "syncs[0].fields.Mobile Phone", "not a Zoho field API name"}}},
		{"field column", func(c *Config) { c.Syncs[0].Fields["Phone"] = " " }, []wantProblem{{c0, "syncs[0].fields.Phone", "no source column"}}},
		{"field and constant", func(c *Config) { c.Syncs[0].Constants["Email"] = "x@y.z" }, []wantProblem{{c0, "syncs[0].constants.Email", "under fields and constants"}}},
		{"constant name", func(c *Config) { c.Syncs[0].Constants["1st"] = "x" }, []wantProblem{{c0, "syncs[0].constants.1st", "not a Zoho field API name"}}},
		{"constant without value", func(c *Config) { c.Syncs[0].Constants["Title"] = nil }, []wantProblem{{c0, "syncs[0].constants.Title", "has no value"}}},
		// http, log
		{"listen", func(c *Config) { c.HTTP.Listen = "9464" }, []wantProblem{{"", "http.listen", "not host:port"}}},
		{"listen port", func(c *Config) { c.HTTP.Listen = "localhost:http2" }, []wantProblem{{"", "http.listen", "not a number"}}},
		{"listen any port", func(c *Config) { c.HTTP.Listen = ":0" }, nil},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, []wantProblem{{"", "log.level", "not one of debug, info, warn, error"}}},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, []wantProblem{{"", "log.format", "not one of json, text"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustParse(t, validBase, noEnv)
			c.mutate(cfg)
			err := cfg.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			assertProblems(t, err, c.want)
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg, err := Load("testdata/config/invalid_many.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	assertProblems(t, err, []wantProblem{
		{"", "kafka.brokers", "required"},
		{"", "kafka.start_offset", `"newest"`},
		{"", "kafka.commit_interval", "at most 5s"},
		{"", "schema_registry.url", "not an http:// or https:// URL"},
		{"", "zoho.data_center", "(write us)"},
		{"", "zoho.max_concurrency", "standard edition's limit of 10"},
		{"Contacts", "syncs[0].name", "only a-z"},
		{"Contacts", "syncs[0].module", "write Contacts"},
		{"Contacts", "syncs[0].batch_size", "1..100"},
		{"leads", "syncs[1].topics[0]", `also read by sync "Contacts"`},
		{"leads", "syncs[1].mode", "add is a mode of type audience"},
		{"", "http.listen", "not host:port"},
		{"", "log.level", `"verbose"`},
	})
	// One line per problem, in the "sync, key, message" form,
	// with the line of the key in the file.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 13 {
		t.Errorf("Error() has %d lines, want 13:\n%s", len(lines), err)
	}
	if !slices.Contains(lines, `sync "Contacts": syncs[0].batch_size: 500 is out of range 1..100 (Zoho takes at most 100 records per call) (line 23)`) {
		t.Errorf("Error() lacks the batch_size line:\n%s", err)
	}
	if !slices.Contains(lines, `log.level: "verbose" is not one of debug, info, warn, error (line 32)`) {
		t.Errorf("Error() lacks the log.level line:\n%s", err)
	}
}

func TestConfigInvalidFiles(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string // in the error of Load
	}{
		{"invalid_unknown_keys.yaml", []string{
			"line 6: kafka.tls.ca_fil: unknown key (did you mean ca_file?)",
			"line 19: syncs[0].batchsize: unknown key (did you mean batch_size?)",
			"line 20: loglevel: unknown key",
		}},
		{"invalid_kinds.yaml", []string{
			"line 3: kafka.brokers: expected a list",
			`line 4: kafka.commit_interval: "5" is not a duration`,
			`line 7: zoho.max_concurrency: "lots" is not a whole number`,
			"line 9: zoho.client_id: duplicate key (first set at line 8)",
			"line 16: syncs[0].match_on: expected a list",
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", "config", c.file))
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(c.want) {
				t.Errorf("error has %d lines, want %d:\n%v", n, len(c.want), err)
			}
		})
	}

	cfg, err := Load("testdata/config/invalid_audience.yaml")
	if err != nil {
		t.Fatal(err)
	}
	assertProblems(t, cfg.Validate(), []wantProblem{
		{"newsletter", "syncs[0].match_on[0]", "Email is not mapped"},
		{"newsletter", "syncs[0].fields", "module Leads requires Company"},
		{"newsletter", "syncs[0].remove_action", "required for audience mode mirror"},
	})
}

func TestConfigDefaultFields(t *testing.T) {
	for _, m := range ModuleNames {
		t.Run(m, func(t *testing.T) {
			info, _ := Module(m)
			yml := fmt.Sprintf(`
kafka: {brokers: ["b:9092"]}
schema_registry: {url: "http://r:8081"}
zoho: {data_center: eu, client_id: i, client_secret: s, refresh_token: r}
syncs:
  - name: defaulted
    topics: [t]
    module: %s
    type: model
    mode: upsert
    match_on: [%s]
`, m, info.DefaultMatchField)
			cfg := mustParse(t, yml, noEnv)
			s := cfg.Syncs[0]
			if !s.FieldsDefaulted {
				t.Error("FieldsDefaulted is false")
			}
			want := map[string]string{}
			for _, f := range info.DefaultFields {
				want[f] = strings.ToLower(f)
			}
			if !maps.Equal(s.Fields, want) {
				t.Errorf("fields = %v, want %v", s.Fields, want)
			}
			if s.Fields[info.RequiredFields[0]] != strings.ToLower(info.RequiredFields[0]) {
				t.Errorf("required field %s is not mapped from its lower-case column", info.RequiredFields[0])
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("a sync on the default fields does not validate: %v", err)
			}
			summary := strings.Join(cfg.Summary(), "\n")
			if !strings.Contains(summary, "(default fields)") || !strings.Contains(summary, info.RequiredFields[0]+" <- "+strings.ToLower(info.RequiredFields[0])) {
				t.Errorf("Summary does not list the default fields:\n%s", summary)
			}
		})
	}

	// An explicit empty mapping is not defaulted: it is reported.
	cfg := mustParse(t, strings.Replace(minimalYAML, "{Last_Name: last_name, Email: email}", "{}", 1), noEnv)
	if cfg.Syncs[0].FieldsDefaulted || len(cfg.Syncs[0].Fields) != 0 {
		t.Errorf("fields: {} was defaulted: %v", cfg.Syncs[0].Fields)
	}
	assertProblems(t, cfg.Validate(), []wantProblem{
		{"contacts", "syncs[0].match_on[0]", "Email is not mapped"},
		{"contacts", "syncs[0].fields", "module Contacts requires Last_Name"},
	})
}

func TestConfigSummary(t *testing.T) {
	cfg := mustParse(t, validBase, noEnv)
	got := cfg.Summary()
	want := []string{
		"kafka: brokers localhost:9092, group zohosink, dead letters to zohosink.dlq",
		"zoho: data center us (production), edition standard, concurrency the edition's limit",
		"sync contacts: db.public.customers -> Contacts, model/upsert, match_on Email",
		"  fields: Email <- email, Last_Name <- last_name",
		"  constants: Lead_Source = Warehouse",
		"sync members: db.public.members -> Leads, audience/mirror, match_on Email, remove_action untag, tag Member",
		"  fields: Company <- company, Email <- email, Last_Name <- last_name",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Summary:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// contractEnv provides the variables of the contract's example (testdata/config/contract.yaml).
var contractEnv = envOf(map[string]string{
	"ZOHO_CLIENT_ID": "1000.CLIENTID", "ZOHO_CLIENT_SECRET": "contract-secret", "ZOHO_REFRESH_TOKEN": "1000.contract-refresh",
})

func TestConfigContractExample(t *testing.T) {
	data, err := os.ReadFile("testdata/config/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data, noEnv); err == nil || !strings.Contains(err.Error(), "ZOHO_CLIENT_ID is not set") {
		t.Errorf("without its variables: %v, want ZOHO_CLIENT_ID is not set", err)
	}
	cfg, err := Parse(data, contractEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Syncs[0]
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"kafka.brokers", cfg.Kafka.Brokers, []string{"localhost:9092"}},
		{"kafka.dead_letter_topic", cfg.Kafka.DeadLetterTopic, "zohosink.dlq"},
		{"kafka.commit_interval", cfg.Kafka.CommitInterval.D(), 2 * time.Second},
		{"kafka.tls.enabled", cfg.Kafka.TLS.Enabled, false},
		{"zoho.client_id", cfg.Zoho.ClientID, "1000.CLIENTID"},
		{"zoho.refresh_token", cfg.Zoho.RefreshToken.Reveal(), "1000.contract-refresh"},
		{"zoho.request_timeout", cfg.Zoho.RequestTimeout.D(), 30 * time.Second},
		{"syncs[0].fields", s.Fields, map[string]string{"Last_Name": "last_name", "Email": "email"}},
		{"syncs[0].constants", s.Constants, map[string]any{"Lead_Source": "Warehouse"}},
		{"syncs[0].trigger", s.Trigger, []string{}},
		{"syncs[0].clear_fields", s.ClearFields, []string{}},
		{"syncs[0].linger", s.Linger.D(), time.Second},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:9464"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.key, c.got, c.want)
		}
	}
	// The example lists every key, so its sync carries audience keys a model
	// sync cannot use: exactly those are reported.
	assertProblems(t, cfg.Validate(), []wantProblem{
		{"contacts", "syncs[0].remove_action", "not allowed for model syncs"},
		{"contacts", "syncs[0].tag", "required with remove_action untag"},
	})
	cfg.Syncs[0].RemoveAction = ""
	if err := cfg.Validate(); err != nil {
		t.Errorf("the example without remove_action: %v", err)
	}
}

// missingKeys returns the keys of ReferenceKeys missing from a YAML file,
// found by their last element written as "name:" on a line.
func missingKeys(t *testing.T, file string, skip ...string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, k := range ReferenceKeys() {
		if slices.Contains(skip, k) {
			continue
		}
		leaf := k[strings.LastIndexAny(k, ".]")+1:]
		if !regexp.MustCompile(`(?m)(^|[\s{,])` + regexp.QuoteMeta(leaf) + `:`).Match(data) {
			missing = append(missing, k)
		}
	}
	return missing
}

func TestConfigFullExample(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"ca.pem": "ca", "client.pem": "cert", "client.key": "key",
		"registry-password": "registry-pass\n", "zoho-refresh-token": "1000.full-refresh\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := envOf(map[string]string{
		"POD_NAME": "zohosink-0", "TLS_DIR": dir, "SECRETS_DIR": dir, "KAFKA_PASSWORD": "kp",
		"ZOHO_CLIENT_ID": "1000.ID", "ZOHO_CLIENT_SECRET": "cs",
	})
	data, err := os.ReadFile("testdata/config/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("full.yaml does not validate: %v", err)
	}
	if cfg.Zoho.RefreshToken.Reveal() != "1000.full-refresh" || cfg.SchemaRegistry.Password.Reveal() != "registry-pass" {
		t.Errorf("file: secrets not read: %q %q", cfg.Zoho.RefreshToken.Reveal(), cfg.SchemaRegistry.Password.Reveal())
	}
	if cfg.Kafka.InstanceID != "zohosink-0" || cfg.Kafka.TLS.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("instance_id %q, ca_file %q", cfg.Kafka.InstanceID, cfg.Kafka.TLS.CAFile)
	}
	if !cfg.Syncs[1].FieldsDefaulted || cfg.Syncs[1].Fields["Company"] != "company" {
		t.Errorf("leads sync: defaulted %v, fields %v", cfg.Syncs[1].FieldsDefaulted, cfg.Syncs[1].Fields)
	}
	if m := missingKeys(t, "testdata/config/full.yaml"); len(m) > 0 {
		t.Errorf("full.yaml does not show the keys %v", m)
	}
	// The contract's example (testdata/config/contract.yaml) shows every key but zohosink's additions.
	if m := missingKeys(t, "testdata/config/contract.yaml", "kafka.tls.insecure_skip_verify", "zoho.requests_per_second", "syncs[].format", "log.progress_interval", "syncs[].skip_features", "kafka.max_buffered_bytes", "kafka.heartbeat_interval"); len(m) > 0 {
		t.Errorf("keys of Config missing from the contract's example: %v", m)
	}
}

func TestConfigRedactedParsesBack(t *testing.T) {
	cfg := mustParse(t, validBase, noEnv)
	cfg.Syncs[0].Trigger = []string{"workflow"}
	out := cfg.Redacted()
	if !strings.Contains(out, "client_secret: '[redacted]'") && !strings.Contains(out, `client_secret: "[redacted]"`) {
		t.Errorf("Redacted does not show client_secret as [redacted]:\n%s", out)
	}
	if !strings.Contains(out, "commit_interval: 2s") {
		t.Errorf("Redacted does not write durations in Go syntax:\n%s", out)
	}
	back, err := Parse([]byte(out), noEnv)
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	want := *cfg
	want.lines = back.lines // where each key is in the file differs
	want.unexpand, back.unexpand = nil, nil
	want.Zoho.ClientSecret, want.Zoho.RefreshToken = "[redacted]", "[redacted]"
	// Redacted writes absent lists and maps as [] and {}.
	for i := range want.Syncs {
		s := &want.Syncs[i]
		if s.Constants == nil {
			s.Constants = map[string]any{}
		}
		if s.ClearFields == nil {
			s.ClearFields = []string{}
		}
	}
	if !reflect.DeepEqual(*back, want) {
		t.Errorf("Redacted round trip:\n got %+v\nwant %+v", *back, want)
	}
	if again := back.Redacted(); again != out {
		t.Errorf("Redacted is not stable across a round trip:\n%s\n---\n%s", out, again)
	}
}

func TestReferenceKeys(t *testing.T) {
	keys := ReferenceKeys()
	for _, k := range []string{
		"kafka", "kafka.brokers", "kafka.tls", "kafka.tls.ca_file", "kafka.sasl.password", "kafka.instance_id",
		"schema_registry.url", "zoho.client_secret", "zoho.requests_per_second", "syncs", "syncs[].match_on",
		"syncs[].fields", "syncs[].constants", "syncs[].trigger", "syncs[].format", "http.listen", "log.format",
	} {
		if !slices.Contains(keys, k) {
			t.Errorf("ReferenceKeys lacks %s", k)
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("%s listed twice", k)
		}
		seen[k] = true
		if strings.Contains(strings.ToLower(k), "defaulted") || strings.Contains(k, "linger.") {
			t.Errorf("%s is not a YAML key", k)
		}
	}
	if len(keys) != 61 {
		t.Errorf("ReferenceKeys has %d keys, want 61 (6 sections, 2 subsections, 53 values): %v", len(keys), keys)
	}
}

func TestDurationYAML(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"linger: 500ms", 500 * time.Millisecond, ""},
		{"linger: 1m30s", 90 * time.Second, ""},
		{"linger: 0", 0, ""},
		{"linger: 10", 0, `"10" is not a duration`},
		{"linger: soon", 0, `"soon" is not a duration`},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := Parse([]byte(minimalYAML+"    "+c.in+"\n"), noEnv)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want %q", err, c.err)
				}
				return
			}
			cfg := mustParse(t, minimalYAML+"    "+c.in+"\n", noEnv)
			if got := cfg.Syncs[0].Linger.D(); got != c.want {
				t.Errorf("linger = %s, want %s", got, c.want)
			}
		})
	}
	var d Duration
	if err := d.UnmarshalText([]byte("3s")); err != nil || d.D() != 3*time.Second {
		t.Errorf("UnmarshalText: %v %s", err, d)
	}
	if b, _ := Duration(1500 * time.Millisecond).MarshalText(); string(b) != "1.5s" {
		t.Errorf("MarshalText = %s", b)
	}
}

func ExampleParse() {
	cfg, err := Parse([]byte(`
kafka: {brokers: ["localhost:9092"]}
zoho: {data_center: eu, client_id: "${ZOHO_CLIENT_ID}", client_secret: s, refresh_token: r}
syncs:
  - name: leads
    topics: [db.public.signups]
    module: leads
    type: model
    mode: upsert
    match_on: [Email]
    format: json
`), envOf(map[string]string{"ZOHO_CLIENT_ID": "1000.ABC"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Zoho.ClientID, cfg.Syncs[0].BatchSize, cfg.Syncs[0].Linger)
	fmt.Println(cfg.Validate())
	// Output:
	// 1000.ABC 100 1s
	// sync "leads": syncs[0].module: "leads" is not a module; write Leads (module API names are case-sensitive) (line 7)
	// sync "leads": syncs[0].match_on[0]: Email is not mapped, so its value is not known: map it under fields (Email: <column>) or constants (line 10)
}

// FuzzParse feeds Parse arbitrary bytes: it must return a config or an
// error, never panic, and a config it returns must validate, summarize and
// print without panicking or showing its secrets.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"full.yaml", "contract.yaml", "invalid_kinds.yaml", "invalid_many.yaml", "invalid_unknown_keys.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimalYAML))
	f.Add([]byte(validBase))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("syncs: [{<<: {name: x}, constants: {A: ${X}}}]\n"))
	env := envOf(map[string]string{"X": "1", "POD_NAME": "p", "TLS_DIR": "/nonexistent", "SECRETS_DIR": "/nonexistent",
		"KAFKA_PASSWORD": "kp", "ZOHO_CLIENT_ID": "id", "ZOHO_CLIENT_SECRET": "fuzz-secret-value", "ZOHO_REFRESH_TOKEN": "rt"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env)
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				_ = pe.AllProblems() // validates what could be read
			}
			return
		}
		_ = cfg.Validate()
		_ = cfg.Summary()
		if out := cfg.Redacted(); cfg.Zoho.ClientSecret.Reveal() == "fuzz-secret-value" && strings.Contains(out, "fuzz-secret-value") {
			t.Errorf("Redacted shows the client secret:\n%s", out)
		}
	})
}

// BenchmarkParse measures loading and validating the full example config.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/config/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for _, name := range []string{"ca.pem", "client.pem", "client.key", "registry-password", "zoho-refresh-token"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	env := envOf(map[string]string{"POD_NAME": "p", "TLS_DIR": dir, "SECRETS_DIR": dir, "KAFKA_PASSWORD": "kp",
		"ZOHO_CLIENT_ID": "id", "ZOHO_CLIENT_SECRET": "cs"})
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := Parse(data, env)
		if err != nil {
			b.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// A config with problems of reading (an unknown key, a value of the wrong
// kind) and problems of validation reports them all at once, sorted by line,
// without a second problem about a value already reported.
func TestConfigParseAndValidateProblemsAtOnce(t *testing.T) {
	yml := strings.NewReplacer(
		"  data_center: us\n", "  data_center: US\n  datacenter: eu\n",
		"    module: Contacts\n", "    module: contacts\n    linger: 5\n",
	).Replace(minimalYAML)
	_, err := Parse([]byte(yml), noEnv)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse = %v, want a *ParseError", err)
	}
	var got []string
	for _, p := range pe.AllProblems() {
		got = append(got, p.String())
	}
	want := []string{
		`zoho.data_center: "US" is not one of us, eu, in, au, jp, ca, cn, sa (write us) (line 7)`,
		`zoho.datacenter: unknown key (did you mean data_center?) (line 8)`,
		`sync "contacts": syncs[0].module: "contacts" is not a module; write Contacts (module API names are case-sensitive) (line 15)`,
		`sync "contacts": syncs[0].linger: "5" is not a duration: use Go syntax like 1s, 500ms or 2m (line 16)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A constant for one of the module's default fields replaces its default
// mapping rather than being refused as mapped twice.
func TestConfigConstantOverridesDefaultField(t *testing.T) {
	yml := strings.Replace(minimalYAML, "    fields: {Last_Name: last_name, Email: email}\n", "    constants: {Title: Customer}\n", 1)
	cfg := mustParse(t, yml, noEnv)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	s := cfg.Syncs[0]
	if _, mapped := s.Fields["Title"]; mapped || s.Constants["Title"] != "Customer" || s.Fields["Last_Name"] != "last_name" {
		t.Errorf("fields %v, constants %v: want Title from constants only, the other defaults kept", s.Fields, s.Constants)
	}
}

// Secret files that cannot be used are each named, with their key and line.
func TestConfigSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"the-client-secret", "file:"+filepath.Join(dir, "missing"),
		"the-refresh-token", "file:"+empty,
	).Replace(minimalYAML)
	_, err := Parse([]byte(yml), noEnv)
	for _, want := range []string{
		"line 9: zoho.client_secret: cannot read the secret file " + filepath.Join(dir, "missing") + ": no such file or directory",
		"line 10: zoho.refresh_token: the secret file " + empty + " is empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error %v\nlacks %q", err, want)
		}
	}
}

// A secret file holding the line zohosink auth printed (name and token),
// or an env file's line, is caught offline, without quoting the secret.
func TestConfigSecretFileHoldingTheKeyName(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	pasted := write("rt-pasted", "refresh_token: 1000.0xCAFEBABE\napi_domain: https://www.zohoapis.eu\n")
	envLine := write("cs-env", "ZOHO_CLIENT_SECRET=0xDEADBEEF\n")
	yml := strings.NewReplacer("the-refresh-token", "file:"+pasted, "the-client-secret", "file:"+envLine).Replace(minimalYAML)
	_, err := Parse([]byte(yml), noEnv)
	for _, want := range []string{
		"line 10: zoho.refresh_token: the secret file " + pasted + " holds `refresh_token: ...`; it should hold the token alone",
		"line 9: zoho.client_secret: the secret file " + envLine + " holds `ZOHO_CLIENT_SECRET=...`; it should hold the secret alone",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error %v\nlacks %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "CAFEBABE") || strings.Contains(err.Error(), "DEADBEEF")) {
		t.Errorf("the problem quotes the secret: %v", err)
	}
	// A secret that merely contains a colon or an equals sign is a secret.
	for _, secret := range []string{"1000.abc:def", "pa=ss: word", "c2VjcmV0=="} {
		yml := strings.Replace(minimalYAML, "the-refresh-token", "file:"+write("ok", secret+"\n"), 1)
		if cfg, err := Parse([]byte(yml), noEnv); err != nil || cfg.Zoho.RefreshToken.Reveal() != secret {
			t.Errorf("secret %q: %v", secret, err)
		}
	}
}

// Relative file: paths (and TLS files) are read next to the config file,
// wherever zohosink runs from, as `zohosink auth --write` suggests.
func TestConfigRelativeFilesAreBesideTheConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "refresh_token"), []byte("1000.rt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := strings.Replace(minimalYAML, "the-refresh-token", "file:refresh_token", 1)
	yml = strings.Replace(yml, "  brokers: [\"localhost:9092\"]\n", "  brokers: [\"localhost:9092\"]\n  tls: {enabled: true, ca_file: certs/ca.pem}\n", 1)
	path := filepath.Join(dir, "zohosink.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Zoho.RefreshToken.Reveal(); got != "1000.rt" {
		t.Errorf("refresh token %q, want the file beside the config", got)
	}
	if want := filepath.Join(dir, "certs", "ca.pem"); cfg.Kafka.TLS.CAFile != want {
		t.Errorf("ca_file %q, want %q", cfg.Kafka.TLS.CAFile, want)
	}
	// A missing one is named by its full path.
	os.Remove(filepath.Join(dir, "refresh_token"))
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "refresh_token")) {
		t.Errorf("Load = %v, want the full path of the missing file", err)
	}
}

// A field name mistyped under fields is pointed at where its absence is
// noticed (match_on, a required field).
func TestConfigMisspeltFieldIsPointedAt(t *testing.T) {
	yml := strings.Replace(minimalYAML, "fields: {Last_Name: last_name, Email: email}", "fields: {Last_Nmae: last_name, Emial: email}", 1)
	assertProblems(t, mustParse(t, yml, noEnv).Validate(), []wantProblem{
		{"contacts", "syncs[0].match_on[0]", "Email is not mapped, so its value is not known: map it under fields (Email: <column>) or constants (fields maps Emial, which looks alike: is one of them misspelt?)"},
		{"contacts", "syncs[0].fields", "module Contacts requires Last_Name: map it under fields (Last_Name: <column>) or constants (fields maps Last_Nmae, which looks alike: is one of them misspelt?)"},
	})
}

// A secret's value is never quoted in a problem, wherever the variable is
// used by mistake: the problem names ${NAME}. A variable is taken for a
// secret when it gives a secret key its value (also through an alias) or
// its name says so.
func TestConfigProblemsDoNotQuoteVariables(t *testing.T) {
	env := envOf(map[string]string{"CS": "cs-0xDEADBEEF", "ZOHO_CLIENT_SECRET": "cs-0xDEADBEEF"})
	for _, c := range []struct{ name, yml, want string }{
		{"a secret's variable in a validated key", strings.Replace(minimalYAML, "  data_center: us\n", "  data_center: ${ZOHO_CLIENT_SECRET}\n", 1), "${ZOHO_CLIENT_SECRET}"},
		{"a secret's variable in a parsed key", strings.Replace(minimalYAML, "  data_center: us\n", "  data_center: us\n  max_concurrency: ${ZOHO_CLIENT_SECRET}\n", 1), "${ZOHO_CLIENT_SECRET}"},
		{"a variable also given to a secret key", strings.NewReplacer("  data_center: us\n", "  data_center: ${CS}\n", "the-client-secret", "${CS}").Replace(minimalYAML), "${CS}"},
		{"a variable given to a secret key by an alias", strings.NewReplacer("  data_center: us\n", "  data_center: &cs ${CS}\n", "the-client-secret", "*cs").Replace(minimalYAML), "${CS}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.yml), env)
			var msgs []string
			var pe *ParseError
			switch {
			case errors.As(err, &pe):
				for _, p := range pe.AllProblems() {
					msgs = append(msgs, p.String())
				}
			case err != nil:
				t.Fatal(err)
			default:
				msgs = append(msgs, cfg.Validate().Error())
			}
			all := strings.Join(msgs, "\n")
			if strings.Contains(all, "DEADBEEF") || !strings.Contains(all, c.want) {
				t.Errorf("problems:\n%s\nwant %s, never its value", all, c.want)
			}
		})
	}
}

// A value a variable gave a key that is no secret is shown, with the
// variable it came from: the value is what is wrong.
func TestConfigProblemsShowWhatVariablesGaveOtherKeys(t *testing.T) {
	env := envOf(map[string]string{"DC": "europe", "ENV": "prod", "N": "lots", "RT": "1000.rt-CAFEBABE"})
	yml := strings.NewReplacer(
		"  data_center: us\n", "  data_center: ${DC}\n  environment: ${ENV}\n",
		"the-refresh-token", "${RT}",
	).Replace(minimalYAML)
	assertProblems(t, mustParse(t, yml, env).Validate(), []wantProblem{
		{"", "zoho.data_center", `"europe" (from ${DC}) is not one of us, eu, in, au, jp, ca, cn, sa (write eu)`},
		{"", "zoho.environment", `"prod" (from ${ENV}) is not one of production, sandbox, developer`},
	})
	_, err := Parse([]byte(strings.Replace(yml, "  environment: ${ENV}\n", "  max_concurrency: ${N}\n", 1)), env)
	if err == nil || !strings.Contains(err.Error(), `zoho.max_concurrency: "lots" (from ${N}) is not a whole number`) || strings.Contains(err.Error(), "CAFEBABE") {
		t.Errorf("parse problems: %v", err)
	}
}

// A data center written as its region, country or domain is pointed at
// its name.
func TestConfigDataCenterSuggestions(t *testing.T) {
	for in, want := range map[string]string{
		"EU": "eu", "europe": "eu", "Europe": "eu", "zoho.eu": "eu", "https://accounts.zoho.eu/": "eu", "www.zohoapis.eu": "eu",
		"usa": "us", "USA": "us", "com": "us", "zoho.com": "us", "united_states": "us",
		"india": "in", "zoho.in": "in", "australia": "au", "zoho.com.au": "au", "japan": "jp", "zoho.jp": "jp",
		"canada": "ca", "zohocloud.ca": "ca", "china": "cn", "zoho.com.cn": "cn", "saudi": "sa", "Saudi Arabia": "sa", "zoho.sa": "sa",
		"mars": "", "": "", "zoho": "", "uk": "",
	} {
		if got := suggestDataCenter(in); got != want {
			t.Errorf("suggestDataCenter(%q) = %q, want %q", in, got, want)
		}
	}
}

// A password written in the registry's URL is moved to the credentials
// settings, so no error of the registry client can quote it; one given in
// both places is refused without being quoted.
func TestRegistryURLCredentialsMoved(t *testing.T) {
	yml := strings.Replace(minimalYAML, "  url: http://localhost:8081\n", "  url: http://bob:s3cr%40t-pw@localhost:8081/path\n", 1)
	cfg := mustParse(t, yml, noEnv)
	r := cfg.SchemaRegistry
	if r.URL != "http://localhost:8081/path" || r.Username != "bob" || r.Password.Reveal() != "s3cr@t-pw" {
		t.Fatalf("registry settings %q %q %q", r.URL, r.Username, r.Password.Reveal())
	}
	both := strings.Replace(minimalYAML, "  url: http://localhost:8081\n", "  url: http://bob:pw-in-url@localhost:8081\n  username: ann\n  password: other\n", 1)
	err := mustParse(t, both, noEnv).Validate()
	if err == nil || !strings.Contains(err.Error(), "schema_registry.url: carries a user") || strings.Contains(err.Error(), "pw-in-url") {
		t.Fatalf("credentials in two places: %v", err)
	}
	for in, want := range map[string]string{
		`Get "http://bob:pw@reg:8081/schemas": refused`: `Get "http://bob:xxxxx@reg:8081/schemas": refused`,
		"https://u:p%40ss@h/x and sasl://a:b@c":         "https://u:xxxxx@h/x and sasl://a:xxxxx@c",
		"mail me at bob@example.com":                    "mail me at bob@example.com",
		"http://just-a-user@host/":                      "http://just-a-user@host/",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// skip_features defaults to [cadences] (Zoho runs Cadences on API writes
// unless skipped); [] skips none; unknown names and tags Zoho refuses are
// reported offline.
func TestConfigSkipFeaturesAndTags(t *testing.T) {
	cfg := mustParse(t, validBase, noEnv)
	if got := cfg.Syncs[0].SkipFeatures; len(got) != 1 || got[0] != "cadences" {
		t.Fatalf("default skip_features %q, want [cadences]", got)
	}
	none := strings.Replace(validBase, "    mode: upsert\n", "    mode: upsert\n    skip_features: []\n", 1)
	if got := mustParse(t, none, noEnv).Syncs[0].SkipFeatures; got == nil || len(got) != 0 {
		t.Fatalf("skip_features: [] gave %q, want an empty list", got)
	}
	bad := strings.Replace(validBase, "    mode: upsert\n", "    mode: upsert\n    skip_features: [cadence, workflow]\n", 1)
	err := mustParse(t, bad, noEnv).Validate()
	for _, want := range []string{"skip_features[0]: \"cadence\" is not one of", "skip_features[1]: \"workflow\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	for tag, want := range map[string]string{
		"Members, 2026":                "contains ','",
		"<b>VIP</b>":                   "contains '<'",
		"A very long tag name of 26 c": "Zoho allows at most 25",
	} {
		err := mustParse(t, strings.Replace(validBase, "tag: Member", "tag: \""+tag+"\"", 1), noEnv).Validate()
		if err == nil || !strings.Contains(err.Error(), "syncs[1].tag") || !strings.Contains(err.Error(), want) {
			t.Errorf("tag %q: %v, want %q", tag, err, want)
		}
	}
}

// fileWriter returns a function that writes a file of dir (mode 0600) and
// returns its path.
func fileWriter(t *testing.T, dir string) func(name, content string) string {
	return func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

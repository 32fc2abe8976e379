package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds a strict mirror of the zohosink config file as
// /work/shared/CONTRACT.md defines it, and the subset of its rules that a
// deployment can get wrong. The field names follow connector.Config so that
// checkZohosinkConfig can switch to connector.Parse + Validate without
// touching its callers.

// zohosinkConfig mirrors CONTRACT.md's YAML keys exactly: any other key is an
// error.
type zohosinkConfig struct {
	Kafka          zsKafka          `yaml:"kafka"`
	SchemaRegistry zsSchemaRegistry `yaml:"schema_registry"`
	Zoho           zsZoho           `yaml:"zoho"`
	Syncs          []zsSync         `yaml:"syncs"`
	HTTP           zsHTTP           `yaml:"http"`
	Log            zsLog            `yaml:"log"`
}

type zsKafka struct {
	Brokers          []string   `yaml:"brokers"`
	GroupID          string     `yaml:"group_id"`
	DeadLetterTopic  string     `yaml:"dead_letter_topic"`
	StartOffset      string     `yaml:"start_offset"`
	CommitInterval   zsDuration `yaml:"commit_interval"`
	SessionTimeout   zsDuration `yaml:"session_timeout"`
	RebalanceTimeout zsDuration `yaml:"rebalance_timeout"`
	InstanceID       string     `yaml:"instance_id"`
	TLS              zsTLS      `yaml:"tls"`
	SASL             zsSASL     `yaml:"sasl"`
}

type zsTLS struct {
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type zsSASL struct {
	Mechanism string   `yaml:"mechanism"`
	Username  string   `yaml:"username"`
	Password  zsSecret `yaml:"password"`
}

type zsSchemaRegistry struct {
	URL      string   `yaml:"url"`
	Username string   `yaml:"username"`
	Password zsSecret `yaml:"password"`
}

type zsZoho struct {
	DataCenter        string     `yaml:"data_center"`
	Environment       string     `yaml:"environment"`
	ClientID          string     `yaml:"client_id"`
	ClientSecret      zsSecret   `yaml:"client_secret"`
	RefreshToken      zsSecret   `yaml:"refresh_token"`
	APIDomain         string     `yaml:"api_domain"`
	AccountsURL       string     `yaml:"accounts_url"`
	Edition           string     `yaml:"edition"`
	MaxConcurrency    int        `yaml:"max_concurrency"`
	DailyCreditBudget int        `yaml:"daily_credit_budget"`
	RequestTimeout    zsDuration `yaml:"request_timeout"`
}

type zsSync struct {
	Name         string            `yaml:"name"`
	Topics       []string          `yaml:"topics"`
	Module       string            `yaml:"module"`
	Type         string            `yaml:"type"`
	Mode         string            `yaml:"mode"`
	MatchOn      []string          `yaml:"match_on"`
	Fields       map[string]string `yaml:"fields"`
	Constants    map[string]any    `yaml:"constants"`
	RemoveAction string            `yaml:"remove_action"`
	Tag          string            `yaml:"tag"`
	ClearFields  []string          `yaml:"clear_fields"`
	Trigger      []string          `yaml:"trigger"`
	BatchSize    int               `yaml:"batch_size"`
	Linger       zsDuration        `yaml:"linger"`
}

type zsHTTP struct {
	Listen string `yaml:"listen"`
}

type zsLog struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// zsSecret is a secret value; Reveal names the places that read it, as
// connector.Secret does.
type zsSecret string

func (s zsSecret) Reveal() string { return string(s) }

// zsDuration is a duration in Go syntax, like connector.Duration.
type zsDuration time.Duration

func (d zsDuration) D() time.Duration { return time.Duration(d) }

func (d *zsDuration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not a duration in Go syntax (1s, 500ms)", n.Line, n.Value)
	}
	*d = zsDuration(v)
	return nil
}

// requiredFields are the required mapping fields of zoho-crm-destination.txt.
var requiredFields = map[string][]string{
	"Contacts": {"Last_Name"},
	"Leads":    {"Last_Name", "Company"},
	"Accounts": {"Account_Name"},
	"Deals":    {"Deal_Name", "Stage"},
}

var envRef = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

// expandEnv replaces ${NAME} in s with env[NAME], as the config loader does
// ($${ is a literal ${). A name env lacks is an error.
func expandEnv(s string, env map[string]string) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		v, ok := env[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// parseZohosinkConfig reads a config the way CONTRACT.md describes: ${NAME}
// expanded from env in values, unknown keys rejected, then the contract's
// rules checked. It returns every problem found.
func parseZohosinkConfig(data []byte, env map[string]string) (*zohosinkConfig, []string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []string{fmt.Sprintf("not valid YAML: %v", err)}
	}
	var problems []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], strings.TrimPrefix(path+"."+n.Content[i].Value, "[0]."))
			}
		case yaml.ScalarNode:
			v, err := expandEnv(n.Value, env)
			if err != nil {
				problems = append(problems, fmt.Sprintf("line %d: %s: %v", n.Line, path, err))
				return
			}
			n.Value = v
		}
	}
	walk(&doc, "")
	if len(problems) > 0 {
		return nil, problems
	}
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, []string{fmt.Sprintf("re-encode after expanding variables: %v", err)}
	}
	var cfg zohosinkConfig
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, []string{fmt.Sprintf("does not match CONTRACT.md's config (line numbers after variable expansion): %v", err)}
	}
	return &cfg, validateZohosinkConfig(&cfg)
}

func oneOf(problems *[]string, key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		*problems = append(*problems, fmt.Sprintf("%s: %q is not one of %s", key, v, strings.Join(allowed, ", ")))
	}
}

var syncName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// validateZohosinkConfig checks the contract's rules: required keys, allowed
// values, the modes of each sync type, match_on and remove_action where
// required, and the module's required fields mapped.
func validateZohosinkConfig(c *zohosinkConfig) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if len(c.Kafka.Brokers) == 0 {
		add("kafka.brokers: required")
	}
	for _, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			add("kafka.brokers: %q is not host:port", b)
		}
	}
	if c.Kafka.StartOffset != "" {
		oneOf(&p, "kafka.start_offset", c.Kafka.StartOffset, "earliest", "latest")
	}
	if d := c.Kafka.CommitInterval.D(); d < 0 || d > 5*time.Second {
		add("kafka.commit_interval: %s is above 5s", d)
	}
	if m := c.Kafka.SASL.Mechanism; m != "" {
		oneOf(&p, "kafka.sasl.mechanism", m, "plain", "scram-sha-256", "scram-sha-512")
		if c.Kafka.SASL.Username == "" || c.Kafka.SASL.Password == "" {
			add("kafka.sasl: mechanism %s needs username and password", m)
		}
	}
	if c.SchemaRegistry.URL == "" {
		add("schema_registry.url: required (Debezium's topics carry Confluent-framed Avro)")
	}
	oneOf(&p, "zoho.data_center", c.Zoho.DataCenter, "us", "eu", "in", "au", "jp", "ca", "cn", "sa")
	if c.Zoho.Environment != "" {
		oneOf(&p, "zoho.environment", c.Zoho.Environment, "production", "sandbox", "developer")
	}
	if c.Zoho.Edition != "" {
		oneOf(&p, "zoho.edition", c.Zoho.Edition, "free", "standard", "professional", "enterprise", "ultimate")
	}
	if c.Zoho.ClientID == "" || c.Zoho.ClientSecret == "" || c.Zoho.RefreshToken == "" {
		add("zoho: client_id, client_secret and refresh_token are required")
	}
	if c.Zoho.MaxConcurrency < 0 || c.Zoho.DailyCreditBudget < 0 {
		add("zoho: max_concurrency and daily_credit_budget cannot be negative")
	}
	if len(c.Syncs) == 0 {
		add("syncs: at least one sync is required")
	}
	seen := map[string]bool{}
	for i, s := range c.Syncs {
		key := fmt.Sprintf("syncs[%d]", i)
		if s.Name != "" {
			key = fmt.Sprintf("sync %q", s.Name)
		}
		if !syncName.MatchString(s.Name) {
			add("%s: name: %q must match [a-z0-9_-]+", key, s.Name)
		}
		if seen[s.Name] {
			add("%s: name: used by another sync", key)
		}
		seen[s.Name] = true
		if len(s.Topics) == 0 {
			add("%s: topics: required", key)
		}
		if _, ok := requiredFields[s.Module]; !ok {
			add("%s: module: %q is not one of Contacts, Leads, Accounts, Deals", key, s.Module)
		}
		var writes bool // the mode creates records, so required fields must be mapped
		switch s.Type {
		case "model":
			oneOf(&p, key+": mode", s.Mode, "upsert", "insert", "update")
			writes = s.Mode == "upsert" || s.Mode == "insert"
			if (s.Mode == "upsert" || s.Mode == "update") && len(s.MatchOn) == 0 {
				add("%s: match_on: required for mode %s", key, s.Mode)
			}
		case "audience":
			oneOf(&p, key+": mode", s.Mode, "add", "remove", "mirror", "upsert")
			writes = s.Mode != "remove"
			if len(s.MatchOn) == 0 {
				add("%s: match_on: required for audience syncs", key)
			}
			if s.Mode == "remove" || s.Mode == "mirror" {
				oneOf(&p, key+": remove_action", s.RemoveAction, "delete", "untag", "clear_fields")
			}
			if s.RemoveAction == "untag" && s.Tag == "" {
				add("%s: tag: required with remove_action untag", key)
			}
			if s.RemoveAction == "clear_fields" && len(s.ClearFields) == 0 {
				add("%s: clear_fields: required with remove_action clear_fields", key)
			}
		default:
			add("%s: type: %q is not model or audience", key, s.Type)
		}
		if writes && s.Fields != nil {
			for _, f := range requiredFields[s.Module] {
				_, mapped := s.Fields[f]
				_, constant := s.Constants[f]
				if !mapped && !constant {
					add("%s: fields: %s requires %s to be mapped (by fields or constants)", key, s.Module, f)
				}
			}
		}
		if s.Fields != nil {
			for _, f := range s.MatchOn {
				if _, ok := s.Fields[f]; !ok {
					add("%s: match_on: %s is not mapped in fields, so no record can be matched by it", key, f)
				}
			}
		}
		if s.BatchSize != 0 && (s.BatchSize < 1 || s.BatchSize > 100) {
			add("%s: batch_size: %d is not within 1..100", key, s.BatchSize)
		}
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			add("http.listen: %q is not host:port", c.HTTP.Listen)
		}
	}
	if c.Log.Level != "" {
		oneOf(&p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	}
	if c.Log.Format != "" {
		oneOf(&p, "log.format", c.Log.Format, "json", "text")
	}
	return p
}

// checkZohosinkConfig loads a zohosink config file (named name in messages)
// with the environment env, and fails the test with every problem found.
// Once connector.Parse and Config.Validate are final, this helper is the one
// place to switch to them.
func checkZohosinkConfig(t *testing.T, name string, data []byte, env map[string]string) *zohosinkConfig {
	t.Helper()
	cfg, problems := parseZohosinkConfig(data, env)
	if len(problems) > 0 {
		t.Fatalf("%s: not a valid zohosink config:\n  %s", name, strings.Join(problems, "\n  "))
	}
	return cfg
}

func TestZohosinkConfigMirrorRejects(t *testing.T) {
	const base = `
kafka: {brokers: ["kafka:9092"]}
schema_registry: {url: "http://sr:8081"}
zoho: {data_center: us, client_id: "${ID}", client_secret: s, refresh_token: r}
syncs:
  - name: contacts
    topics: [t]
    module: Contacts
    type: model
    mode: upsert
    match_on: [Email]
    fields: {Last_Name: last_name, Email: email}
`
	env := map[string]string{"ID": "client"}
	if cfg, problems := parseZohosinkConfig([]byte(base), env); len(problems) > 0 || cfg.Zoho.ClientID != "client" {
		t.Fatalf("the base config should be valid with ID expanded, got %v (client_id %q)", problems, cfg.Zoho.ClientID)
	}
	tests := []struct {
		name string
		old  string
		new  string
		env  map[string]string
		want string
	}{
		{"unknown key", "module: Contacts", "module: Contacts\n    modul: Contacts", env, "field modul not found"},
		{"unset variable", "", "", map[string]string{}, "environment variable ID is not set"},
		{"bad duration", "mode: upsert", "mode: upsert\n    linger: soon", env, "not a duration"},
		{"unknown module", "module: Contacts", "module: Tasks", env, `module: "Tasks"`},
		{"audience mode on model", "mode: upsert", "mode: mirror", env, `mode: "mirror"`},
		{"required field unmapped", "Last_Name: last_name, ", "", env, "requires Last_Name"},
		{"match_on missing", "match_on: [Email]", "match_on: []", env, "match_on: required"},
		{"mirror without remove_action", "type: model\n    mode: upsert", "type: audience\n    mode: mirror", env, "remove_action"},
		{"batch too big", "mode: upsert", "mode: upsert\n    batch_size: 500", env, "batch_size: 500"},
		{"bad data center", "data_center: us", "data_center: mars", env, "zoho.data_center"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := base
			if tt.old != "" {
				data = strings.Replace(base, tt.old, tt.new, 1)
				if data == base {
					t.Fatalf("test case does not change the config: %q not found", tt.old)
				}
			}
			_, problems := parseZohosinkConfig([]byte(data), tt.env)
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, tt.want) {
				t.Errorf("problems = %q, want one containing %q", joined, tt.want)
			}
		})
	}
}

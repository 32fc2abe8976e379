package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"zohosink/zoho"
)

// Config is zohosink's configuration: the YAML file of the CONTRACT's
// "Configuration file" section, one struct per section.
//
// Load and Parse fill in defaults but do not check the values: call Validate,
// which reports every problem at once. A Config is plain data: it is not
// changed by the pipeline and is safe to read from several goroutines.
type Config struct {
	Kafka          KafkaConfig          `yaml:"kafka"`
	SchemaRegistry SchemaRegistryConfig `yaml:"schema_registry"`
	Zoho           ZohoConfig           `yaml:"zoho"`
	Syncs          []SyncConfig         `yaml:"syncs"`
	HTTP           HTTPConfig           `yaml:"http"`
	Log            LogConfig            `yaml:"log"`

	lines map[string]int // key path -> line in the file, for problems
	// unexpand writes ${NAME} back in place of a secret variable's value
	// in a message, and names the variable beside a value it gave another
	// key (nil when none). A func, so that printing a Config cannot show
	// the values, which may be secrets.
	unexpand func(string) string
}

// KafkaConfig is the consumer group every sync reads in, and the dead-letter
// topic rejected records go to.
type KafkaConfig struct {
	// Brokers are the seed brokers, host:port (required).
	Brokers []string `yaml:"brokers"`
	// GroupID is the consumer group (default "zohosink").
	GroupID string `yaml:"group_id"`
	// DeadLetterTopic receives records that cannot be decoded, mapped or
	// written (default "<group_id>.dlq").
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// StartOffset is where partitions with no committed offset start:
	// "earliest" (default) or "latest".
	StartOffset string `yaml:"start_offset"`
	// CommitInterval is how often offsets of done records are committed
	// (default 2s, at most 5s).
	CommitInterval Duration `yaml:"commit_interval"`
	// SessionTimeout is how long a crashed member holds its partitions
	// (default 45s).
	SessionTimeout Duration `yaml:"session_timeout"`
	// RebalanceTimeout is the longest a rebalance waits for members to
	// rejoin (default 60s).
	RebalanceTimeout Duration `yaml:"rebalance_timeout"`
	// InstanceID turns on static group membership (KIP-345): a restarted
	// member with the same id takes its partitions back at once. Use the pod
	// name on Kubernetes.
	InstanceID string     `yaml:"instance_id"`
	TLS        TLSConfig  `yaml:"tls"`
	SASL       SASLConfig `yaml:"sasl"`
}

// TLSConfig secures the connections to the brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust ("" = the system's).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify skips the broker certificate check. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	// Mechanism is "" (none), "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// SchemaRegistryConfig is the Confluent schema registry that holds the Avro
// schemas of the change events.
type SchemaRegistryConfig struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// ZohoConfig is the Zoho CRM org written to and the OAuth client that
// writes.
type ZohoConfig struct {
	// DataCenter is us, eu, in, au, jp, ca, cn or sa (required).
	DataCenter string `yaml:"data_center"`
	// Environment is production (default), sandbox or developer.
	Environment  string `yaml:"environment"`
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	RefreshToken Secret `yaml:"refresh_token"`
	// APIDomain overrides the API base URL (proxy, tests).
	APIDomain string `yaml:"api_domain"`
	// AccountsURL overrides the accounts (token) base URL.
	AccountsURL string `yaml:"accounts_url"`
	// Edition is free, standard (default), professional, enterprise or
	// ultimate: it sets the default concurrency limit.
	Edition string `yaml:"edition"`
	// MaxConcurrency caps the calls in flight (0 = the edition's limit).
	MaxConcurrency int `yaml:"max_concurrency"`
	// DailyCreditBudget paces the writes to stay under this many credits
	// over any rolling 24 hours (0 = no budget).
	DailyCreditBudget int `yaml:"daily_credit_budget"`
	// RequestTimeout bounds one API call (default 30s).
	RequestTimeout Duration `yaml:"request_timeout"`
	// RequestsPerSecond caps the rate of API calls (0 = no cap). An
	// addition to the CONTRACT's keys.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
}

// SyncConfig is one sync: the topics it reads, the module it writes, and
// how changes become Zoho records.
type SyncConfig struct {
	// Name identifies the sync in logs, metrics and dead letters
	// (required, unique, [a-z0-9_-]+).
	Name string `yaml:"name"`
	// Topics are the Debezium topics of the sync; a topic belongs to one
	// sync only.
	Topics []string `yaml:"topics"`
	// Module is Contacts, Leads, Accounts or Deals.
	Module string `yaml:"module"`
	// Type is model or audience.
	Type string `yaml:"type"`
	// Mode is upsert, insert or update for models; add, remove, mirror or
	// upsert for audiences.
	Mode string `yaml:"mode"`
	// MatchOn are the Zoho fields that identify a record.
	MatchOn []string `yaml:"match_on"`
	// Fields maps a Zoho field API name to the source column it is read
	// from. Columns are matched case-insensitively by the pipeline.
	Fields map[string]string `yaml:"fields"`
	// Constants are values written to every record, by field API name.
	Constants map[string]any `yaml:"constants"`
	// RemoveAction is what happens to the Zoho record when a member leaves
	// an audience (remove and mirror modes): delete, untag or clear_fields.
	RemoveAction string `yaml:"remove_action"`
	// Tag is a Zoho tag added to audience members, removed by untag.
	Tag string `yaml:"tag"`
	// ClearFields are the fields set to null by remove_action clear_fields.
	ClearFields []string `yaml:"clear_fields"`
	// Trigger lists the Zoho automations to run on writes. After Load or
	// Parse it is never nil: an absent key and [] both mean "run none"
	// (the CONTRACT's default), so the empty list is sent to Zoho, which
	// runs every automation when the key is left out.
	Trigger []string `yaml:"trigger"`
	// SkipFeatures are the Zoho features writes skip, sent as
	// skip_feature_execution on insert, update and upsert: assignment_rules,
	// cadences, connected_workflows. Absent means [cadences] (Zoho runs a
	// module's Cadences on API writes unless told not to: emails to synced
	// contacts); [] skips none.
	SkipFeatures []string `yaml:"skip_features"`
	// BatchSize is the most records per Zoho call (1..100, default 100).
	BatchSize int `yaml:"batch_size"`
	// Linger is the longest a record waits for its batch to fill
	// (default 1s).
	Linger Duration `yaml:"linger"`
	// Format is how the topics' values are decoded: auto (default: Confluent
	// Avro when the record carries the magic byte, else JSON), avro or json.
	// An addition to the CONTRACT's keys.
	Format string `yaml:"format"`
	// FieldsDefaulted is true when the sync omitted fields and Load filled
	// Fields with the module's default destination fields, each read from
	// the column of the same name in lower case. The pipeline then skips
	// default fields whose column a row lacks instead of dead-lettering.
	FieldsDefaulted bool `yaml:"-"`
}

// HTTPConfig is the address of /metrics, /healthz, /readyz and /status.
type HTTPConfig struct {
	// Listen is host:port (default 127.0.0.1:9464; port 0 picks a free one).
	Listen string `yaml:"listen"`
}

// LogConfig sets what the process logs and how.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
	// ProgressInterval is how often run logs each sync's counts while they
	// move, and the reason while a sync is retrying (default 30s).
	ProgressInterval Duration `yaml:"progress_interval"`
}

// Duration is a time.Duration written in Go syntax in YAML ("1s", "500ms").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration in Go syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration in Go syntax (JSON, slog).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration in Go syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: use Go syntax like 1s, 500ms or 2m", b)
	}
	*d = Duration(v)
	return nil
}

func parseDuration(n *yaml.Node) (Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("expected a duration like 1s or 500ms")
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use Go syntax like 1s, 500ms or 2m", n.Value)
	}
	return Duration(v), nil
}

// Secret is a credential. Every way of printing or encoding it (fmt verbs,
// YAML, JSON, slog) shows "[redacted]", or "" when it is empty; only Reveal
// returns the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value, for the code that sends it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps the secret out of %#v.
func (s Secret) GoString() string { return "connector.Secret(" + strconv.Quote(s.String()) + ")" }

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML writes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Defaults applied by Load and Parse.
const (
	DefaultGroupID          = "zohosink"
	DefaultStartOffset      = "earliest"
	DefaultCommitInterval   = 2 * time.Second
	DefaultSessionTimeout   = 45 * time.Second
	DefaultRebalanceTimeout = 60 * time.Second
	DefaultEnvironment      = "production"
	DefaultEdition          = "standard"
	DefaultRequestTimeout   = 30 * time.Second
	DefaultBatchSize        = 100
	DefaultLinger           = time.Second
	DefaultHTTPListen       = "127.0.0.1:9464"
	DefaultLogLevel         = "info"
	DefaultLogFormat        = "json"
	DefaultProgressInterval = 30 * time.Second
	DefaultFormat           = "auto"

	// MaxCommitInterval is the longest commit_interval allowed.
	MaxCommitInterval = 5 * time.Second
	// MaxLinger is the longest linger allowed.
	MaxLinger = 5 * time.Minute
)

// Load reads the config file at path: see Parse. Environment variables come
// from the process environment; relative paths of secret files (file:)
// and TLS files are read from the config file's folder.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, os.LookupEnv, dir)
}

// Parse reads a config from YAML:
//
//   - ${NAME} in any value is replaced by env(NAME) (os.LookupEnv when env is
//     nil); a variable env does not know is an error naming it and the key.
//     $${ writes a literal ${. A $ not followed by { is kept as is. The value
//     is substituted after YAML parsing, so it needs no quoting, except that
//     inside a flow collection ([...] or {...}) a value holding ${ must be
//     quoted, as YAML reads { there as the start of a mapping.
//   - A secret (kafka.sasl.password, schema_registry.password,
//     zoho.client_secret, zoho.refresh_token) given as file:/path is read
//     from that file, without its trailing newline. An unreadable file is
//     an error naming the key and the path, never the content.
//   - Unknown keys, duplicate keys and values of the wrong kind are errors
//     naming the key path and the line; every such problem is reported.
//   - Defaults are applied to absent (or null) keys; for string keys an
//     empty value also takes the default, while an explicit 0 for a number
//     or duration is kept (and reported by Validate). A sync without fields
//     gets the module's default destination fields (FieldsDefaulted); a sync
//     without trigger gets [] (run no automation).
//
// Parse does not call Validate.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	return parse(data, env, "")
}

// parse is Parse with relative file paths (secrets' file:, TLS files) read
// from dir; "" leaves them relative to the working directory.
func parse(data []byte, env func(string) (string, bool), dir string) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config is not valid YAML: %w (%s)", err, yamlHint(data))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: the config holds more than one YAML document", extra.Line)
	}
	cfg := &Config{}
	w := &configWalker{env: env, lines: map[string]int{}, seen: map[*yaml.Node]bool{}, active: map[*yaml.Node]bool{}}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		w.walk(root, reflect.TypeFor[Config](), "")
		if len(w.problems) > 0 {
			for i := range w.problems {
				w.problems[i].Message = unexpand(w.problems[i].Message, w.expansions())
			}
			pe := &ParseError{Problems: w.problems}
			// Read the rest without the values that failed, so Validate can
			// report its problems too (every problem at once).
			for _, n := range w.bad {
				*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
			}
			partial := &Config{}
			if !w.aborted && root.Decode(partial) == nil {
				pe.Problems = append(pe.Problems, readSecretFiles(reflect.ValueOf(partial).Elem(), "", w.lines, dir)...)
				partial.applyDefaults(w.lines)
				partial.resolveTLSFiles(dir)
				partial.lines, partial.unexpand = w.lines, w.unexpander()
				pe.Partial = partial
				pe.nameSyncs()
			}
			return nil, pe
		}
		if err := root.Decode(cfg); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	cfg.lines, cfg.unexpand = w.lines, w.unexpander()
	cfg.resolveTLSFiles(dir)
	if ps := readSecretFiles(reflect.ValueOf(cfg).Elem(), "", w.lines, dir); len(ps) > 0 {
		cfg.applyDefaults(w.lines)
		pe := &ParseError{Problems: ps, Partial: cfg}
		pe.nameSyncs()
		return nil, pe
	}
	cfg.applyDefaults(w.lines)
	return cfg, nil
}

// yamlHint says where to look for a YAML syntax error: a tab in the
// indentation, or else near the line named (YAML notices a mistaken
// indentation on a later line than the mistake).
func yamlHint(data []byte) string {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Sprintf("line %d is indented with a tab: YAML wants spaces", i+1)
		}
	}
	return "look at the indentation of the lines around the one named: a key one space off is read as part of another"
}

// ParseError lists every problem Parse found reading the config: unknown
// and duplicate keys, values of the wrong kind, unknown variables, secret
// files that cannot be read.
type ParseError struct {
	Problems []Problem
	// Partial is the config read without the values that failed (nil when
	// even that is impossible): Validate it to report the other problems
	// too, skipping those under a key Problems names (see Validate).
	Partial *Config
}

// Error returns one line per problem: "line 12: syncs[0].linger: ...".
func (e *ParseError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Message)
		if p.Key == "" {
			lines[i] = fmt.Sprintf("line %d: %s", p.Line, p.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// nameSyncs names the sync of each problem under syncs[i], once the
// partial config knows the names.
func (e *ParseError) nameSyncs() {
	if e.Partial == nil {
		return
	}
	for i := range e.Problems {
		e.Problems[i].Sync = e.Partial.syncOf(e.Problems[i].Key)
	}
}

// syncOf returns the name of the sync a key path belongs to ("" when none).
func (c *Config) syncOf(key string) string {
	var i int
	if _, err := fmt.Sscanf(key, "syncs[%d]", &i); err != nil || i < 0 || i >= len(c.Syncs) {
		return ""
	}
	return c.Syncs[i].Name
}

// AllProblems validates what the ParseError could read and returns its
// problems with those of Validate that do not follow from them, sorted by
// line: what `zohosink validate` prints.
func (e *ParseError) AllProblems() []Problem {
	all := slices.Clone(e.Problems)
	if e.Partial != nil {
		var ve *ValidationError
		if errors.As(e.Partial.Validate(), &ve) {
			for _, p := range ve.Problems {
				if !e.covers(p.Key) {
					all = append(all, p)
				}
			}
		}
	}
	slices.SortStableFunc(all, func(a, b Problem) int { return a.Line - b.Line })
	return all
}

// covers reports whether a parse problem is about key or a key around it.
func (e *ParseError) covers(key string) bool {
	for _, p := range e.Problems {
		if p.Key != "" && (key == p.Key || strings.HasPrefix(key, p.Key+".") || strings.HasPrefix(key, p.Key+"[")) {
			return true
		}
	}
	return false
}

// configWalker checks the YAML tree against the Config type before it is
// decoded: it expands ${NAME}, rejects unknown keys and values of the wrong
// kind with their key path and line, and records the line of every key
// present, for defaults and later errors.
type configWalker struct {
	env   func(string) (string, bool)
	lines map[string]int      // key path -> line, for keys with a non-null value
	seen  map[*yaml.Node]bool // scalars already expanded
	// active holds the nodes being walked, to stop at an alias cycle;
	// steps counts nodes walked, aborted is set once maxWalkSteps is passed.
	active   map[*yaml.Node]bool
	steps    int
	aborted  bool
	problems []Problem
	bad      []*yaml.Node // values failValue reported
	// expanded holds each value a variable gave, with the text that named
	// it, so messages show ${NAME} in place of a secret; expandedAt is the
	// index of a scalar's expansion, for a scalar an alias uses again.
	expanded   []expansion
	expandedAt map[*yaml.Node]int
}

// expansion is a value variables gave a scalar, and the text that named
// them ("${DC}", "http://${HOST}:8081").
type expansion struct {
	value, text string
	// secret is set when the value went to a secret key (kafka.sasl.password,
	// zoho.client_secret, ...) or a variable's name says it holds one
	// (secretVarName): problems never quote it, only the text.
	secret bool
}

// secretVarName matches the names of variables that probably hold a
// secret: their values are kept out of problems even when given to a key
// that is no secret (ZOHO_CLIENT_SECRET written under data_center by
// mistake).
var secretVarName = regexp.MustCompile(`(?i)secret|token|passw|pwd|credential|key`)

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expansions returns what the walker expanded, each marked secret when
// one of its variables also gave a secret key its value, or is named like
// a secret.
func (w *configWalker) expansions() []expansion {
	secretVars := map[string]bool{}
	for _, e := range w.expanded {
		for _, m := range varRef.FindAllStringSubmatch(e.text, -1) {
			if e.secret || secretVarName.MatchString(m[1]) {
				secretVars[m[1]] = true
			}
		}
	}
	out := slices.Clone(w.expanded)
	for i := range out {
		for _, m := range varRef.FindAllStringSubmatch(out[i].text, -1) {
			out[i].secret = out[i].secret || secretVars[m[1]]
		}
	}
	return out
}

// unexpander returns unexpand over what the walker expanded, nil if nothing.
func (w *configWalker) unexpander() func(string) string {
	if len(w.expanded) == 0 {
		return nil
	}
	exps := w.expansions()
	return func(msg string) string { return unexpand(msg, exps) }
}

// unexpand writes the variables' names back in place of the secrets they
// gave, then names the variables beside the other values, where a message
// quotes them: `"europe" (from ${DC}) is not one of ...`.
func unexpand(msg string, exps []expansion) string {
	for _, e := range exps {
		if e.secret {
			msg = strings.ReplaceAll(msg, e.value, e.text)
		}
	}
	for _, e := range exps {
		if !e.secret {
			q := strconv.Quote(e.value)
			msg = strings.ReplaceAll(msg, q, q+" (from "+e.text+")")
		}
	}
	return msg
}

func (w *configWalker) fail(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Key: path, Message: fmt.Sprintf(format, args...), Line: n.Line})
}

// failValue reports a value that cannot be read and marks it, so the rest
// of the config can still be read without it (ParseError.Partial).
func (w *configWalker) failValue(n *yaml.Node, path, format string, args ...any) {
	w.fail(n, path, format, args...)
	w.bad = append(w.bad, n)
}

var (
	durationType = reflect.TypeFor[Duration]()
	anyType      = reflect.TypeFor[any]()
	secretType   = reflect.TypeFor[Secret]()
)

// maxWalkSteps bounds the nodes visited, aliases expanded: a real config has
// a few thousand; more is an alias bomb.
const maxWalkSteps = 50_000

func (w *configWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if w.aborted {
		return
	}
	if w.steps++; w.steps > maxWalkSteps {
		w.fail(n, path, "the config expands to too many values (aliases that repeat aliases?)")
		w.aborted = true
		return
	}
	if w.active[n] {
		w.fail(n, path, "an alias refers to a value that contains it")
		return
	}
	w.active[n] = true
	defer delete(w.active, n)
	if n.Kind == yaml.ScalarNode {
		w.expand(n, path, t)
	}
	if isNull(n) {
		return
	}
	if path != "" {
		w.lines[path] = n.Line
	}
	switch {
	case t == durationType:
		if _, err := parseDuration(n); err != nil {
			w.failValue(n, path, "%v", err)
		}
	case t == anyType:
		w.walkAny(n, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.failValue(n, path, "expected a mapping of keys (%s), got %s", strings.Join(yamlKeys(t), ", "), nodeKind(n))
			return
		}
		w.walkMapping(n, path, func(key *yaml.Node, kpath string) (reflect.Type, bool) {
			f, ok := fieldByTag(t, key.Value)
			if !ok && path == "" && strings.HasPrefix(key.Value, "x-") {
				return nil, false // an extension key: a place for anchors, read only through them
			}
			if !ok {
				msg := "unknown key"
				if near := suggestKey(key.Value, yamlKeys(t)); near != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", near)
				} else {
					where := "the top level"
					if path != "" {
						where = path
					}
					msg += fmt.Sprintf(" (known keys of %s: %s)", where, strings.Join(yamlKeys(t), ", "))
				}
				w.fail(key, kpath, "%s", msg)
				return nil, false
			}
			return f.Type, true
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.failValue(n, path, "expected a mapping, got %s", nodeKind(n))
			return
		}
		w.walkMapping(n, path, func(*yaml.Node, string) (reflect.Type, bool) { return t.Elem(), true })
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.failValue(n, path, "expected a list (e.g. [a, b]), got %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.failValue(n, path, "expected %s, got %s", kindWord(t), nodeKind(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.failValue(n, path, "%q is not %s", n.Value, kindWord(t))
		}
	}
}

// walkMapping visits the pairs of a mapping, resolving merge keys (<<) as
// YAML's merge spec says, and rejecting duplicate keys; elem returns the
// type of a key's value, or false when the key is unknown (already
// reported).
func (w *configWalker) walkMapping(n *yaml.Node, path string, elem func(key *yaml.Node, kpath string) (reflect.Type, bool)) {
	for _, kv := range w.mergedPairs(n, path, map[string]bool{}, map[*yaml.Node]bool{}) {
		k, v := kv[0], kv[1]
		kpath := k.Value
		if path != "" {
			kpath = path + "." + k.Value
		}
		if t, ok := elem(k, kpath); ok {
			w.walk(v, t, kpath)
		}
	}
}

// mergedPairs returns the key/value pairs of mapping m that count, in the
// order written, leaving out the keys in taken (and adding its own): a key
// written in m wins over the same key from a mapping merged with <<, and of
// the mappings of <<: [*a, *b] the earlier wins. A key written twice in one
// mapping is reported as a duplicate; merged is the mappings merged so far,
// each merged once.
func (w *configWalker) mergedPairs(m *yaml.Node, path string, taken map[string]bool, merged map[*yaml.Node]bool) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	var merges []*yaml.Node
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "a key must be a plain name, got %s", nodeKind(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			kpath := k.Value
			if path != "" {
				kpath = path + "." + k.Value
			}
			w.fail(k, kpath, "duplicate key (first set at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		if !taken[k.Value] {
			out = append(out, [2]*yaml.Node{k, v})
		}
	}
	for key := range first {
		taken[key] = true
	}
	for _, v := range merges {
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind == yaml.MappingNode && !merged[src] {
				merged[src] = true
				out = append(out, w.mergedPairs(src, path, taken, merged)...)
			}
		}
	}
	return out
}

// walkAny expands variables in a free-form value (constants).
func (w *configWalker) walkAny(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], anyType, path+"."+n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, anyType, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// expand replaces ${NAME} in a scalar, once per node (anchors are shared).
// A plain scalar that held a variable is resolved again, so
// `max_concurrency: ${N}` becomes a number; string targets stay strings
// whatever the variable holds.
func (w *configWalker) expand(n *yaml.Node, path string, t reflect.Type) {
	if w.seen[n] {
		if i, ok := w.expandedAt[n]; ok && t == secretType {
			w.expanded[i].secret = true // an alias gives a secret key what a variable gave another
		}
		return
	}
	w.seen[n] = true
	if !strings.Contains(n.Value, "${") {
		return
	}
	v, err := expandEnv(n.Value, w.env)
	if err != nil {
		w.failValue(n, path, "%v", err)
		return
	}
	if v != "" && v != n.Value {
		if w.expandedAt == nil {
			w.expandedAt = map[*yaml.Node]int{}
		}
		w.expandedAt[n] = len(w.expanded)
		w.expanded = append(w.expanded, expansion{value: v, text: n.Value, secret: t == secretType})
	}
	n.Value = v
	switch {
	case t.Kind() == reflect.String || t == durationType:
		n.Tag = "!!str"
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0:
		n.Tag = "" // resolve again: plain scalars take the type of their new value
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} with env(NAME) and $${ with a literal ${.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q (write $${ for a literal ${)", s[i:])
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			return "", fmt.Errorf("${%s} is not a valid environment variable name (write $${ for a literal ${)", name)
		}
		v, ok := env(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// yamlName returns the YAML key of a struct field, "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// readSecretFiles replaces every Secret "file:/path" with the file's
// content, trimmed of its trailing newline, and reports every file that
// cannot be read or is empty (naming the key and the path, never content).
func readSecretFiles(v reflect.Value, path string, lines map[string]int, dir string) []Problem {
	t := v.Type()
	var out []Problem
	switch {
	case t == reflect.TypeFor[Secret]():
		s := v.Interface().(Secret).Reveal()
		file, ok := strings.CutPrefix(s, "file:")
		if !ok {
			return nil
		}
		bad := func(format string, args ...any) []Problem {
			return []Problem{{Key: path, Message: fmt.Sprintf(format, args...), Line: lines[path]}}
		}
		if file == "" {
			return bad("file: needs a path (file:/run/secrets/name)")
		}
		file = inDir(dir, file)
		data, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named below
			}
			return bad("cannot read the secret file %s: %v", file, err)
		}
		secret := strings.TrimRight(string(data), "\r\n")
		if strings.TrimSpace(secret) == "" {
			return bad("the secret file %s is empty", file)
		}
		if named := namedSecret(secret); named != "" {
			what := "the secret"
			switch {
			case strings.HasSuffix(path, "token"):
				what = "the token"
			case strings.HasSuffix(path, "password"):
				what = "the password"
			}
			return bad("the secret file %s holds `%s`; it should hold %s alone", file, named, what)
		}
		v.SetString(secret)
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			out = append(out, readSecretFiles(v.Field(i), p, lines, dir)...)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		for i := range v.Len() {
			out = append(out, readSecretFiles(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lines, dir)...)
		}
	}
	return out
}

// secretLine matches a first line that names a secret before giving it
// ("refresh_token: 1000.x", as zohosink auth prints it, or
// "ZOHO_CLIENT_SECRET=abc", as an env file holds it).
var secretLine = regexp.MustCompile(`(?i)^\s*(?:export\s+)?"?((?:zoho_)?(?:refresh_token|client_secret|access_token|password))"?\s*([:=])`)

// namedSecret returns how a secret file's content names its secret
// ("refresh_token: ..." when it holds `refresh_token: 1000...` pasted from
// zohosink auth's output), "" when it starts with the secret itself.
func namedSecret(content string) string {
	first, _, _ := strings.Cut(strings.TrimLeft(content, " \t\r\n"), "\n")
	m := secretLine.FindStringSubmatch(first)
	switch {
	case m == nil:
		return ""
	case m[2] == ":":
		return m[1] + ": ..."
	}
	return m[1] + "=..."
}

// inDir returns a relative path as a path in dir (when dir is not "").
func inDir(dir, path string) string {
	if dir == "" || path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// resolveTLSFiles makes the TLS files' relative paths paths in dir.
func (c *Config) resolveTLSFiles(dir string) {
	t := &c.Kafka.TLS
	t.CAFile, t.CertFile, t.KeyFile = inDir(dir, t.CAFile), inDir(dir, t.CertFile), inDir(dir, t.KeyFile)
}

// applyDefaults fills absent keys (lines lacks them) and empty strings.
func (c *Config) applyDefaults(lines map[string]int) {
	orStr := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	orDur := func(d *Duration, key string, def time.Duration) {
		if _, set := lines[key]; !set {
			*d = Duration(def)
		}
	}
	k := &c.Kafka
	orStr(&k.GroupID, DefaultGroupID)
	orStr(&k.DeadLetterTopic, k.GroupID+".dlq")
	orStr(&k.StartOffset, DefaultStartOffset)
	orDur(&k.CommitInterval, "kafka.commit_interval", DefaultCommitInterval)
	orDur(&k.SessionTimeout, "kafka.session_timeout", DefaultSessionTimeout)
	orDur(&k.RebalanceTimeout, "kafka.rebalance_timeout", DefaultRebalanceTimeout)
	z := &c.Zoho
	orStr(&z.Environment, DefaultEnvironment)
	orStr(&z.Edition, DefaultEdition)
	orDur(&z.RequestTimeout, "zoho.request_timeout", DefaultRequestTimeout)
	for i := range c.Syncs {
		s := &c.Syncs[i]
		p := fmt.Sprintf("syncs[%d].", i)
		if _, set := lines[p+"batch_size"]; !set {
			s.BatchSize = DefaultBatchSize
		}
		orDur(&s.Linger, p+"linger", DefaultLinger)
		orStr(&s.Format, DefaultFormat)
		if s.Trigger == nil {
			s.Trigger = []string{}
		}
		if _, set := lines[p+"skip_features"]; !set && s.SkipFeatures == nil {
			s.SkipFeatures = []string{zoho.SkipCadences}
		}
		if _, set := lines[p+"fields"]; !set && s.Fields == nil {
			if info, ok := Module(s.Module); ok {
				s.Fields = make(map[string]string, len(info.DefaultFields))
				for _, f := range info.DefaultFields {
					if _, constant := s.Constants[f]; !constant { // a constant overrides the default
						s.Fields[f] = strings.ToLower(f)
					}
				}
				s.FieldsDefaulted = true
			}
		}
	}
	orStr(&c.HTTP.Listen, DefaultHTTPListen)
	orStr(&c.Log.Level, DefaultLogLevel)
	orStr(&c.Log.Format, DefaultLogFormat)
	orDur(&c.Log.ProgressInterval, "log.progress_interval", DefaultProgressInterval)
	c.moveRegistryCredentials()
}

// moveRegistryCredentials moves a user and password written in
// schema_registry.url (http://user:password@host:8081) to username and
// password, so the URL the registry client carries in every error it
// returns (and so in logs, /status and validate's output) holds no secret.
// When username is set too the URL is left as it is and Validate refuses it
// (two places for one credential), without quoting it.
func (c *Config) moveRegistryCredentials() {
	r := &c.SchemaRegistry
	u, err := url.Parse(r.URL)
	if err != nil || u.User == nil || r.Username != "" {
		return
	}
	r.Username = u.User.Username()
	if pw, ok := u.User.Password(); ok {
		r.Password = Secret(pw)
	}
	u.User = nil
	r.URL = u.String()
}

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []Problem
}

// Problem is one invalid or missing value.
type Problem struct {
	// Sync is the name of the sync the key belongs to, "" for global keys
	// (and for a sync without a name: Key still says which one).
	Sync string
	// Key is the key path, e.g. "syncs[1].match_on" or "zoho.data_center".
	Key string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
	// Line is the line of the key in the config file (of the nearest
	// enclosing key present when the key itself is absent); 0 when unknown.
	Line int
}

// String formats the problem as one line:
// `sync "contacts": syncs[0].match_on: ... (line 14)`.
func (p Problem) String() string {
	s := p.Key + ": " + p.Message
	if p.Sync != "" {
		s = fmt.Sprintf("sync %q: %s", p.Sync, s)
	}
	if p.Line > 0 {
		s += fmt.Sprintf(" (line %d)", p.Line)
	}
	return s
}

// lineOf returns the line of key, or of its nearest enclosing key present
// in the file (syncs[1].match_on -> syncs[1]); 0 when none is known.
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// Error returns one line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Validation vocabularies.
var (
	dataCenters     = []string{"us", "eu", "in", "au", "jp", "ca", "cn", "sa"}
	environments    = []string{"production", "sandbox", "developer"}
	saslMechanisms  = []string{"plain", "scram-sha-256", "scram-sha-512"}
	syncTypes       = []string{"model", "audience"}
	removeActions   = []string{"delete", "untag", "clear_fields"}
	triggers        = []string{"workflow", "approval", "blueprint", "pathfinder", "orchestration"}
	syncFormats     = []string{"auto", "avro", "json"}
	logLevels       = []string{"debug", "info", "warn", "error"}
	logFormats      = []string{"json", "text"}
	modesByType     = map[string][]string{"model": {"upsert", "insert", "update"}, "audience": {"add", "remove", "mirror", "upsert"}}
	editionNames    = []string{"free", "standard", "professional", "enterprise", "ultimate"}
	editionMaxCalls = map[string]int{"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}

	syncNameRe  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	apiNameRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$]*$`)
	topicNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

// maxConcurrency is the highest max_concurrency of any edition.
const maxConcurrency = 25

type problemList []Problem

func (l *problemList) add(sync, key, format string, args ...any) {
	*l = append(*l, Problem{Sync: sync, Key: key, Message: fmt.Sprintf(format, args...)})
}

func oneOf(list []string) string { return strings.Join(list, ", ") }

// Validate checks the whole config and returns a *ValidationError listing
// every problem, each naming its sync and key, or nil when the config is
// valid. It reads the TLS files' metadata but changes nothing.
func (c *Config) Validate() error {
	var p problemList
	c.validateKafka(&p)
	c.validateRegistry(&p)
	c.validateZoho(&p)
	c.validateSyncs(&p)
	if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		p.add("", "http.listen", "%q is not host:port (e.g. 127.0.0.1:9464)", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("", "http.listen", "%q: port %q is not a number from 0 to 65535", c.HTTP.Listen, port)
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("", "log.level", "%q is not one of %s", c.Log.Level, oneOf(logLevels))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		p.add("", "log.format", "%q is not one of %s", c.Log.Format, oneOf(logFormats))
	}
	if c.Log.ProgressInterval.D() < time.Second {
		p.add("", "log.progress_interval", "%s: must be at least 1s", c.Log.ProgressInterval)
	}
	if len(p) == 0 {
		return nil
	}
	for i := range p {
		p[i].Line = lineOf(c.lines, p[i].Key)
		if c.unexpand != nil {
			p[i].Message = c.unexpand(p[i].Message)
		}
	}
	return &ValidationError{Problems: p}
}

func (c *Config) validateKafka(p *problemList) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		p.add("", "kafka.brokers", "required: list at least one broker as host:port")
	}
	for i, b := range k.Brokers {
		key := fmt.Sprintf("kafka.brokers[%d]", i)
		switch {
		case strings.TrimSpace(b) == "":
			p.add("", key, "empty broker address")
		case strings.Contains(b, "://"):
			p.add("", key, "%q is a URL; a broker is host:port (e.g. localhost:9092)", b)
		case strings.ContainsAny(b, " ,"):
			p.add("", key, "%q is not one host:port; list each broker as its own item", b)
		}
	}
	if k.GroupID == "" {
		p.add("", "kafka.group_id", "required")
	}
	if k.DeadLetterTopic == "" {
		p.add("", "kafka.dead_letter_topic", "required")
	} else if !topicNameRe.MatchString(k.DeadLetterTopic) {
		p.add("", "kafka.dead_letter_topic", "%q is not a valid Kafka topic name ([A-Za-z0-9._-], at most 249 characters)", k.DeadLetterTopic)
	}
	if k.StartOffset != "earliest" && k.StartOffset != "latest" {
		p.add("", "kafka.start_offset", "%q is not earliest or latest", k.StartOffset)
	}
	if d := k.CommitInterval.D(); d <= 0 || d > MaxCommitInterval {
		p.add("", "kafka.commit_interval", "%s is out of range: must be more than 0 and at most %s", d, MaxCommitInterval)
	}
	if k.SessionTimeout.D() <= 0 {
		p.add("", "kafka.session_timeout", "%s: must be more than 0", k.SessionTimeout)
	}
	if k.RebalanceTimeout.D() <= 0 {
		p.add("", "kafka.rebalance_timeout", "%s: must be more than 0", k.RebalanceTimeout)
	}
	if k.TLS.Enabled {
		for _, f := range []struct{ key, path string }{
			{"kafka.tls.ca_file", k.TLS.CAFile}, {"kafka.tls.cert_file", k.TLS.CertFile}, {"kafka.tls.key_file", k.TLS.KeyFile},
		} {
			if f.path == "" {
				continue
			}
			if st, err := os.Stat(f.path); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				p.add("", f.key, "cannot read %s: %v", f.path, err)
			} else if st.IsDir() {
				p.add("", f.key, "%s is a directory, not a PEM file", f.path)
			}
		}
		if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
			key := "kafka.tls.key_file"
			if k.TLS.CertFile == "" {
				key = "kafka.tls.cert_file"
			}
			p.add("", key, "cert_file and key_file go together: set both for mutual TLS, or neither")
		}
	}
	s := k.SASL
	switch s.Mechanism {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.Username == "" {
			p.add("", "kafka.sasl.username", "required with sasl.mechanism %s", s.Mechanism)
		}
		if s.Password == "" {
			p.add("", "kafka.sasl.password", "required with sasl.mechanism %s", s.Mechanism)
		}
	default:
		msg := fmt.Sprintf("%q is not one of %s (or empty for none)", s.Mechanism, oneOf(saslMechanisms))
		if low := strings.ToLower(strings.ReplaceAll(s.Mechanism, "_", "-")); slices.Contains(saslMechanisms, low) {
			msg = fmt.Sprintf("%q: write %s", s.Mechanism, low)
		}
		p.add("", "kafka.sasl.mechanism", "%s", msg)
	}
}

func (c *Config) validateRegistry(p *problemList) {
	r := c.SchemaRegistry
	if r.URL == "" {
		for _, s := range c.Syncs {
			if s.Format == "auto" || s.Format == "avro" {
				p.add("", "schema_registry.url", "required: sync %q decodes with format %s, and Confluent-framed Avro needs the registry (with format auto zohosink cannot know beforehand whether a topic carries Avro; set format: json on syncs whose topics carry plain JSON to run without one)", s.Name, s.Format)
				break
			}
		}
	} else if msg := checkHTTPURL(r.URL); msg != "" {
		p.add("", "schema_registry.url", "%s", msg)
	} else if u, _ := url.Parse(r.URL); u.User != nil {
		p.add("", "schema_registry.url", "carries a user (and password) while schema_registry.username is set too: give the credentials once, in username and password")
	}
	if r.Username == "" && r.Password != "" {
		p.add("", "schema_registry.username", "required when schema_registry.password is set")
	}
	if r.Username != "" && r.Password == "" {
		p.add("", "schema_registry.password", "required when schema_registry.username is set")
	}
}

// checkHTTPURL returns what is wrong with an http(s) base URL, "" if nothing.
// The URL is quoted without a password it may hold.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", RedactURL(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", u.Redacted())
	}
	return ""
}

// userinfo matches the user:password@ part of URLs inside any text.
var userinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@`)

// RedactURL returns text with the password of every URL in it replaced by
// xxxxx (http://bob:xxxxx@host), also where the URL does not parse. Errors
// of libraries that quote the URL they called pass through it before they
// are logged or shown.
func RedactURL(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	return userinfo.ReplaceAllString(text, "${1}:xxxxx@")
}

func (c *Config) validateZoho(p *problemList) {
	z := c.Zoho
	switch {
	case z.DataCenter == "":
		p.add("", "zoho.data_center", "required: one of %s (the domain of your Zoho login: zoho.com is us, zoho.eu is eu, ...)", oneOf(dataCenters))
	case !slices.Contains(dataCenters, z.DataCenter):
		msg := fmt.Sprintf("%q is not one of %s", z.DataCenter, oneOf(dataCenters))
		if dc := suggestDataCenter(z.DataCenter); dc != "" {
			msg += fmt.Sprintf(" (write %s)", dc)
		}
		p.add("", "zoho.data_center", "%s", msg)
	}
	if !slices.Contains(environments, z.Environment) {
		p.add("", "zoho.environment", "%q is not one of %s", z.Environment, oneOf(environments))
	}
	if z.ClientID == "" {
		p.add("", "zoho.client_id", "required: the client id of your Zoho API console client")
	}
	if z.ClientSecret == "" {
		p.add("", "zoho.client_secret", "required: the client secret of your Zoho API console client")
	}
	if z.RefreshToken == "" {
		p.add("", "zoho.refresh_token", "required: get one with zohosink auth")
	}
	limit, knownEdition := editionMaxCalls[z.Edition]
	if !knownEdition {
		p.add("", "zoho.edition", "%q is not one of %s", z.Edition, oneOf(editionNames))
	}
	switch {
	case z.MaxConcurrency < 0 || z.MaxConcurrency > maxConcurrency:
		p.add("", "zoho.max_concurrency", "%d is out of range 0..%d (0 = the edition's limit)", z.MaxConcurrency, maxConcurrency)
	case knownEdition && z.MaxConcurrency > limit:
		p.add("", "zoho.max_concurrency", "%d is above the %s edition's limit of %d calls at once; Zoho would answer the excess with 429", z.MaxConcurrency, z.Edition, limit)
	}
	if z.DailyCreditBudget < 0 {
		p.add("", "zoho.daily_credit_budget", "%d: must be 0 (no budget) or more", z.DailyCreditBudget)
	}
	if z.RequestTimeout.D() <= 0 {
		p.add("", "zoho.request_timeout", "%s: must be more than 0", z.RequestTimeout)
	}
	if !(z.RequestsPerSecond >= 0) { // also NaN
		p.add("", "zoho.requests_per_second", "%v: must be 0 (no cap) or more", z.RequestsPerSecond)
	}
	for _, u := range []struct{ key, url string }{{"zoho.api_domain", z.APIDomain}, {"zoho.accounts_url", z.AccountsURL}} {
		if u.url == "" {
			continue
		}
		if msg := checkHTTPURL(u.url); msg != "" {
			p.add("", u.key, "%s", msg)
		} else if pu, _ := url.Parse(u.url); pu.User != nil {
			p.add("", u.key, "holds a user or password (user:password@): Zoho authenticates with OAuth tokens only; remove it")
		}
	}
}

// dataCenterAliases are what people write for a data center: its region,
// country, or the domain of its Zoho login (zoho.eu) after the name.
var dataCenterAliases = map[string]string{
	"usa": "us", "com": "us", "america": "us", "united states": "us", "north america": "us",
	"europe": "eu", "european union": "eu",
	"india":     "in",
	"australia": "au", "com.au": "au",
	"japan":  "jp",
	"canada": "ca",
	"china":  "cn", "com.cn": "cn",
	"saudi": "sa", "saudi arabia": "sa", "ksa": "sa",
}

// suggestDataCenter returns the data center a wrong data_center most
// likely means ("EU", "europe", "zoho.eu", "https://accounts.zoho.com.au"),
// "" when none.
func suggestDataCenter(s string) string {
	v := strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	v = strings.TrimSuffix(v, "/")
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == '_' || r == '-' || r == ' ' }), " ")
	// A host or domain: what follows zoho. or zohoapis. names the center.
	for _, name := range []string{"zohoapis.", "zohocloud.", "zoho."} {
		if i := strings.Index(v, name); i >= 0 {
			v = v[i+len(name):]
			break
		}
	}
	if slices.Contains(dataCenters, v) {
		return v
	}
	return dataCenterAliases[v]
}

// writesNew reports whether a sync creates records, and so must map its
// module's required fields.
func writesNew(typ, mode string) bool {
	switch typ {
	case "model":
		return mode == "upsert" || mode == "insert"
	case "audience":
		return mode == "add" || mode == "mirror" || mode == "upsert"
	}
	return false
}

// needsMatch reports whether a sync must say how to find Zoho records.
func needsMatch(typ, mode string) bool {
	return typ == "audience" || (typ == "model" && (mode == "upsert" || mode == "update"))
}

func (c *Config) validateSyncs(p *problemList) {
	if len(c.Syncs) == 0 {
		p.add("", "syncs", "at least one sync is required")
		return
	}
	names := map[string]int{}
	topics := map[string]int{}
	for i := range c.Syncs {
		s := &c.Syncs[i]
		key := func(k string) string { return fmt.Sprintf("syncs[%d].%s", i, k) }
		add := func(k, format string, args ...any) { p.add(s.Name, key(k), format, args...) }

		switch j, dup := names[s.Name]; {
		case s.Name == "":
			add("name", "required: a name like contacts, used in logs, metrics and dead letters")
		case !syncNameRe.MatchString(s.Name):
			add("name", "%q may hold only a-z, 0-9, _ and -", s.Name)
		case dup:
			add("name", "%q is also the name of syncs[%d]; names must be unique", s.Name, j)
		default:
			names[s.Name] = i
		}

		if len(s.Topics) == 0 {
			add("topics", "required: list the Kafka topics of the sync")
		}
		for ti, t := range s.Topics {
			tk := fmt.Sprintf("topics[%d]", ti)
			switch j, dup := topics[t]; {
			case !topicNameRe.MatchString(t):
				add(tk, "%q is not a valid Kafka topic name ([A-Za-z0-9._-], at most 249 characters)", t)
			case t == c.Kafka.DeadLetterTopic:
				add(tk, "%q is the dead-letter topic (kafka.dead_letter_topic): a sync cannot read it", t)
			case dup && j == i:
				add(tk, "%q is listed twice", t)
			case dup:
				add(tk, "%q is also read by sync %q (syncs[%d]): a topic belongs to one sync", t, c.Syncs[j].Name, j)
			default:
				topics[t] = i
			}
		}

		info, knownModule := Module(s.Module)
		if !knownModule {
			switch suggestion := suggestModule(s.Module); {
			case s.Module == "":
				add("module", "required: one of %s", oneOf(ModuleNames))
			case suggestion != "":
				add("module", "%q is not a module; write %s (module API names are case-sensitive)", s.Module, suggestion)
			default:
				add("module", "%q is not one of %s", s.Module, oneOf(ModuleNames))
			}
		}

		typeOK := slices.Contains(syncTypes, s.Type)
		if !typeOK {
			add("type", "%q is not one of %s", s.Type, oneOf(syncTypes))
		}
		modeOK := false
		if typeOK {
			modeOK = slices.Contains(modesByType[s.Type], s.Mode)
			if !modeOK {
				msg := fmt.Sprintf("%q is not a mode of type %s: one of %s", s.Mode, s.Type, oneOf(modesByType[s.Type]))
				for t, modes := range modesByType {
					if t != s.Type && slices.Contains(modes, s.Mode) {
						msg += fmt.Sprintf(" (%s is a mode of type %s)", s.Mode, t)
					}
				}
				add("mode", "%s", msg)
			}
		}

		mapped := func(f string) bool {
			_, inFields := s.Fields[f]
			_, inConstants := s.Constants[f]
			return inFields || inConstants
		}
		for _, f := range sortedNames(s.Fields) {
			if !apiNameRe.MatchString(f) {
				add("fields."+f, "%q is not a Zoho field API name (letters, digits, _ and $, starting with a letter, e.g. Last_Name)", f)
			}
			if strings.TrimSpace(s.Fields[f]) == "" {
				add("fields."+f, "no source column: write %s: <column>", f)
			}
			if _, both := s.Constants[f]; both {
				add("constants."+f, "%s is mapped under fields and constants; keep one", f)
			}
		}
		for _, f := range sortedNames(s.Constants) {
			if !apiNameRe.MatchString(f) {
				add("constants."+f, "%q is not a Zoho field API name (letters, digits, _ and $, starting with a letter)", f)
			}
			if s.Constants[f] == nil {
				add("constants."+f, "has no value")
			}
		}

		if typeOK && modeOK && needsMatch(s.Type, s.Mode) && len(s.MatchOn) == 0 {
			hint := ""
			if knownModule {
				hint = fmt.Sprintf(" (e.g. [%s], Zoho's duplicate check field of %s)", info.DefaultMatchField, info.Name)
			}
			add("match_on", "required for %s mode %s: the Zoho fields that identify a record%s", s.Type, s.Mode, hint)
		}
		// misspelt names a mapped field that looks like f mistyped.
		misspelt := func(f string) string {
			var names []string
			for _, k := range sortedNames(s.Fields) {
				if k != f {
					names = append(names, k)
				}
			}
			for _, k := range sortedNames(s.Constants) {
				if k != f {
					names = append(names, k)
				}
			}
			for _, k := range names {
				if keyDistance(strings.ToLower(k), strings.ToLower(f)) <= 2 {
					where := "fields"
					if _, ok := s.Constants[k]; ok {
						where = "constants"
					}
					return fmt.Sprintf(" (%s maps %s, which looks alike: is one of them misspelt?)", where, k)
				}
			}
			return ""
		}
		seenMatch := map[string]bool{}
		for mi, f := range s.MatchOn {
			mk := fmt.Sprintf("match_on[%d]", mi)
			switch {
			case !apiNameRe.MatchString(f):
				add(mk, "%q is not a Zoho field API name (e.g. Email)", f)
			case seenMatch[f]:
				add(mk, "%s is listed twice", f)
			case !mapped(f):
				add(mk, "%s is not mapped, so its value is not known: map it under fields (%s: <column>) or constants%s", f, f, misspelt(f))
			}
			seenMatch[f] = true
		}

		if typeOK && modeOK && knownModule && writesNew(s.Type, s.Mode) {
			for _, f := range info.RequiredFields {
				if !mapped(f) {
					add("fields", "module %s requires %s: map it under fields (%s: <column>) or constants%s", info.Name, f, f, misspelt(f))
				}
			}
		}

		removes := s.Type == "audience" && (s.Mode == "remove" || s.Mode == "mirror")
		switch {
		case s.Type == "model" && s.RemoveAction != "":
			add("remove_action", "not allowed for model syncs (deletes are skipped); it is for audience modes remove and mirror")
		case s.Type == "audience" && modeOK && !removes && s.RemoveAction != "":
			add("remove_action", "has no effect in audience mode %s (members are never removed); it is for modes remove and mirror", s.Mode)
		case removes && s.RemoveAction == "":
			add("remove_action", "required for audience mode %s (no default): one of %s", s.Mode, oneOf(removeActions))
		case s.RemoveAction != "" && !slices.Contains(removeActions, s.RemoveAction):
			add("remove_action", "%q is not one of %s", s.RemoveAction, oneOf(removeActions))
		}
		if s.RemoveAction == "untag" && s.Tag == "" {
			add("tag", "required with remove_action untag: the Zoho tag that marks members")
		}
		if s.Type == "model" && s.Tag != "" {
			add("tag", "tags are for audience syncs; a model sync does not tag")
		}
		if s.RemoveAction == "clear_fields" && len(s.ClearFields) == 0 {
			add("clear_fields", "required with remove_action clear_fields: the fields set to null when a member leaves")
		}
		if s.RemoveAction != "clear_fields" && len(s.ClearFields) > 0 {
			add("clear_fields", "has no effect without remove_action clear_fields")
		}
		for ci, f := range s.ClearFields {
			ck := fmt.Sprintf("clear_fields[%d]", ci)
			switch {
			case !apiNameRe.MatchString(f):
				add(ck, "%q is not a Zoho field API name", f)
			case knownModule && slices.Contains(info.RequiredFields, f):
				add(ck, "%s is required by module %s and cannot be cleared", f, info.Name)
			case slices.Contains(s.MatchOn, f):
				add(ck, "%s is in match_on: a cleared record could no longer be found", f)
			}
		}

		for ti, t := range s.Trigger {
			if !slices.Contains(triggers, t) {
				add(fmt.Sprintf("trigger[%d]", ti), "%q is not one of %s", t, oneOf(triggers))
			}
		}
		for fi, f := range s.SkipFeatures {
			if !slices.Contains(zoho.SkipFeatureNames, f) {
				add(fmt.Sprintf("skip_features[%d]", fi), "%q is not one of %s", f, oneOf(zoho.SkipFeatureNames))
			}
		}
		if s.Tag != "" {
			if err := zoho.ValidateTagName(s.Tag); err != nil {
				add("tag", "%s", strings.TrimPrefix(err.Error(), "zoho: "))
			}
		}
		if s.BatchSize < 1 || s.BatchSize > 100 {
			add("batch_size", "%d is out of range 1..100 (Zoho takes at most 100 records per call)", s.BatchSize)
		}
		if d := s.Linger.D(); d <= 0 || d > MaxLinger {
			add("linger", "%s is out of range: must be more than 0 and at most %s", d, MaxLinger)
		}
		if !slices.Contains(syncFormats, s.Format) {
			add("format", "%q is not one of %s", s.Format, oneOf(syncFormats))
		}
	}
}

// suggestModule returns the module a misspelt name most likely means
// ("contacts", "Contact", "LEADS"), "" when none.
func suggestModule(name string) string {
	for _, m := range ModuleNames {
		if strings.EqualFold(m, name) || strings.EqualFold(m, name+"s") {
			return m
		}
	}
	return ""
}

// suggestKey returns the known key nearest to an unknown one, "" when none
// is close.
func suggestKey(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := keyDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// keyDistance is the edit distance of two keys, a swap of two neighbouring
// letters counting as one edit (optimal string alignment): "Titel" is one
// edit from "Title".
func keyDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Redacted returns the config as YAML, defaults included, with every secret
// shown as [redacted]: what `zohosink validate` and logs may print.
func (c *Config) Redacted() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		// Only a value YAML cannot encode (a channel in constants, say) gets
		// here; never print a partial config.
		return fmt.Sprintf("# the config cannot be shown as YAML: %v\n", err)
	}
	_ = enc.Close()
	return b.String()
}

// Summary describes the config in human lines for `zohosink validate`: the
// Kafka and Zoho endpoints, then per sync its topics, module, type and mode,
// match_on and the fields it maps (marked "(default fields)" when the sync
// omitted fields).
func (c *Config) Summary() []string {
	k, z := c.Kafka, c.Zoho
	conc := "the edition's limit"
	if z.MaxConcurrency > 0 {
		conc = strconv.Itoa(z.MaxConcurrency)
	}
	lines := []string{
		fmt.Sprintf("kafka: brokers %s, group %s, dead letters to %s", strings.Join(k.Brokers, ", "), k.GroupID, k.DeadLetterTopic),
		fmt.Sprintf("zoho: data center %s (%s), edition %s, concurrency %s", z.DataCenter, z.Environment, z.Edition, conc),
	}
	for i := range c.Syncs {
		s := &c.Syncs[i]
		line := fmt.Sprintf("sync %s: %s -> %s, %s/%s", s.Name, strings.Join(s.Topics, ", "), s.Module, s.Type, s.Mode)
		if len(s.MatchOn) > 0 {
			line += ", match_on " + strings.Join(s.MatchOn, ", ")
		}
		if s.RemoveAction != "" {
			line += ", remove_action " + s.RemoveAction
		}
		if s.Tag != "" {
			line += ", tag " + s.Tag
		}
		lines = append(lines, line)
		fields := make([]string, 0, len(s.Fields))
		for _, f := range sortedNames(s.Fields) {
			fields = append(fields, f+" <- "+s.Fields[f])
		}
		fl := "  fields: " + strings.Join(fields, ", ")
		if len(fields) == 0 {
			fl = "  fields: none"
		}
		if s.FieldsDefaulted {
			fl += " (default fields)"
		}
		lines = append(lines, fl)
		if len(s.Constants) > 0 {
			consts := make([]string, 0, len(s.Constants))
			for _, f := range sortedNames(s.Constants) {
				consts = append(consts, fmt.Sprintf("%s = %v", f, s.Constants[f]))
			}
			lines = append(lines, "  constants: "+strings.Join(consts, ", "))
		}
	}
	return lines
}

// ReferenceKeys returns the path of every YAML key of Config, sections
// included, in the order of the struct: "kafka", "kafka.brokers", ...,
// "syncs", "syncs[].match_on", .... It is derived from the yaml tags, so a
// test can check that the README's reference names every key.
func ReferenceKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			key := prefix + name
			keys = append(keys, key)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, key+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[].")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}

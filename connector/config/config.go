package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is zohosink's configuration: the YAML file the README's
// "Configuration reference" describes, one struct per section.
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
	// StartOffset is where partitions with no committed offset start, and
	// those whose committed offset Kafka deleted (retention): "earliest"
	// (default) or "latest".
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
	// HeartbeatInterval is how often a member tells the group's coordinator
	// it is alive, and so how soon it learns a rebalance began (default
	// 100ms: see DefaultHeartbeatInterval). Less than a third of
	// SessionTimeout, as Kafka advises.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// InstanceID turns on static group membership (KIP-345): a restarted
	// member with the same id takes its partitions back at once. Use the pod
	// name on Kubernetes.
	InstanceID string `yaml:"instance_id"`
	// MaxBufferedBytes bounds the memory the process holds for records
	// consumed and not yet done (written, skipped or dead-lettered):
	// partitions stop being fetched at this estimate, and go on below three quarters
	// of it (default 64 MiB).
	MaxBufferedBytes int64      `yaml:"max_buffered_bytes"`
	TLS              TLSConfig  `yaml:"tls"`
	SASL             SASLConfig `yaml:"sasl"`
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
	// addition to the product contract's keys.
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
	// (the product's default), so the empty list is sent to Zoho, which
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
	// An addition to the product contract's keys.
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
	// DefaultHeartbeatInterval is short (Kafka's own is 3s) because a
	// cooperative rebalance takes two rounds and members learn of each at
	// their next heartbeat: while they wait, the partitions given up have no
	// owner and their share of Zoho's slots idles. At 100ms three processes
	// starting together reach 90–92% of Zoho's ceiling, at 250ms 86–90%
	// (BENCHMARKS.md), for ten small requests a second to the coordinator.
	DefaultHeartbeatInterval = 100 * time.Millisecond
	DefaultMaxBufferedBytes  = 64 << 20
	DefaultEnvironment       = "production"
	DefaultEdition           = "standard"
	DefaultRequestTimeout    = 30 * time.Second
	DefaultBatchSize         = 100
	DefaultLinger            = time.Second
	DefaultHTTPListen        = "127.0.0.1:9464"
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "json"
	DefaultProgressInterval  = 30 * time.Second
	DefaultFormat            = "auto"

	// MaxCommitInterval is the longest commit_interval allowed.
	MaxCommitInterval = 5 * time.Second
	// MaxLinger is the longest linger allowed.
	MaxLinger = 5 * time.Minute
)

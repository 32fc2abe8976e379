package connector

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"
	"zohosink/connector/config"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaOptions turns the kafka section of the config into franz-go options
// for the consumer group (and the dead-letter producer, which shares it).
// fetchMaxWait bounds how long the broker holds a fetch that has no data.
const fetchMaxWait = 250 * time.Millisecond

func kafkaOptions(cfg *config.Config) ([]kgo.Opt, error) {
	k := cfg.Kafka
	opts, err := BrokerOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(k.GroupID),
		kgo.SessionTimeout(k.SessionTimeout.D()),
		kgo.RebalanceTimeout(k.RebalanceTimeout.D()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transactions' commit and abort markers are handed to the poll,
		// which marks them done at once: a partition whose records are all
		// done is then released to its end (the last stable offset), even
		// when it ends with a marker or an aborted transaction, which the
		// limit shares need to see it caught up.
		kgo.KeepControlRecords(),
		// A partition resumed after back-pressure is fetched only once the
		// fetch in flight returns: under backlog the other partitions are
		// at their end or paused, so that fetch waits its longest. At
		// franz-go's default (5 s) the writes stalled for a second or more
		// at each resume (BENCHMARKS.md, issue 14); an idle consumer pays
		// with a few small fetches a second.
		kgo.FetchMaxWait(fetchMaxWait),
		// A member learns of a rebalance at its next heartbeat, and a
		// cooperative rebalance takes two rounds: the members that give
		// partitions up learn of the first, those that take them of the
		// second. Meanwhile those partitions have no owner and their
		// share of Zoho's limits idles (limit shares): at franz-go's
		// 3 s (one early check at 500 ms), processes starting together
		// wrote at a third of the ceiling for about half a second
		// (BENCHMARKS.md, issue 14). kafka.heartbeat_interval, 100 ms
		// by default, is 10 small requests a second to the coordinator;
		// three processes starting together reach 90-93% of the ceiling at
		// it, 86-90% at 250 ms, 82-89% at 500 ms (BENCHMARKS.md).
		kgo.HeartbeatInterval(cmp.Or(k.HeartbeatInterval.D(), config.DefaultHeartbeatInterval)), // 0: a Config not made by Load
	)
	if k.StartOffset == "latest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	if k.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.InstanceID))
	}
	return opts, nil
}

func tlsConfig(t config.TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user's explicit choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func saslMechanism(s config.SASLConfig) sasl.Mechanism {
	switch strings.ToLower(s.Mechanism) {
	case "plain":
		return plain.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsMechanism()
	case "scram-sha-256":
		return scram.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsSha256Mechanism()
	case "scram-sha-512":
		return scram.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsSha512Mechanism()
	}
	return nil
}

// kgoLogger passes franz-go's warnings and errors to slog. A warning that
// repeats (a broker that stays out of reach is retried by several requests
// every few seconds) is folded by the FoldingHandler the commands log
// through.
type kgoLogger struct{ l *slog.Logger }

func newKgoLogger(l *slog.Logger) *kgoLogger { return &kgoLogger{l: l} }

func (k *kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error("kafka: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		k.l.Warn("kafka: "+msg, keyvals...)
	}
}

// KafkaHint says what to check for a Kafka connection error, given what the
// config asks for ("" when it has nothing to add). A TLS or SASL setting that
// does not match the broker's listener shows only as EOF or a timeout.
func KafkaHint(cfg *config.Config, err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	tls, sasl := cfg.Kafka.TLS.Enabled, cfg.Kafka.SASL.Mechanism != ""
	switch {
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the broker does not speak TLS on this port: check kafka.tls"
	case strings.Contains(msg, "certificate"):
		return "the broker's certificate is not trusted: check kafka.tls.ca_file"
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "the broker refused the credentials: check kafka.sasl.username and password"
	case errors.Is(err, kerr.UnsupportedSaslMechanism) || errors.Is(err, kerr.IllegalSaslState):
		return "the broker's listener does not take this SASL mechanism: check kafka.sasl.mechanism"
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout"):
		switch {
		case tls && sasl:
			return "the broker closed or stalled the connection: does its listener speak TLS and SASL? check kafka.tls and kafka.sasl"
		case tls:
			return "the broker closed or stalled the connection: does its listener speak TLS? check kafka.tls"
		case sasl:
			return "the broker closed or stalled the connection: does its listener expect SASL (or TLS)? check kafka.sasl and kafka.tls"
		}
		return "the broker closed or stalled the connection: does its listener expect TLS or SASL? check kafka.tls and kafka.sasl"
	}
	return ""
}

// withKafkaHint appends KafkaHint to a message.
func withKafkaHint(cfg *config.Config, msg string, err error) string {
	if h := KafkaHint(cfg, err); h != "" {
		return msg + " (" + h + ")"
	}
	return msg
}

// SuggestTopic returns the topic of existing nearest to a missing one (a
// typo: at most 3 edits), or "".
func SuggestTopic(missing string, existing []string) string {
	best, bestD := "", 4
	for _, t := range existing {
		if d := config.EditDistance(missing, t); d < bestD && t != missing {
			best, bestD = t, d
		}
	}
	return best
}

// missingTopicsReason names the first sync with a missing topic, or "".
func (r *Runner) missingTopicsReason() string {
	for _, w := range r.workers {
		if m := r.missingTopicsOf(w.cfg); m != "" {
			return fmt.Sprintf("sync %s: %s", w.cfg.Name, m)
		}
	}
	return ""
}

// watchTopics checks that the topics of the syncs exist, at the start and
// then every half minute: a misspelt topic otherwise looks like a quiet
// one. /status and /readyz name the missing ones, and the log says it once
// per topic (and again when it appears).
func (r *Runner) watchTopics(ctx context.Context, topics []string) {
	adm := kadm.NewClient(r.cl)
	warned := map[string]bool{}
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		details, err := adm.ListTopics(cctx, topics...)
		cancel()
		if err == nil {
			missing := map[string]bool{}
			for _, t := range topics {
				if d, ok := details[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
					missing[t] = true
				}
			}
			r.missingTopics.Store(&missing)
			counts := map[string]int32{}
			for _, t := range topics {
				if d, ok := details[t]; ok && d.Err == nil {
					counts[t] = int32(len(d.Partitions))
				}
			}
			if old := r.topicPartitions.Swap(&counts); old != nil && !maps.Equal(*old, counts) {
				r.wakeGroup() // partitions added: not all owned any more
			}
			var all []string
			if len(missing) > 0 {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if everything, err := adm.ListTopics(cctx); err == nil {
					all = everything.Names()
				}
				cancel()
			}
			for _, t := range topics {
				switch {
				case missing[t] && !warned[t]:
					args := []any{"topic", t}
					if near := SuggestTopic(t, all); near != "" {
						args = append(args, "did_you_mean", near)
					}
					r.log.Warn("topic does not exist (yet): check its name in the config; Debezium creates a table's topic with its first change", args...)
				case !missing[t] && warned[t]:
					r.log.Info("topic exists now", "topic", t)
					r.cl.ForceMetadataRefresh() // consume it now, not at the next metadata refresh
				}
				warned[t] = missing[t]
			}
		}
		every := 30 * time.Second
		if p := r.missingTopics.Load(); p != nil && len(*p) > 0 {
			every = 5 * time.Second
		}
		if !sleepCtx(ctx, every) {
			return
		}
	}
}

// missingTopicsOf says which topics of a sync do not exist, "" when all do
// (or when not known yet).
func (r *Runner) missingTopicsOf(sc *config.SyncConfig) string {
	p := r.missingTopics.Load()
	if p == nil {
		return ""
	}
	var gone []string
	for _, t := range sc.Topics {
		if (*p)[t] {
			gone = append(gone, t)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	return fmt.Sprintf("topic %s does not exist (yet): check its name; Debezium creates a table's topic with its first change", strings.Join(gone, ", "))
}

// BrokerOptions returns the franz-go options to reach the config's Kafka
// cluster (brokers, TLS, SASL) without joining the consumer group.
func BrokerOptions(cfg *config.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ClientID("zohosink")}
	if cfg.Kafka.TLS.Enabled {
		tc, err := tlsConfig(cfg.Kafka.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := saslMechanism(cfg.Kafka.SASL); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

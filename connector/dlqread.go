package connector

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter is one record of the dead-letter topic, with its headers read.
type DeadLetter struct {
	// Where the record came from.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Why it was set aside.
	Sync        string `json:"sync"`
	Stage       string `json:"stage"`
	Module      string `json:"module"`
	Operation   string `json:"operation"`
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Message     string `json:"message"`
	ReplayCount int    `json:"replay_count"`
	// The record itself, as consumed.
	Key       []byte    `json:"key"`
	Value     []byte    `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	// Where it is in the dead-letter topic.
	DLQPartition int32 `json:"dlq_partition"`
	DLQOffset    int64 `json:"dlq_offset"`

	rec *kgo.Record
}

// ParseDeadLetter reads the headers zohosink wrote on a dead-letter record.
func ParseDeadLetter(r *kgo.Record) DeadLetter {
	d := DeadLetter{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, DLQPartition: r.Partition, DLQOffset: r.Offset, rec: r}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrTopic:
			d.Topic = v
		case hdrPartition:
			p, _ := strconv.Atoi(v)
			d.Partition = int32(p)
		case hdrOffset:
			d.Offset, _ = strconv.ParseInt(v, 10, 64)
		case hdrConnector:
			d.Sync = v
		case hdrStage:
			d.Stage = v
		case hdrMessage:
			d.Message = v
		case hdrModule:
			d.Module = v
		case hdrOperation:
			d.Operation = v
		case hdrCode:
			d.Code = v
		case hdrField:
			d.Field = v
		case hdrReplayCount:
			d.ReplayCount, _ = strconv.Atoi(v)
		}
	}
	return d
}

// ReadDeadLetters reads the dead-letter topic from its start to its end as
// it is now (at most limit records when limit > 0), without a consumer group
// and without committing anything.
func ReadDeadLetters(ctx context.Context, opts []kgo.Opt, topic string, limit int) ([]DeadLetter, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	want := map[int32]int64{}
	consume := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			consume[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(consume)
	var out []DeadLetter
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s/%d: %w", t, p, err) })
		if ferr != nil {
			return out, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				out = append(out, ParseDeadLetter(r))
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

// BrokerOptions returns the franz-go options to reach the config's Kafka
// cluster (brokers, TLS, SASL) without joining the consumer group.
func BrokerOptions(cfg *Config) ([]kgo.Opt, error) {
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

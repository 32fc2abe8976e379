package connector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replayCounts are what a replay did with the dead letters it read.
type replayCounts struct {
	overLimit  atomic.Int64 // left in the dead-letter topic: replayed max-replays times already
	unknown    atomic.Int64 // left: their sync is not in the config any more
	dispatched atomic.Int64
}

// ReplayResult sums up a replay.
type ReplayResult struct {
	Read        int64 // dead letters read
	Replayed    int64 // sent through their sync again
	OverLimit   int64 // left where they are: replayed --max-replays times already
	UnknownSync int64 // left where they are: no sync of that name in the config
}

// ReplayResult returns what the last replay did.
func (r *Runner) ReplayResult() ReplayResult {
	res := ReplayResult{
		Replayed:    r.replayed.dispatched.Load(),
		OverLimit:   r.replayed.overLimit.Load(),
		UnknownSync: r.replayed.unknown.Load(),
	}
	res.Read = res.Replayed + res.OverLimit + res.UnknownSync
	return res
}

// routeReplay turns a dead letter back into the record it was, for its sync:
// the original topic (so it decodes and routes as before) with the
// dead-letter partition and offset (so the replay's own checkpoint tracks
// it), the original origin headers, and the replay count raised by one. It
// returns a nil worker for a record not to replay.
func (r *Runner) routeReplay(rec *kgo.Record) (*syncWorker, *kgo.Record) {
	d := ParseDeadLetter(rec)
	if d.ReplayCount >= r.maxReplays {
		r.replayed.overLimit.Add(1)
		return nil, rec
	}
	var w *syncWorker
	for _, x := range r.workers {
		if x.cfg.Name == d.Sync {
			w = x
		}
	}
	if w == nil {
		r.replayed.unknown.Add(1)
		r.log.Warn("dead letter of an unknown sync left in place", "sync", d.Sync, "dlq_partition", rec.Partition, "dlq_offset", rec.Offset)
		return nil, rec
	}
	out := &kgo.Record{Topic: d.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp, LeaderEpoch: rec.LeaderEpoch}
	for _, h := range rec.Headers {
		switch h.Key {
		case hdrTopic, hdrPartition, hdrOffset:
			out.Headers = append(out.Headers, h)
		default:
			if !dlqHeaderNames[h.Key] {
				out.Headers = append(out.Headers, h)
			}
		}
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: hdrReplayCount, Value: []byte(strconv.Itoa(d.ReplayCount + 1))})
	r.replayed.dispatched.Add(1)
	return w, out
}

// replayEnds returns where the replay stops: see deadLetterEnds.
func (r *Runner) replayEnds(ctx context.Context) (map[int32]int64, error) {
	return deadLetterEnds(ctx, r.cfg, r.groupID())
}

// deadLetterEnds returns the end offset of every partition of the
// dead-letter topic now (where a replay stops), leaving out partitions the
// replay group has already committed to their end.
func deadLetterEnds(ctx context.Context, cfg *Config, group string) (map[int32]int64, error) {
	opts, err := BrokerOptions(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, cfg.Kafka.DeadLetterTopic)
	if err != nil {
		return nil, errors.New(withKafkaHint(cfg, fmt.Sprintf("dead-letter topic %s: cannot reach the brokers %s: %v", cfg.Kafka.DeadLetterTopic, strings.Join(cfg.Kafka.Brokers, ", "), err), err))
	}
	if err := ends.Error(); errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil // no dead letter yet: nothing to replay
	} else if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", cfg.Kafka.DeadLetterTopic, err)
	}
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // the first replay of this group
	}
	if err != nil {
		return nil, fmt.Errorf("replay group %s: %w", group, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At >= o.Offset {
			return
		}
		out[o.Partition] = o.Offset
	})
	return out, nil
}

// stopAtReplayEnd ends the run once every dead-letter partition is done up
// to where it ended when the replay started.
func (r *Runner) stopAtReplayEnd(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done := true
		for part, end := range r.replayEnd {
			if end == 0 {
				continue
			}
			r.mu.Lock()
			p := r.parts[tp{r.cfg.Kafka.DeadLetterTopic, part}]
			r.mu.Unlock()
			if p == nil {
				done = false
				break
			}
			if pos, ok := p.cp.Position(); !ok || pos < end {
				done = false
				break
			}
		}
		if done {
			r.cancelRun()
			return
		}
	}
}

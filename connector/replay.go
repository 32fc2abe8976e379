package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"zohosink/connector/config"
	"zohosink/connector/dlq"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replayFetchMaxWait bounds how long a fetch of the replay consumer waits
// at the broker for records. A replay reads a bounded stretch and ends, and
// franz-go keeps one fetch in flight per broker: with its default (5s), a
// first fetch holding only the partitions with nothing to read (those whose
// start offsets resolved first) kept the partitions with records waiting
// until it returned.
const replayFetchMaxWait = 200 * time.Millisecond

// replayCounts are what a replay did with the dead letters it read, and
// what it learnt of the dead-letter topic before reading them.
type replayCounts struct {
	overLimit  atomic.Int64 // left in the dead-letter topic: replayed max-replays times already
	unknown    atomic.Int64 // left: their sync is not in the config any more
	superseded atomic.Int64 // left: an older copy of a record whose newer copy is later in the topic
	requeued   atomic.Int64 // WithReplayFromStart: left records copied to the end of the topic
	dispatched atomic.Int64
	maxLeft    atomic.Int64 // the highest replay count of a copy left for its count

	fromStart bool // WithReplayFromStart

	// Set by replayEnds, before any record is read.
	newest  dlq.Copies                 // each source record's newest copy up to the replay's end
	started map[int32]int64            // the replay group's committed offsets when the replay started
	history map[int32]dlq.LimitHistory // and the --max-replays recorded with them
}

// ReplayResult sums up a replay.
type ReplayResult struct {
	Read        int64 // dead letters read
	Replayed    int64 // sent through their sync again
	OverLimit   int64 // left where they are: replayed --max-replays times already
	UnknownSync int64 // left where they are: no sync of that name in the config
	// Superseded are older copies left where they are: the record failed
	// again in an earlier replay and its newer copy, later in the topic, is
	// the one replayed (each record goes through its sync at most once per
	// replay).
	Superseded int64
	// Requeued are the records earlier replays left (WithReplayFromStart)
	// that were copied to the end of the topic for this replay.
	Requeued int64
	// MaxLeftReplays is the highest replay count of the records left for
	// their count: --max-replays above it replays them (with
	// WithReplayFromStart, since this replay's progress is past them).
	MaxLeftReplays int
	// FromStart is whether the replay sent again what earlier ones left.
	FromStart bool
}

// ReplayResult returns what the last replay did.
func (r *Runner) ReplayResult() ReplayResult {
	res := ReplayResult{
		Replayed:       r.replayed.dispatched.Load(),
		OverLimit:      r.replayed.overLimit.Load(),
		UnknownSync:    r.replayed.unknown.Load(),
		Superseded:     r.replayed.superseded.Load(),
		MaxLeftReplays: int(r.replayed.maxLeft.Load()),
		Requeued:       r.replayed.requeued.Load(),
		FromStart:      r.replayed.fromStart,
	}
	res.Read = res.Replayed + res.OverLimit + res.UnknownSync + res.Superseded
	return res
}

// WithReplayFromStart makes a replay (WithReplay) also send again the
// records earlier replays left after their --max-replays, which their
// progress moved past: it reads the whole dead-letter topic and copies them
// to its end (see requeueLeft), refusing while another replay is running.
// Records an earlier replay wrote or skipped (dlq inspect's "replayed") are
// never sent again.
func WithReplayFromStart() Option {
	return func(r *Runner) { r.replayed.fromStart = true }
}

// routeReplay turns a dead letter back into the record it was, for its sync:
// the original topic (so it decodes and routes as before) with the
// dead-letter partition and offset (so the replay's own checkpoint tracks
// it), the original origin headers, and the replay count raised by one. It
// returns a nil worker for a record not to replay: an older copy of a record
// whose newest copy comes later (each record is sent once per replay, from
// its newest copy), one replayed max-replays times already, one of an
// unknown sync.
func (r *Runner) routeReplay(rec *kgo.Record) (*syncWorker, *kgo.Record) {
	d := dlq.Parse(rec)
	if r.replayed.newest.Superseded(d) {
		r.replayed.superseded.Add(1)
		return nil, rec
	}
	if d.ReplayCount >= r.maxReplays {
		r.replayed.overLimit.Add(1)
		for {
			m := r.replayed.maxLeft.Load()
			if int64(d.ReplayCount) <= m || r.replayed.maxLeft.CompareAndSwap(m, int64(d.ReplayCount)) {
				break
			}
		}
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
	out := dlq.ForReplay(d)
	r.replayed.dispatched.Add(1)
	return w, out
}

// replayEnds returns where the replay stops: the end offset of every
// partition of the dead-letter topic now, leaving out partitions the replay
// group has already committed to their end; nil when the topic does not
// exist. With WithReplayFromStart it first copies what earlier replays left
// to the end of the topic. It reads the topic from where the replay starts to where it
// ends, to know each source record's newest copy there.
func (r *Runner) replayEnds(ctx context.Context) (map[int32]int64, error) {
	cfg, group, topic := r.cfg, r.groupID(), r.cfg.Kafka.DeadLetterTopic
	opts, err := BrokerOptions(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, errors.New(withKafkaHint(cfg, fmt.Sprintf("dead-letter topic %s: cannot reach the brokers %s: %v", topic, strings.Join(cfg.Kafka.Brokers, ", "), err), err))
	}
	if err := ends.Error(); errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil // no dead letter yet: nothing to replay
	} else if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	if r.replayed.fromStart {
		if err := r.requeueLeft(ctx, cl, adm, ends); err != nil {
			return nil, err
		}
		if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
		}
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // the first replay of this group
	}
	if err != nil {
		return nil, fmt.Errorf("replay group %s: %w", group, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	r.replayed.started, r.replayed.history = map[int32]int64{}, map[int32]dlq.LimitHistory{}
	out := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			at = s.Offset
		}
		if c, ok := committed.Lookup(topic, o.Partition); ok && c.At >= 0 {
			r.replayed.started[o.Partition] = c.At
			r.replayed.history[o.Partition] = dlq.ParseLimitHistory(c.Metadata)
			at = max(at, c.At)
		}
		if at >= o.Offset {
			return // nothing left to read: done, or emptied by retention
		}
		out[o.Partition] = o.Offset
		from[o.Partition] = kgo.NewOffset().At(at)
	})
	r.replayed.newest = dlq.Copies{}
	err = dlq.ConsumeRange(ctx, cl, topic, from, out, func(rec *kgo.Record) bool {
		r.replayed.newest.Add(dlq.Parse(rec))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	return out, nil
}

// requeueLeft is --from-start: it reads the whole dead-letter topic, and
// appends to it a copy of each record an earlier replay left where it is
// (replayed --max-replays times then, now below this replay's limit; or of
// a sync the config then lacked, now known), so this replay, resuming where
// the replay group left off, reads them again. The replay group's progress
// is not touched: what earlier replays wrote is never sent again, even if
// this replay is interrupted. It refuses while another replay is running.
func (r *Runner) requeueLeft(ctx context.Context, cl *kgo.Client, adm *kadm.Client, ends kadm.ListedOffsets) error {
	group, topic := r.groupID(), r.cfg.Kafka.DeadLetterTopic
	if dg, err := adm.DescribeGroups(ctx, group); err == nil {
		if m := dg[group].Members; len(m) > 0 {
			var hosts []string
			for _, x := range m {
				hosts = append(hosts, x.ClientHost)
			}
			return fmt.Errorf("--from-start: the replay group %s has members (%d member(s), from %s): another `zohosink dlq replay` is running on this dead-letter topic. Let it finish (or stop it), then run the replay with --from-start again", group, len(m), strings.Join(hosts, ", "))
		}
	}
	prog, err := dlq.FetchProgress(ctx, adm, group, topic)
	if err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	from, to := map[int32]kgo.Offset{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			at = s.Offset
		}
		if at < o.Offset {
			from[o.Partition], to[o.Partition] = kgo.NewOffset().At(at), o.Offset
		}
	})
	var all []dlq.Letter
	err = dlq.ConsumeRange(ctx, cl, topic, from, to, func(rec *kgo.Record) bool {
		all = append(all, dlq.Parse(rec))
		return true
	})
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	known := func(name string) bool {
		return slices.ContainsFunc(r.cfg.Syncs, func(s config.SyncConfig) bool { return s.Name == name })
	}
	var again []*kgo.Record
	for i, st := range dlq.States(all, prog, func(string) bool { return true }) {
		d := all[i]
		if st.State != dlq.StateLeft || !known(d.Sync) || d.ReplayCount >= r.maxReplays {
			continue // pending (read anyway), replayed (written), superseded, or it would be left again
		}
		again = append(again, d.Copy(topic))
	}
	if len(again) > 0 {
		if err := cl.ProduceSync(ctx, again...).FirstErr(); err != nil {
			return fmt.Errorf("--from-start: copying %d left record(s) to the end of %s: %w", len(again), topic, err)
		}
	}
	r.replayed.requeued.Store(int64(len(again)))
	r.log.Info("--from-start: copied the records earlier replays left to the end of the dead-letter topic, for this replay", "records", len(again), "topic", topic)
	return nil
}

// SaveReplayLimits records, with the replay group's committed offsets, the
// --max-replays this replay read its stretch of the dead-letter topic with:
// dlq inspect tells from it a dead letter the replay left (its count had
// reached the limit) from one it wrote. Call it once Run returned: it
// commits the same offsets with their metadata, which the broker only
// accepts from outside the group once no replay is running.
func (r *Runner) SaveReplayLimits(ctx context.Context) error {
	if !r.replay || r.replayed.started == nil {
		return nil // nothing was read
	}
	topic, group := r.cfg.Kafka.DeadLetterTopic, r.groupID()
	opts, err := BrokerOptions(r.cfg)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return fmt.Errorf("replay group %s: %w", group, err)
	}
	save := kadm.Offsets{}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic != topic || o.At < 0 {
			return
		}
		from, ok := r.replayed.started[o.Partition]
		if ok && from == o.At {
			return // not moved by this replay: its metadata is as it was
		}
		if !ok || from > o.At {
			from = 0 // read from the start of the partition
		}
		h := r.replayed.history[o.Partition].Add(r.maxReplays, from, o.At)
		save.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: o.At, LeaderEpoch: o.LeaderEpoch, Metadata: h.String()})
	})
	if len(save) == 0 {
		return nil
	}
	resp, err := adm.CommitOffsets(ctx, group, save)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("replay group %s: recording --max-replays %d with its offsets: %w", group, r.maxReplays, err)
	}
	return nil
}

// stopAtReplayEnd ends the run once every dead-letter partition is done up
// to where it ended when the replay started.
func (r *Runner) stopAtReplayEnd(ctx context.Context) {
	every(ctx, 100*time.Millisecond, func() bool {
		for part, end := range r.replayEnd {
			if end == 0 {
				continue
			}
			r.mu.Lock()
			p := r.parts[tp{r.cfg.Kafka.DeadLetterTopic, part}]
			r.mu.Unlock()
			if p == nil {
				return true
			}
			if pos, ok := p.cp.Position(); !ok || pos < end {
				return true
			}
		}
		r.cancelRun()
		return false
	})
}

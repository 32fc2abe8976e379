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

// replayCounts are what a replay did with the dead letters it read, and
// what it learnt of the dead-letter topic before reading them.
type replayCounts struct {
	overLimit  atomic.Int64 // left in the dead-letter topic: replayed max-replays times already
	unknown    atomic.Int64 // left: their sync is not in the config any more
	superseded atomic.Int64 // left: an older copy of a record whose newer copy is later in the topic
	earlier    atomic.Int64 // left (WithReplayFromStart): an earlier replay wrote or skipped it
	dispatched atomic.Int64
	maxLeft    atomic.Int64 // the highest replay count of a copy left for its count

	fromStart bool // WithReplayFromStart

	// Set by replayEnds, before any record is read.
	newest  newestCopies           // each source record's newest copy up to the replay's end
	done    map[sourceKey]bool     // WithReplayFromStart: records an earlier replay wrote or skipped
	started map[int32]int64        // the replay group's committed offsets when the replay started
	history map[int32]limitHistory // and the --max-replays recorded with them
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
	// ReplayedEarlier are records left where they are by a replay from the
	// start: an earlier replay sent them through their sync and they did
	// not fail again (dlq inspect shows them as replayed). Sending them
	// again would undo later changes, or duplicate inserts.
	ReplayedEarlier int64
	// MaxLeftReplays is the highest replay count of the records left for
	// their count: --max-replays above it replays them (with
	// WithReplayFromStart, since this replay's progress is past them).
	MaxLeftReplays int
	// FromStart is whether the replay forgot earlier replays' progress.
	FromStart bool
}

// ReplayResult returns what the last replay did.
func (r *Runner) ReplayResult() ReplayResult {
	res := ReplayResult{
		Replayed:        r.replayed.dispatched.Load(),
		OverLimit:       r.replayed.overLimit.Load(),
		UnknownSync:     r.replayed.unknown.Load(),
		Superseded:      r.replayed.superseded.Load(),
		MaxLeftReplays:  int(r.replayed.maxLeft.Load()),
		ReplayedEarlier: r.replayed.earlier.Load(),
		FromStart:       r.replayed.fromStart,
	}
	res.Read = res.Replayed + res.OverLimit + res.UnknownSync + res.Superseded + res.ReplayedEarlier
	return res
}

// WithReplayFromStart makes a replay (WithReplay) forget the progress of
// earlier replays (it deletes the group "<group_id>.replay", refusing when
// the group has members: another replay is running) and read the
// dead-letter topic from its start. Records left after --max-replays
// replays, which earlier replays committed past, are read again; records an
// earlier replay wrote or skipped (dlq inspect's "replayed") are not sent
// again.
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
	d := ParseDeadLetter(rec)
	if r.replayed.newest.superseded(d) {
		r.replayed.superseded.Add(1)
		return nil, rec
	}
	if k, ok := d.source(); ok && r.replayed.done[k] {
		r.replayed.earlier.Add(1)
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

// replayEnds returns where the replay stops: the end offset of every
// partition of the dead-letter topic now, leaving out partitions the replay
// group has already committed to their end; nil when the topic does not
// exist. With WithReplayFromStart it first forgets the replay group's
// progress. It reads the topic from where the replay starts to where it
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
	var before ReplayProgress
	if r.replayed.fromStart {
		// What earlier replays did is read before it is forgotten: the
		// records they wrote are not sent again.
		if before, err = fetchReplayProgress(ctx, adm, group, topic); err != nil {
			return nil, err
		}
		if err := forgetReplayGroup(ctx, adm, group); err != nil {
			return nil, err
		}
		r.log.Info("forgot the progress of earlier replays: replaying from the start of the dead-letter topic", "group", group, "topic", topic)
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
	r.replayed.started, r.replayed.history = map[int32]int64{}, map[int32]limitHistory{}
	out := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			at = s.Offset
		}
		if c, ok := committed.Lookup(topic, o.Partition); ok && c.At >= 0 {
			r.replayed.started[o.Partition] = c.At
			r.replayed.history[o.Partition] = parseLimitHistory(c.Metadata)
			at = max(at, c.At)
			if c.At >= o.Offset {
				return
			}
		}
		out[o.Partition] = o.Offset
		from[o.Partition] = kgo.NewOffset().At(at)
	})
	r.replayed.newest = newestCopies{}
	var all []DeadLetter // with WithReplayFromStart only
	err = consumeRange(ctx, cl, topic, from, out, func(rec *kgo.Record) bool {
		d := ParseDeadLetter(rec)
		r.replayed.newest.add(d)
		if r.replayed.fromStart {
			d.Key, d.Value, d.rec = nil, nil, nil // states need the headers only
			all = append(all, d)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	if r.replayed.fromStart {
		r.replayed.done = map[sourceKey]bool{}
		known := func(string) bool { return true } // an unknown sync is left anyway
		for i, st := range DeadLetterStates(all, before, known) {
			if k, ok := all[i].source(); ok && st.State == StateReplayed {
				r.replayed.done[k] = true
			}
		}
	}
	return out, nil
}

// forgetReplayGroup deletes the replay group, with its committed offsets,
// so the replay starts from the start of the dead-letter topic. A group with
// members is another replay running: that is refused.
func forgetReplayGroup(ctx context.Context, adm *kadm.Client, group string) error {
	_, err := adm.DeleteGroup(ctx, group)
	switch {
	case err == nil, errors.Is(err, kerr.GroupIDNotFound):
		return nil
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return fmt.Errorf("--from-start: the broker refused to delete the replay group %s (%w): forgetting its progress needs the DELETE permission on that group", group, err)
	case errors.Is(err, kerr.NonEmptyGroup):
		who := ""
		if dg, derr := adm.DescribeGroups(ctx, group); derr == nil {
			var hosts []string
			for _, m := range dg[group].Members {
				hosts = append(hosts, m.ClientHost)
			}
			if len(hosts) > 0 {
				who = fmt.Sprintf(" (%d member(s), from %s)", len(hosts), strings.Join(hosts, ", "))
			}
		}
		return fmt.Errorf("--from-start: the replay group %s has members%s: another `zohosink dlq replay` is running on this dead-letter topic. Let it finish (or stop it), then run the replay with --from-start again", group, who)
	}
	return fmt.Errorf("--from-start: cannot forget the progress of the replay group %s: %w", group, err)
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
		h := r.replayed.history[o.Partition].add(r.maxReplays, from, o.At)
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

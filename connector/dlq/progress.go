package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"zohosink/connector/config"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// DefaultMaxReplays is dlq replay's --max-replays when not given.
const DefaultMaxReplays = 3

// ReplayGroup is the consumer group dlq replay commits its progress under.
func ReplayGroup(cfg *config.Config) string { return cfg.Kafka.GroupID + ".replay" }

// ReplayProgress is how far dlq replay got in the dead-letter topic.
type ReplayProgress struct {
	// Committed is the replay group's committed offset per dead-letter
	// partition: every dead letter below it was read by a replay (sent
	// through its sync, or left where it is).
	Committed map[int32]int64
	// limits are the --max-replays each stretch of a partition was
	// replayed with, as the replays recorded them in their commits'
	// metadata.
	limits map[int32]LimitHistory
}

// MaxReplaysAt returns the --max-replays of the replay that read the dead
// letter at offset off of dead-letter partition part; false when it was not
// recorded (the replay was killed before it could, or was a zohosink
// without this record).
func (p ReplayProgress) MaxReplaysAt(part int32, off int64) (int, bool) {
	return p.limits[part].At(off)
}

// limitSpan says that the dead letters in [from, to) of a partition were
// read by a replay with --max-replays max.
type limitSpan struct {
	max      int
	from, to int64
}

// LimitHistory is a partition's limitSpans, oldest first. A replay commits
// it as the metadata of its offsets: "zohosink.max_replays 3:0-120 5:120-200".
type LimitHistory []limitSpan

func (h LimitHistory) String() string {
	var b strings.Builder
	b.WriteString(limitHistoryPrefix)
	for _, s := range h {
		fmt.Fprintf(&b, " %d:%d-%d", s.max, s.from, s.to)
	}
	return b.String()
}

// ParseLimitHistory reads a partition's commit metadata; nil when it is
// not a LimitHistory (an older zohosink, or franz-go's own: the member id).
func ParseLimitHistory(meta string) LimitHistory {
	fields := strings.Fields(meta)
	if len(fields) == 0 || fields[0] != limitHistoryPrefix {
		return nil
	}
	var h LimitHistory
	for _, f := range fields[1:] {
		var s limitSpan
		if n, err := fmt.Sscanf(f, "%d:%d-%d", &s.max, &s.from, &s.to); err != nil || n != 3 || s.from > s.to {
			return nil
		}
		h = append(h, s)
	}
	return h
}

// at returns the max of the newest span holding off.
func (h LimitHistory) At(off int64) (int, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].from <= off && off < h[i].to {
			return h[i].max, true
		}
	}
	return 0, false
}

// add records that [from, to) was read with --max-replays max.
func (h LimitHistory) Add(max int, from, to int64) LimitHistory {
	if to <= from {
		return h
	}
	h = slices.Clone(h)
	if n := len(h); n > 0 && h[n-1].max == max && h[n-1].to >= from && h[n-1].from <= from {
		h[n-1].to = to
		return h
	}
	h = append(h, limitSpan{max, from, to})
	if len(h) > limitHistoryMax {
		h = h[len(h)-limitHistoryMax:]
	}
	return h
}

// FetchProgress reads the replay group's committed offsets in the
// dead-letter topic, and the --max-replays the replays recorded with them.
// A group that never committed has no progress, which is no error.
func FetchProgress(ctx context.Context, adm *kadm.Client, group, topic string) (ReplayProgress, error) {
	prog := ReplayProgress{Committed: map[int32]int64{}, limits: map[int32]LimitHistory{}}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return prog, nil
	}
	if err != nil {
		return prog, fmt.Errorf("replay group %s: %w", group, err)
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic != topic || o.At < 0 {
			return
		}
		prog.Committed[o.Partition] = o.At
		if h := ParseLimitHistory(o.Metadata); h != nil {
			prog.limits[o.Partition] = h
		}
	})
	return prog, nil
}

// State is what became of a dead letter.
type State struct {
	State string // StatePending, StateReplayed, StateLeft or StateSuperseded
	Why   string // for StateLeft: why, in words ("replayed 3 times")
}

func (s State) String() string {
	if s.Why != "" {
		return s.State + " (" + s.Why + ")"
	}
	return s.State
}

// States says what became of each of dls, every dead letter of
// the topic as read, given the replay group's progress read before them;
// knownSync reports whether the config has a sync of that name.
//
// A replay commits a dead letter's offset only once it is done with it:
// sent through its sync and written, skipped or dead-lettered again (the
// new copy acknowledged by Kafka first), or left where it is. So a newest
// copy below the committed offset that was sent through its sync did not
// fail again: it was written or skipped. It was not sent when its replay
// count had reached the --max-replays of the replay that read it (recorded
// with the commits; DefaultMaxReplays where it was not), or its sync was
// unknown.
func States(dls []Letter, prog ReplayProgress, knownSync func(string) bool) []State {
	newest := newestIndex(dls)
	out := make([]State, len(dls))
	for i, d := range dls {
		committed, ok := prog.Committed[d.DLQPartition]
		switch {
		case !isNewest(newest, dls, i):
			out[i] = State{State: StateSuperseded}
		case !ok || d.DLQOffset >= committed:
			out[i] = State{State: StatePending}
		default:
			limit, ok := prog.MaxReplaysAt(d.DLQPartition, d.DLQOffset)
			if !ok {
				limit = DefaultMaxReplays
			}
			switch {
			case d.ReplayCount >= limit:
				out[i] = State{State: StateLeft, Why: replayedTimes(d.ReplayCount)}
			case d.Sync == "":
				out[i] = State{State: StateLeft, Why: "no sync named in its headers"}
			case !knownSync(d.Sync):
				out[i] = State{State: StateLeft, Why: fmt.Sprintf("no sync %q in the config", d.Sync)}
			default:
				out[i] = State{State: StateReplayed}
			}
		}
	}
	return out
}

func replayedTimes(n int) string {
	if n == 1 {
		return "replayed once"
	}
	return fmt.Sprintf("replayed %d times", n)
}

const (
	limitHistoryPrefix = "zohosink.max_replays"
	// limitHistoryMax bounds the spans kept (offset metadata is limited
	// to 4 KiB by default): the oldest are forgotten first.
	limitHistoryMax = 50
)

// What became of a dead letter, as dlq inspect shows it.
const (
	// StatePending: no replay read it yet; the next one will.
	StatePending = "pending"
	// StateReplayed: a replay sent it through its sync and it did not fail
	// again: written to Zoho, or skipped (say, an update of nothing).
	StateReplayed = "replayed"
	// StateLeft: a replay left it where it is: replayed --max-replays
	// times already, or its sync is not in the config.
	StateLeft = "left"
	// StateSuperseded: an older copy of a record dead-lettered again by a
	// replay; its newest copy says what became of the record.
	StateSuperseded = "superseded"
)

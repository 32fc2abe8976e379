package connector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"zohosink/connector/config"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	Field       string `json:"field"`
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

// ErrNoDeadLetterTopic is matched (errors.Is) by the error of a read of a
// dead-letter topic that does not exist: nothing was ever dead-lettered
// there.
var ErrNoDeadLetterTopic = errors.New("the dead-letter topic does not exist")

// BrokersUnreachableError is a read that failed because no broker could be
// talked to: nothing listening, a TLS or SASL mismatch, a wrong address.
type BrokersUnreachableError struct {
	// Brokers are the addresses that could not be talked to, in the order
	// they first failed.
	Brokers []string
	// Err is the last connection error.
	Err error
}

func (e *BrokersUnreachableError) Error() string {
	return fmt.Sprintf("cannot talk to Kafka broker(s) %s: %v", strings.Join(e.Brokers, ", "), e.Err)
}

func (e *BrokersUnreachableError) Unwrap() error { return e.Err }

// DeadLetterRead is what ReadDeadLetterTopic read.
type DeadLetterRead struct {
	// DeadLetters are the records read, at most the limit asked for.
	DeadLetters []DeadLetter
	// Total is how many records the topic holds (the sum over its
	// partitions of end minus start offset), whether or not all were read.
	Total int64
	// Progress is the replay group's progress, read just before the
	// records (ReadDeadLettersAndProgress), and ProgressErr why it could
	// not be read (say, no permission to describe the group).
	Progress    ReplayProgress
	ProgressErr error
}

// ReadDeadLetters reads the dead-letter topic from its start to its end as
// it is now (at most limit records when limit > 0), without a consumer group
// and without committing anything.
func ReadDeadLetters(ctx context.Context, opts []kgo.Opt, topic string, limit int) ([]DeadLetter, error) {
	r, err := ReadDeadLetterTopic(ctx, opts, topic, limit)
	return r.DeadLetters, err
}

// A read gives up on brokers it cannot talk to once connection attempts
// have failed connFailuresToGiveUp times in a row over at least
// connFailingToGiveUp, none ever succeeding: retrying until the caller's
// deadline would only hide why. (Once one broker answered, a broker out of
// reach is retried up to franz-go's request retry timeout, 30s.)
const (
	connFailuresToGiveUp = 2
	connFailingToGiveUp  = 2 * time.Second
)

// connWatch follows the client's connections to the brokers.
type connWatch struct {
	mu      sync.Mutex
	fails   int       // connection attempts failed in a row
	since   time.Time // when the first of them started
	last    error     // the newest connection or read failure
	lastOK  bool      // a connection or read succeeded since
	everOK  bool      // a connection succeeded
	brokers []string  // that failed, in the order they first did
	giveUp  context.CancelCauseFunc
}

var errGaveUp = errors.New("the brokers cannot be talked to")

func (w *connWatch) failed(meta kgo.BrokerMetadata, err error) {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	if !slices.Contains(w.brokers, addr) {
		w.brokers = append(w.brokers, addr)
	}
	w.last, w.lastOK = err, false
}

func (w *connWatch) OnBrokerConnect(meta kgo.BrokerMetadata, took time.Duration, _ net.Conn, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.fails, w.lastOK, w.everOK = 0, true, true
		return
	}
	w.failed(meta, connError(err, took))
	if w.fails == 0 {
		w.since = time.Now().Add(-took)
	}
	if w.fails++; !w.everOK && w.fails >= connFailuresToGiveUp && time.Since(w.since) >= connFailingToGiveUp {
		w.giveUp(errGaveUp)
	}
}

func (w *connWatch) OnBrokerRead(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.lastOK = true
		return
	}
	w.failed(meta, connError(err, 0))
}

// connError is why a connection attempt or a read failed: a timeout says
// how long it waited, a dial error loses franz-go's "unable to dial: ". The
// error it wraps stays matchable (errors.Is, KafkaHint).
func connError(err error, took time.Duration) error {
	trimmed := trimmedError{strings.TrimPrefix(err.Error(), "unable to dial: "), err}
	var ne net.Error
	if took > 0 && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		return fmt.Errorf("no answer within %s: %w", took.Round(time.Second), trimmed)
	}
	return trimmed
}

// trimmedError is an error shown in other words.
type trimmedError struct {
	msg string
	err error
}

func (e trimmedError) Error() string { return e.msg }
func (e trimmedError) Unwrap() error { return e.err }

// explain turns the error of a failed read into one that names the brokers
// and says they could not be talked to, when that is why it failed.
func (w *connWatch) explain(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	waited := errors.Is(err, errGaveUp) || errors.Is(err, context.DeadlineExceeded)
	var oe *net.OpError
	dial := errors.As(err, &oe) || strings.HasPrefix(err.Error(), "unable to dial")
	if w.last == nil || (w.lastOK && !waited && !dial) {
		return err
	}
	why := w.last
	if !waited {
		why = connError(err, 0) // franz-go's own words are often the clearer
	}
	return &BrokersUnreachableError{Brokers: slices.Clone(w.brokers), Err: why}
}

// ReadDeadLetterTopic reads the dead-letter topic from its start to its end
// as it is now (at most limit records when limit > 0), without a consumer
// group and without committing anything, and says how many records the topic
// holds. A topic that does not exist gives an error matching
// ErrNoDeadLetterTopic; brokers that cannot be talked to (after a few
// attempts, not at ctx's deadline) a *BrokersUnreachableError.
func ReadDeadLetterTopic(ctx context.Context, opts []kgo.Opt, topic string, limit int) (DeadLetterRead, error) {
	return readDeadLetterTopic(ctx, opts, topic, limit, "")
}

// ReadDeadLettersAndProgress is ReadDeadLetterTopic reading every record,
// and the progress of the replay group first (a replay commits a dead
// letter's offset only after the copy it dead-lettered again was
// acknowledged, so the records read after the progress hold that copy):
// DeadLetterStates tells from them what became of each dead letter.
func ReadDeadLettersAndProgress(ctx context.Context, opts []kgo.Opt, topic, group string) (DeadLetterRead, error) {
	return readDeadLetterTopic(ctx, opts, topic, 0, group)
}

func readDeadLetterTopic(ctx context.Context, opts []kgo.Opt, topic string, limit int, group string) (DeadLetterRead, error) {
	var res DeadLetterRead
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watch := &connWatch{giveUp: cancel}
	cl, err := kgo.NewClient(append(opts[:len(opts):len(opts)], kgo.WithHooks(watch))...)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	fail := func(err error) (DeadLetterRead, error) {
		if errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), errGaveUp) {
			err = errGaveUp
		}
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, watch.explain(err))
	}
	adm := kadm.NewClient(cl)
	if group != "" {
		res.Progress, res.ProgressErr = fetchReplayProgress(ctx, adm, group, topic)
		var ke *kerr.Error
		if res.ProgressErr != nil && !errors.As(res.ProgressErr, &ke) {
			return fail(res.ProgressErr) // the brokers, not the group
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, ErrNoDeadLetterTopic)
	}
	if err != nil {
		return fail(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fail(err)
	}
	want := map[int32]int64{}
	consume := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			start = s.Offset
		}
		// A partition emptied by retention (start == end) has nothing to
		// wait for.
		if o.Offset > start {
			res.Total += o.Offset - start
			want[o.Partition] = o.Offset
			consume[o.Partition] = kgo.NewOffset().At(start)
		}
	})
	if len(want) == 0 {
		return res, nil
	}
	err = consumeRange(ctx, cl, topic, consume, want, func(r *kgo.Record) bool {
		res.DeadLetters = append(res.DeadLetters, ParseDeadLetter(r))
		return limit <= 0 || len(res.DeadLetters) < limit
	})
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// consumeRange reads the partitions of topic of a client that is no group
// member, each from its offset in from to just before its offset in to,
// handing each record to fn in offset order within a partition, until every
// partition reached its end or fn returns false.
func consumeRange(ctx context.Context, cl *kgo.Client, topic string, from map[int32]kgo.Offset, to map[int32]int64, fn func(*kgo.Record) bool) error {
	want := maps.Clone(to)
	for p, end := range want {
		if _, ok := from[p]; !ok || end <= 0 {
			delete(want, p)
		}
	}
	if len(want) == 0 {
		return nil
	}
	consume := map[int32]kgo.Offset{}
	for p := range want {
		consume[p] = from[p]
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(consume))})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s/%d: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if stop || !ok {
				return
			}
			if r.Offset < end && !fn(r) {
				stop = true
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}

// sourceKey is where a dead letter's record came from.
type sourceKey struct {
	topic     string
	partition int32
	offset    int64
}

// LatestDeadLetters keeps, of the dead letters of one source record (the
// same __connect.errors.topic, partition and offset), only the newest copy:
// a record that failed again when replayed is dead-lettered again with its
// replay count raised, and the older copies stay in the topic. The newest is
// the one with the highest replay count; between equal counts, the later in
// the dead-letter partition (or by timestamp across partitions, or in dls).
// Dead letters without origin headers are all kept. latest keeps the order
// of dls; superseded is how many older copies were left out.
func LatestDeadLetters(dls []DeadLetter) (latest []DeadLetter, superseded int) {
	newest := newestIndex(dls)
	latest = make([]DeadLetter, 0, len(newest))
	for i, d := range dls {
		if !isNewest(newest, dls, i) {
			superseded++
			continue
		}
		latest = append(latest, d)
	}
	return latest, superseded
}

// newestIndex returns, per source record, the index in dls of its newest
// copy.
func newestIndex(dls []DeadLetter) map[sourceKey]int {
	newest := make(map[sourceKey]int, len(dls))
	for i, d := range dls {
		k, ok := d.source()
		if !ok {
			continue
		}
		if j, ok := newest[k]; !ok || newerDeadLetter(d, dls[j]) {
			newest[k] = i
		}
	}
	return newest
}

// isNewest reports whether dls[i] is the newest copy of its source record
// (a dead letter without origin headers is its own).
func isNewest(newest map[sourceKey]int, dls []DeadLetter, i int) bool {
	k, ok := dls[i].source()
	return !ok || newest[k] == i
}

// source is the source record of a dead letter; false when it carries no
// origin headers.
func (d DeadLetter) source() (sourceKey, bool) {
	return sourceKey{d.Topic, d.Partition, d.Offset}, d.Topic != ""
}

// newerDeadLetter reports whether a is a newer copy than b, which comes
// before it in the slice read.
func newerDeadLetter(a, b DeadLetter) bool {
	return newerCopy(copyOf(a), copyOf(b))
}

// copyRef is where one dead-letter copy of a source record is, and what
// tells copies apart.
type copyRef struct {
	replays   int
	partition int32
	offset    int64
	ts        time.Time
}

func copyOf(d DeadLetter) copyRef {
	return copyRef{d.ReplayCount, d.DLQPartition, d.DLQOffset, d.Timestamp}
}

// newerCopy reports whether a is a newer copy than b, which was read before
// it: the higher replay count; between equal counts (dead-lettered twice,
// e.g. around a crash), the later in the dead-letter partition, else the
// later timestamp, else the one read last.
func newerCopy(a, b copyRef) bool {
	switch {
	case a.replays != b.replays:
		return a.replays > b.replays
	case a.partition == b.partition:
		return a.offset > b.offset
	case !a.ts.Equal(b.ts):
		return a.ts.After(b.ts)
	}
	return true
}

// newestCopies knows, for each source record, where its newest dead-letter
// copy is: a replay sends a record through its sync once, from its newest
// copy, and leaves the older ones where they are.
type newestCopies map[sourceKey]copyRef

// add records a dead letter read (in offset order within its partition).
func (n newestCopies) add(d DeadLetter) {
	k, ok := d.source()
	if !ok {
		return
	}
	c := copyOf(d)
	if cur, ok := n[k]; !ok || newerCopy(c, cur) {
		n[k] = c
	}
}

// superseded reports whether a newer copy of d's source record was read.
func (n newestCopies) superseded(d DeadLetter) bool {
	k, ok := d.source()
	if !ok {
		return false
	}
	cur, ok := n[k]
	return ok && (cur.partition != d.DLQPartition || cur.offset != d.DLQOffset)
}

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
	limits map[int32]limitHistory
}

// MaxReplaysAt returns the --max-replays of the replay that read the dead
// letter at offset off of dead-letter partition part; false when it was not
// recorded (the replay was killed before it could, or was a zohosink
// without this record).
func (p ReplayProgress) MaxReplaysAt(part int32, off int64) (int, bool) {
	return p.limits[part].at(off)
}

// limitSpan says that the dead letters in [from, to) of a partition were
// read by a replay with --max-replays max.
type limitSpan struct {
	max      int
	from, to int64
}

// limitHistory is a partition's limitSpans, oldest first. A replay commits
// it as the metadata of its offsets: "zohosink.max_replays 3:0-120 5:120-200".
type limitHistory []limitSpan

const (
	limitHistoryPrefix = "zohosink.max_replays"
	// limitHistoryMax bounds the spans kept (offset metadata is limited
	// to 4 KiB by default): the oldest are forgotten first.
	limitHistoryMax = 50
)

func (h limitHistory) String() string {
	var b strings.Builder
	b.WriteString(limitHistoryPrefix)
	for _, s := range h {
		fmt.Fprintf(&b, " %d:%d-%d", s.max, s.from, s.to)
	}
	return b.String()
}

// parseLimitHistory reads a partition's commit metadata; nil when it is
// not a limitHistory (an older zohosink, or franz-go's own: the member id).
func parseLimitHistory(meta string) limitHistory {
	fields := strings.Fields(meta)
	if len(fields) == 0 || fields[0] != limitHistoryPrefix {
		return nil
	}
	var h limitHistory
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
func (h limitHistory) at(off int64) (int, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].from <= off && off < h[i].to {
			return h[i].max, true
		}
	}
	return 0, false
}

// add records that [from, to) was read with --max-replays max.
func (h limitHistory) add(max int, from, to int64) limitHistory {
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

// fetchReplayProgress reads the replay group's committed offsets in the
// dead-letter topic, and the --max-replays the replays recorded with them.
// A group that never committed has no progress, which is no error.
func fetchReplayProgress(ctx context.Context, adm *kadm.Client, group, topic string) (ReplayProgress, error) {
	prog := ReplayProgress{Committed: map[int32]int64{}, limits: map[int32]limitHistory{}}
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
		if h := parseLimitHistory(o.Metadata); h != nil {
			prog.limits[o.Partition] = h
		}
	})
	return prog, nil
}

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

// DeadLetterState is what became of a dead letter.
type DeadLetterState struct {
	State string // StatePending, StateReplayed, StateLeft or StateSuperseded
	Why   string // for StateLeft: why, in words ("replayed 3 times")
}

func (s DeadLetterState) String() string {
	if s.Why != "" {
		return s.State + " (" + s.Why + ")"
	}
	return s.State
}

// DeadLetterStates says what became of each of dls, every dead letter of
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
func DeadLetterStates(dls []DeadLetter, prog ReplayProgress, knownSync func(string) bool) []DeadLetterState {
	newest := newestIndex(dls)
	out := make([]DeadLetterState, len(dls))
	for i, d := range dls {
		committed, ok := prog.Committed[d.DLQPartition]
		switch {
		case !isNewest(newest, dls, i):
			out[i] = DeadLetterState{State: StateSuperseded}
		case !ok || d.DLQOffset >= committed:
			out[i] = DeadLetterState{State: StatePending}
		default:
			limit, ok := prog.MaxReplaysAt(d.DLQPartition, d.DLQOffset)
			if !ok {
				limit = DefaultMaxReplays
			}
			switch {
			case d.ReplayCount >= limit:
				out[i] = DeadLetterState{State: StateLeft, Why: replayedTimes(d.ReplayCount)}
			case d.Sync == "":
				out[i] = DeadLetterState{State: StateLeft, Why: "no sync named in its headers"}
			case !knownSync(d.Sync):
				out[i] = DeadLetterState{State: StateLeft, Why: fmt.Sprintf("no sync %q in the config", d.Sync)}
			default:
				out[i] = DeadLetterState{State: StateReplayed}
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

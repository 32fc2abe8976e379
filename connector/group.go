package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"zohosink/connector/dlq"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type tp struct {
	topic string
	part  int32
}

// partition is the state of one assigned partition.
type partition struct {
	tp   tp
	cp   *checkpoint
	w    *syncWorker // nil in replay mode, where records are routed one by one
	r    *Runner
	gone atomic.Bool
	hwm  atomic.Int64
	lso  atomic.Int64 // last stable offset at the last fetch: the end a read-committed consumer reaches
	// ctx ends when the partition is forgotten (revoked or lost): in-flight
	// writes of its records stop then.
	ctx    context.Context
	cancel context.CancelFunc

	pauseMu sync.Mutex
	paused  bool
	held    int64 // bytes of its records consumed and not done (pauseMu)
	forgot  bool  // forget subtracted held from the runner's: done must not again
	// readTo: offsets below it were read, or reported unread, already
	// (checkDeleted and checkGone, under unreadMu; set at a data loss's
	// reset to where the partition is read again from: below it, all was
	// done).
	unreadMu sync.Mutex
	readTo   int64
}

// hold counts delta bytes more (or fewer) held by the partition's records,
// in its count and the runner's; nothing once the partition was forgotten
// (forget took its count off the runner's).
func (p *partition) hold(delta int64) {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.forgot {
		p.held += delta
		p.r.held.Add(delta)
	}
}

// end is where a read-committed consumer of the partition stops, as of its
// last fetch: the last stable offset (an open transaction's records are not
// handed out until it ends), else the high watermark.
func (p *partition) end() int64 {
	if l := p.lso.Load(); l > 0 {
		return l
	}
	return p.hwm.Load()
}

// release takes what the partition's records hold off the runner's count,
// once: they are no longer ours to finish (the next owner consumes them
// again), and later marks change nothing.
func (p *partition) release() {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if !p.forgot {
		p.forgot = true
		p.r.held.Add(-p.held)
	}
}

// Back-pressure is on memory: the process stops fetching a partition while
// the records consumed and not done hold kafka.max_buffered_bytes or more
// (heldSize each, slimSize once slim), and fetches again once they hold
// less than three quarters of it.
// A partition also stops when maxWindow records lie behind its first
// unfinished one (the checkpoint's two bits each), and goes on below half
// of that.
const maxWindow = 4_000_000

// heldSize estimates the memory a consumed record holds until it is done:
// its key and value, and what decoding and mapping make of them (the row
// and the Zoho record, each a map of the columns; measured at about twice
// the bytes for typical Debezium rows) plus fixed overhead.
func heldSize(rec *kgo.Record) int64 {
	return 3*int64(len(rec.Key)+len(rec.Value)) + 1024
}

// track registers a consumed record with the checkpoint and the memory it
// holds; false when it was delivered twice (see checkpoint.track).
func (p *partition) track(rec *kgo.Record) bool {
	if !p.cp.track(rec.Offset, rec.LeaderEpoch) {
		return false
	}
	n := heldSize(rec)
	p.hold(n)
	return true
}

func (r *Runner) newPartition(k tp, w *syncWorker) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	return &partition{tp: k, cp: newCheckpoint(), w: w, r: r, ctx: ctx, cancel: cancel}
}

// done marks a record finished, releases the memory it held, and resumes
// fetching when the process holds little enough.
func (p *partition) done(rec *kgo.Record) { p.doneHeld(rec.Offset, heldSize(rec)) }

// doneHeld marks the record at off finished and releases held, what it
// held (heldSize, or less once slim).
func (p *partition) doneHeld(off, held int64) {
	if !p.cp.markDone(off) {
		return
	}
	p.hold(-held)
	p.backpressure()
}

// rehold lowers what a record counts in the partition's memory from held
// to now, and lets back-pressure see it:
//   - a record superseded by a later change of its key (collapse): now is
//     its place in that change's entry (places.add grew by a byte to three
//     on average), kept until the change is written (doneCollapsed), so a
//     backlog of changes of few keys holds about its keys' worth of memory,
//     not its changes' worth, and can be read far ahead;
//   - a waiting record whose entry dropped its mapped record (entry.slim):
//     now is slimSize.
func (p *partition) rehold(held, now int64) {
	p.hold(now - held)
	p.backpressure()
}

// doneCollapsed marks done the records a written change superseded (its
// places), and releases the memory the places held.
func (p *partition) doneCollapsed(pl *places) {
	if pl.n == 0 {
		return
	}
	pl.each(func(off int64) {
		p.cp.markDone(off)
	})
	p.hold(-pl.size())
	p.backpressure()
}

// slimSize estimates what a waiting record holds once its entry is slim
// (entry.slim): its key and value, the Kafka record, and the entry with
// its key and match values, measured at about 700 bytes for a four-field
// Contacts row of 170 bytes of key and value.
func slimSize(rec *kgo.Record) int64 {
	return int64(len(rec.Key)+len(rec.Value)) + 576
}

// backpressure pauses fetching the partition while the process holds
// kafka.max_buffered_bytes of records not done (or the partition's window
// reached maxWindow), and resumes it below three quarters of the bytes
// and half the window. The runner's
// resumeLoop calls it for paused partitions too: one whose own records are
// all done is resumed once others released the memory.
func (p *partition) backpressure() {
	window := p.cp.Window()
	held, limit := p.r.buffered(), p.r.maxHeld
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	switch {
	case !p.paused && (held >= limit || window >= maxWindow) && !p.gone.Load():
		p.paused = true
		p.r.cl.PauseFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.part}})
		select {
		case p.r.pausedWake <- struct{}{}: // resumeLoop looks again from now on
		default:
		}
	case p.paused && held < limit*3/4 && window < maxWindow/2:
		p.paused = false
		p.r.cl.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.part}})
	}
}

// buffered is the memory the runner holds, by its estimate: records
// consumed and not done, and the per-key caches.
func (r *Runner) buffered() int64 { return r.held.Load() + r.cache.size() }

// tight reports whether memory is near its bound, so that a sync behind
// its partitions' ends must write what waits rather than defer it
// (batcher): the records handled and not done, and the caches, hold half
// of kafka.max_buffered_bytes or more; three quarters while any sync's
// waiting entries are slim (syncWorker.slimming, counted in r.slimmers:
// its backlog is worth holding, its keys change again, and a slim entry
// costs a fraction of a full one). The records queued to the syncs do not
// count: handling them frees memory (a change collapsing into its key's
// waiting one), writing does not. Neither bound is above three quarters,
// where a partition paused by back-pressure resumes: a paused sync with
// nothing left to handle either writes (tight) or is resumed.
func (r *Runner) tight() bool {
	var queued int64
	for _, w := range r.workers {
		queued += w.input.bytes.Load()
	}
	bound := r.maxHeld / 2
	if r.slimmers.Load() > 0 {
		bound = r.maxHeld * 3 / 4
	}
	return r.buffered()-queued >= bound
}

// resumeLoop looks at the paused partitions a few times a second, so that
// a partition paused while others held the memory is fetched again once
// they released it, though none of its own records is left to finish.
// While none is paused it sleeps until one is (pausedWake): an idle
// process has no timer of its own to wake it.
func (r *Runner) resumeLoop(ctx context.Context) {
	look := func() (time.Duration, bool) {
		r.mu.Lock()
		var paused []*partition
		for _, p := range r.parts {
			p.pauseMu.Lock()
			if p.paused {
				paused = append(paused, p)
			}
			p.pauseMu.Unlock()
		}
		r.mu.Unlock()
		for _, p := range paused {
			p.backpressure()
		}
		if len(paused) == 0 {
			return 0, true // nothing to resume: wait for a pause
		}
		return 100 * time.Millisecond, true
	}
	next, _ := look()
	pacedOrWoken(ctx, next, r.pausedWake, look)
}

// poll hands fetched records to the syncs until ctx ends.
func (r *Runner) poll(ctx context.Context) {
	reset := map[tp]bool{} // partitions a data loss reset in this poll
	for {
		fetches := r.cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			r.cl.AllowRebalance()
			return
		}
		clear(reset)
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			if t != "" { // group errors (no topic) are logged by franz-go and shown by /status
				r.log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
			}
			if isFatalKafka(err) {
				r.fail(fmt.Errorf("kafka: topic %s partition %d: %w: check the credentials and ACLs of the consumer", t, p, err))
			}
			if dl, ok := errors.AsType[*kgo.ErrDataLoss](err); ok && r.onDataLoss(dl) {
				reset[tp{t, p}] = true
			}
		})
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 || reset[tp{ftp.Topic, ftp.Partition}] {
				// A partition reset by a data loss in this poll is read
				// again from where onDataLoss set it: records of the same
				// poll from franz-go's reset point would make the new
				// checkpoint refuse the earlier ones as delivered twice.
				return
			}
			p := r.partition(ftp.Topic, ftp.Partition)
			if p == nil {
				return
			}
			p.hwm.Store(ftp.HighWatermark)
			p.lso.Store(ftp.LastStableOffset)
			r.checkDeleted(p, ftp.LogStartOffset, ftp.Records[0].Offset)
			byWorker := map[*syncWorker][]inRecord{}
			for _, rec := range ftp.Records {
				if r.replay && rec.Offset >= r.replayEnd[rec.Partition] {
					continue // dead-lettered after the replay started: the next replay's
				}
				if rec.Attrs.IsControl() {
					// A transaction's commit or abort marker (KeepControlRecords):
					// no change, but done, so that the checkpoint reaches the
					// end of a transaction, and of an aborted tail.
					if p.track(rec) {
						p.done(rec)
					}
					continue
				}
				if !p.track(rec) {
					continue // delivered twice: the first copy is on its way
				}
				w := p.w
				if r.replay {
					w, rec = r.routeReplay(rec)
				}
				if w == nil {
					p.done(rec)
					continue
				}
				byWorker[w] = append(byWorker[w], inRecord{rec: rec, part: p})
			}
			p.backpressure()
			for w, items := range byWorker {
				w.input.push(items...)
			}
		})
		r.cl.AllowRebalance()
	}
}

// checkDeleted reports offsets of p skipped unread because Kafka deleted
// records before they were read. That is so when the log's start
// (logStart, of the fetch) is past the offset p expects next (the one after
// its last record, or before its first the group's committed offset) and
// the fetch's first record (at first) comes later than that. franz-go then
// resumes without an error (a warning that does not say what was skipped):
// at the log's start while consuming; before a partition's first record,
// where kafka.start_offset says (latest skips what the log still holds
// too). The topic's retention was shorter than the sync's lag, or the
// records were deleted (DeleteRecords). Compaction and aborted transactions
// leave gaps in the offsets but do not move the log's start, so they alone
// are not reported. The range is an upper bound on the changes lost: it may
// hold gaps, and changes written before a crash and not committed. The
// records are gone (or skipped), so nothing is read again: the sync goes
// on, and the offsets are named in an error, the syncs' status and
// zohosink_kafka_offsets_unread_total.
func (r *Runner) checkDeleted(p *partition, logStart, first int64) {
	if r.replay {
		return // the dead-letter topic's retention dropping letters is no sync's loss (replayEnds)
	}
	p.unreadMu.Lock()
	defer p.unreadMu.Unlock()
	expected, ok := p.cp.Next()
	if !ok {
		committed := r.groupCommitted
		if committed == nil {
			if r.cl == nil {
				return
			}
			committed = r.cl.CommittedOffsets
		}
		c, known := committed()[p.tp.topic][p.tp.part]
		if !known {
			return
		}
		expected = c.Offset
	}
	r.reportUnread(p, expected, logStart, first)
}

// reportUnread reports offsets expected to first-1 of p unread, the log
// starting at logStart (checkDeleted), unless they were read or reported
// already (readTo), or the log's start is not past expected. It reports
// whether it did. p.unreadMu is held.
func (r *Runner) reportUnread(p *partition, expected, logStart, first int64) bool {
	expected = max(expected, p.readTo)
	if expected < 0 || logStart <= expected || first <= expected {
		return false
	}
	p.readTo = first
	skipped := ""
	if first > logStart {
		skipped = fmt.Sprintf("; %d to %d are still in the log, skipped by compaction or by kafka.start_offset: latest", logStart, first-1)
	}
	msg := fmt.Sprintf("kafka deleted records of %s partition %d before zohosink read them (the topic's retention is shorter than the sync's lag, or records were deleted): offsets %d to %d were not read (the log now starts at %d%s), so up to %d changes that had not reached Zoho are lost", p.tp.topic, p.tp.part, expected, first-1, logStart, skipped, first-expected)
	r.log.Error("kafka deleted records before they were read", "topic", p.tp.topic, "partition", p.tp.part, "first_unread", expected, "last_unread", first-1, "log_start", logStart, "unread", first-expected, "problem", msg)
	r.met.unread.WithLabelValues(p.tp.topic).Add(float64(first - expected))
	if p.w != nil {
		p.w.status.setLastError(msg)
	}
	return true
}

// startsTimeout bounds checkStarts's requests.
const startsTimeout = 10 * time.Second

// startsSettle waits a second, or until ctx ends (false), before
// checkStarts reads: long enough for the poll to have tracked the records
// franz-go fetched first, if any (a var for the tests).
var startsSettle = func(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Second):
		return true
	}
}

// checkStarts looks, once partitions are assigned (parts, those of syncs
// onAssigned created), for records Kafka deleted before the group read
// them. The poll finds such a loss with the partition's next records
// (checkDeleted); a partition that has none (a table whose changes all
// expired while every process was stopped, and that has not changed since)
// would say nothing until its next change, because franz-go hands the poll
// no fetch without records. So, after startsSettle, the partitions' log
// starts and the group's committed offsets are read (and, with
// kafka.start_offset: latest, the last stable offsets, where franz-go
// resumed), and a partition with nothing tracked whose committed offset is
// below its log's start is reported (checkGone). Reads that fail leave the
// report to the poll. ctx and cl are onAssigned's (r.cl may not be set
// yet at the first assignment): ctx ends when the client closes; a
// partition revoked meanwhile is left alone (checkGone).
func (r *Runner) checkStarts(ctx context.Context, cl *kgo.Client, parts []*partition) {
	topics := []string{}
	for _, p := range parts {
		if !slices.Contains(topics, p.tp.topic) {
			topics = append(topics, p.tp.topic)
		}
	}
	if !startsSettle(ctx) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, startsTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	// A broker that fails fails its partitions only (*kadm.ShardErrors):
	// the others are looked at.
	partial := func(err error) bool {
		_, shards := errors.AsType[*kadm.ShardErrors](err)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("could not read the assigned partitions' offsets: records Kafka deleted unread are told with the partitions' next records", "err", err)
		}
		return err == nil || shards
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if !partial(err) {
		return
	}
	committed, err := adm.FetchOffsets(ctx, r.groupID())
	if errors.Is(err, kerr.GroupIDNotFound) || !partial(err) {
		return // no group: nothing committed
	}
	var ends kadm.ListedOffsets
	if r.cfg.Kafka.StartOffset == "latest" {
		if ends, err = adm.ListCommittedOffsets(ctx, topics...); !partial(err) {
			return
		}
	}
	var failed []string
	for _, p := range parts {
		s, ok := starts.Lookup(p.tp.topic, p.tp.part)
		c, known := committed.Lookup(p.tp.topic, p.tp.part)
		e, listed := ends.Lookup(p.tp.topic, p.tp.part)
		switch {
		case !known || c.Err == nil && c.At < 0:
			// Never committed: where reading starts is start_offset's.
		case c.Err != nil || !ok || s.Err != nil || ends != nil && (!listed || e.Err != nil):
			failed = append(failed, p.tp.topic+"/"+strconv.Itoa(int(p.tp.part)))
		default:
			r.checkGone(p, c.At, s.Offset, max(s.Offset, e.Offset))
		}
	}
	if len(failed) > 0 {
		r.log.Warn("could not read some assigned partitions' offsets: records Kafka deleted unread are told with their next records", "partitions", strings.Join(failed, ","))
	}
}

// checkGone reports offsets of p from the group's committed one to first-1
// unread (reportUnread) when the log's start is past the committed offset
// and p has tracked no record, not even while this runs: the checkpoint's
// skip to the log's start (skipTo), which the next commit makes once
// nothing waits so that the next start does not report the loss again, is
// set only then. Not beyond the log's start: with latest, the records the
// log still holds up to first are reported skipped, and a start before the
// group commits past them reads and writes them. A partition revoked
// meanwhile is left alone.
func (r *Runner) checkGone(p *partition, committed, logStart, first int64) {
	p.unreadMu.Lock()
	defer p.unreadMu.Unlock()
	r.mu.Lock()
	live := !p.gone.Load() && r.parts[p.tp] == p
	r.mu.Unlock()
	if !live || logStart <= max(committed, p.readTo) || !p.cp.skipTo(logStart) {
		return
	}
	r.reportUnread(p, committed, logStart, first)
}

func (r *Runner) partition(topic string, part int32) *partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := tp{topic, part}
	if p, ok := r.parts[k]; ok {
		return p
	}
	w := r.byTopic[topic]
	if w == nil && !r.replay {
		return nil
	}
	p := r.newPartition(k, w)
	r.parts[k] = p
	return p
}

func (r *Runner) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	var fresh []*partition // of syncs, for checkStarts
	r.mu.Lock()
	for t, ps := range assigned {
		for _, p := range ps {
			k := tp{t, p}
			if old, ok := r.parts[k]; ok {
				old.gone.Store(true)
				old.cancel()
				old.release()
			}
			if w := r.byTopic[t]; w != nil || r.replay {
				p := r.newPartition(k, w)
				r.parts[k] = p
				if w != nil {
					// What the sync learned of the partition's keys before it
					// was ours again may be stale.
					w.cacheGen.Add(1)
					if !r.replay {
						fresh = append(fresh, p)
					}
				}
			}
		}
	}
	r.mu.Unlock()
	cl.ResumeFetchPartitions(assigned) // a pause outlives a revoke in franz-go
	r.wakeShare()
	r.wakeGroup()
	r.joined.Store(true)
	r.kafkaGroupErr.Store("")
	if len(assigned) > 0 {
		r.log.Info("partitions assigned", "partitions", describe(assigned))
	}
	if len(fresh) > 0 {
		go r.checkStarts(ctx, cl, fresh)
	}
}

// revokeTimes bounds the steps of a revoke: the wait for the partitions'
// writes in flight (at most drain), the flush of their dead letters (5 s)
// and the commit (10 s), which may first wait for a commit of the commit
// loop to end, itself bounded by commit. Together they stay within seven
// eighths of the rebalance timeout (rt, 0: not set): a member that takes
// longer to give its partitions up is put out of the group, and the
// partitions' next owner starts before the commit.
func revokeTimes(rt, drain time.Duration) (wait, flush, commit time.Duration) {
	wait, flush, commit = drain, 5*time.Second, 10*time.Second
	if rt > 0 {
		wait, flush, commit = min(wait, rt/2), min(flush, rt/8), min(commit, rt/8)
	}
	return wait, flush, commit
}

func (r *Runner) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	parts := r.take(revoked)
	if len(parts) == 0 {
		return
	}
	// Give in-flight writes of these partitions a bounded time to finish.
	wait, flushFor, commitFor := revokeTimes(r.cfg.Kafka.RebalanceTimeout.D(), r.drainTimeout)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	byWorker := map[*syncWorker]map[*partition]bool{}
	for _, p := range parts {
		ws := []*syncWorker{p.w}
		if p.w == nil { // replay: a partition feeds every sync
			ws = r.workers
		}
		for _, w := range ws {
			if byWorker[w] == nil {
				byWorker[w] = map[*partition]bool{}
			}
			byWorker[w][p] = true
		}
	}
	expired := false
	for w, set := range byWorker {
		if expired {
			break
		}
		req := revokeReq{parts: set, done: make(chan struct{})}
		select {
		case w.revokes <- req:
			select {
			case <-req.done:
			case <-r.loopsDone:
			case <-deadline.C:
				expired = true
			}
		case <-r.loopsDone:
		case <-deadline.C:
			expired = true
		}
	}
	if expired {
		r.log.Warn("revoke: in-flight writes did not finish in time; abandoning them (the new owner writes those changes)", "wait", wait)
	}
	// Dead letters produced for these partitions are done once acknowledged.
	fctx, fcancel := context.WithTimeout(context.Background(), flushFor)
	_ = cl.Flush(fctx)
	fcancel()
	// The commit loop's commit in progress, if any, ends within commitFor.
	cctx, cancel := context.WithTimeout(context.Background(), 2*commitFor)
	defer cancel()
	if err := r.commit(cctx, parts, commitRevoked); err != nil {
		r.log.Warn("commit on revoke failed: the new owner will write those records again", "err", err)
	}
	r.forget(parts)
	cl.ResumeFetchPartitions(revoked)
	r.log.Info("partitions revoked", "partitions", describe(revoked))
}

// onDataLoss starts a partition afresh after Kafka lost records of it (an
// unclean leader election truncated its log: franz-go reports it and goes
// on from dl.ResetTo). The records the log holds now at offsets already
// seen are other records: the old checkpoint would refuse them as
// delivered twice, and they would never be written. The partition is
// replaced as at an assignment (the changes of the old one waiting or in
// flight are dropped) and read again from the first offset not known done,
// or from ResetTo if that is lower, so that nothing the log still holds is
// skipped; what is read again is written again (at least once). Called
// from the poll loop, before it allows a rebalance, as SetOffsets needs.
// It reports whether it reset the partition.
func (r *Runner) onDataLoss(dl *kgo.ErrDataLoss) bool {
	k := tp{dl.Topic, dl.Partition}
	r.mu.Lock()
	old, ok := r.parts[k]
	if !ok || old.gone.Load() {
		r.mu.Unlock()
		return false
	}
	from := dl.ResetTo
	if pos, known := old.cp.Position(); known && pos < from {
		from = pos
	}
	old.gone.Store(true)
	old.cancel()
	old.release()
	np := r.newPartition(k, old.w)
	np.readTo = from // below it, done: not reported as unread if deleted (checkDeleted)
	r.parts[k] = np
	if old.w != nil {
		old.w.cacheGen.Add(1) // what the writes of the lost records taught may be stale
	}
	r.mu.Unlock()
	r.log.Error("kafka lost records of a partition (its log was truncated): reading it again from the first record not known written; records read again are written again",
		"topic", dl.Topic, "partition", dl.Partition, "consumed_to", dl.ConsumedTo, "reset_to", dl.ResetTo, "reading_from", from)
	if r.cl != nil {
		r.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{dl.Topic: {dl.Partition: {Epoch: -1, Offset: from}}})
	}
	return true
}

func (r *Runner) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	parts := r.take(lost)
	r.forget(parts) // their in-flight writes stop now; nothing is committed
	set := map[*partition]bool{}
	for _, p := range parts {
		set[p] = true
	}
	for _, w := range r.workers {
		w.cacheGen.Add(1) // even if its loop does not take the request in time
		select {
		case w.revokes <- revokeReq{parts: set, done: make(chan struct{})}:
		case <-r.loopsDone:
		case <-time.After(time.Second):
		}
	}
	cl.ResumeFetchPartitions(lost)
	if len(lost) > 0 {
		r.log.Warn("partitions lost: nothing committed for them; their records will be consumed again", "partitions", describe(lost))
	}
}

// take marks partitions gone (their queued records are dropped from now on)
// and returns them; they stay committable until forget.
func (r *Runner) take(m map[string][]int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for t, ps := range m {
		for _, p := range ps {
			if pp, ok := r.parts[tp{t, p}]; ok {
				pp.gone.Store(true)
				out = append(out, pp)
			}
		}
	}
	r.wakeShare() // their slots are no longer ours
	r.wakeGroup()
	return out
}

func (r *Runner) forget(parts []*partition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		p.cancel()
		p.release()
		if r.parts[p.tp] == p {
			delete(r.parts, p.tp)
		}
		delete(r.committed, p.tp)
		r.met.lag.DeleteLabelValues(p.tp.topic, strconv.Itoa(int(p.tp.part)))
	}
}

// commitLoop commits every commit interval, and at once when the limit
// shares ask (commitNow); what they hold back waits (committable).
func (r *Runner) commitLoop(ctx context.Context) {
	// A revoke's commit waits for this one to end (commitMu): its bound
	// is the revoke's (revokeTimes).
	_, _, bound := revokeTimes(r.cfg.Kafka.RebalanceTimeout.D(), r.drainTimeout)
	everyOrWoken(ctx, r.cfg.Kafka.CommitInterval.D(), r.commitNow, func() bool {
		cctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		if err := r.commit(cctx, r.committable(), commitLive); err != nil && ctx.Err() == nil {
			r.log.Warn("offset commit failed, will retry", "err", err)
		}
		return true
	})
}

// Which partitions of those given a commit commits.
const (
	// commitLive: only those still ours, looked at under commitMu (the
	// commit loop's list was taken before; one revoked since is the
	// revoke's to commit, and a write of it finishing late must not be).
	commitLive = false
	// commitRevoked: those given, gone or not (the revoke's own commit).
	commitRevoked = true
)

// commit commits the released offsets of parts (nil: every live partition
// whose offset moved) and updates the lag gauges. revoked says whether
// parts gone may be committed (commitRevoked) or not (commitLive).
func (r *Runner) commit(ctx context.Context, parts []*partition, revoked bool) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.mu.Lock()
	if parts == nil {
		for _, p := range r.parts {
			if !p.gone.Load() {
				parts = append(parts, p)
			}
		}
	} else if !revoked {
		parts = slices.DeleteFunc(slices.Clone(parts), func(p *partition) bool { return p.gone.Load() || r.parts[p.tp] != p })
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	next := map[tp]int64{}
	for _, p := range parts {
		off, epoch, ok := p.cp.Released()
		if pos, known := p.cp.Position(); known {
			r.met.lag.WithLabelValues(p.tp.topic, strconv.Itoa(int(p.tp.part))).Set(float64(max(p.end()-pos, 0)))
		}
		if !ok || r.committed[p.tp] >= off {
			continue
		}
		if offsets[p.tp.topic] == nil {
			offsets[p.tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.tp.topic][p.tp.part] = kgo.EpochOffset{Epoch: epoch, Offset: off}
		next[p.tp] = off
	}
	r.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	// Only what the broker confirmed counts as committed: a request that
	// failed as a whole (a cancelled context, a rebalance) commits nothing.
	var cerr error
	confirmed := map[tp]int64{}
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				k := tp{t.Topic, p.Partition}
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					cerr = fmt.Errorf("topic %s partition %d: %w", t.Topic, p.Partition, e)
					continue
				}
				if off, ok := next[k]; ok {
					confirmed[k] = off
				}
			}
		}
	})
	r.mu.Lock()
	for k, off := range confirmed {
		if _, live := r.parts[k]; live {
			r.committed[k] = off
		}
	}
	r.mu.Unlock()
	return cerr
}

// groupID is the consumer group the runner joins.
func (r *Runner) groupID() string {
	if r.replay {
		return dlq.ReplayGroup(r.cfg)
	}
	return r.cfg.Kafka.GroupID
}

// setWaiting records what the start waits for, shown by /readyz until the
// group is joined.
func (r *Runner) setWaiting(what string) { r.waiting.Store(what) }

// kafkaProblem is the newest reason Kafka cannot be used: a broker that
// cannot be reached, or the group that cannot be joined. "" when none.
func (r *Runner) kafkaProblem() string {
	if s, _ := r.kafkaConnErr.Load().(string); s != "" {
		return s
	}
	s, _ := r.kafkaGroupErr.Load().(string)
	return s
}

// kafkaWatch turns franz-go's connection and group errors into the state
// /status and /readyz show.
type kafkaWatch struct{ r *Runner }

func (h kafkaWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		why := strings.TrimPrefix(err.Error(), "unable to dial: ")
		h.r.kafkaConnErr.Store(withKafkaHint(h.r.cfg, fmt.Sprintf("kafka: cannot connect to broker %s: %s", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), why), err))
		return
	}
	h.r.kafkaConnErr.Store("")
}

func (h kafkaWatch) OnGroupManageError(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.r.kafkaGroupErr.Store(withKafkaHint(h.r.cfg, fmt.Sprintf("kafka: consumer group %s: %v", h.r.groupID(), err), err))
}

func describe(m map[string][]int32) string {
	var parts []string
	for t, ps := range m {
		for _, p := range ps {
			parts = append(parts, t+"/"+strconv.Itoa(int(p)))
		}
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}

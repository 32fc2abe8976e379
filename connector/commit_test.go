package connector

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/connector/config"
)

// committer is a Runner whose client is a member of group "g" owning
// partition 0 of topic "t" on a kfake cluster, with that partition's
// records 0 to 9 done, and an admin client to read what the group
// committed.
func committer(t *testing.T) (*Runner, *partition, func() int64) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	assigned := make(chan struct{}, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil && !cl.PollFetches(ctx).IsClientClosed() {
		}
	}()
	select {
	case <-assigned:
	case <-ctx.Done():
		t.Fatal("the group was not joined")
	}
	r := &Runner{cfg: &config.Config{}, cl: cl, log: slog.New(slog.DiscardHandler), parts: map[tp]*partition{}, committed: map[tp]int64{}, met: newMetrics(prometheus.NewRegistry())}
	k := tp{"t", 0}
	p := r.newPartition(k, nil)
	for off := range int64(10) {
		p.cp.track(off, 0)
		p.cp.markDone(off)
	}
	r.parts[k] = p
	adm := kadm.NewClient(cl)
	committed := func() int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup("t", 0)
		if !ok {
			return -1
		}
		return o.At
	}
	return r, p, committed
}

// A revoke commits the partitions it takes away, although they are gone
// by the time it commits (the partition's next owner starts there; not
// committing them would have it write again everything since the last
// interval's commit).
func TestRevokeCommitsThePartitionsItTakes(t *testing.T) {
	r, _, committed := committer(t)
	r.onRevoked(context.Background(), r.cl, map[string][]int32{"t": {0}})
	if got := committed(); got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
}

// The final commit commits a partition whose caught-up end the limit
// shares hold back: the hold waits for calls in flight, and at the end
// none is left.
func TestFinalCommitIgnoresHolds(t *testing.T) {
	r, _, committed := committer(t)
	r.heldCommits.Store(&map[tp]bool{{"t", 0}: true})
	r.finalCommit()
	if got := committed(); got != 10 || r.finalCommitFailed.Load() {
		t.Fatalf("committed %d (failed %v), want 10", got, r.finalCommitFailed.Load())
	}
}

// After Kafka lost records of a partition (its log truncated by an unclean
// leader election), the records at offsets already seen are other records:
// the partition starts afresh, so that they are taken, not refused as
// delivered twice (they would never be written, and committed past).
func TestDataLossStartsThePartitionAfresh(t *testing.T) {
	r, old, _ := committer(t)
	if old.track(&kgo.Record{Topic: "t", Offset: 6}) {
		t.Fatal("the old checkpoint took an offset it had seen")
	}
	r.onDataLoss(&kgo.ErrDataLoss{Topic: "t", Partition: 0, ConsumedTo: 10, ResetTo: 6})
	p := r.parts[tp{"t", 0}]
	if p == old || !old.gone.Load() {
		t.Fatal("the partition was not replaced")
	}
	if !p.track(&kgo.Record{Topic: "t", Offset: 6}) {
		t.Fatal("the record now at offset 6 was refused")
	}
	r.onDataLoss(&kgo.ErrDataLoss{Topic: "t", Partition: 1, ConsumedTo: 5, ResetTo: 0}) // not ours: nothing happens
	if r.parts[tp{"t", 0}] != p {
		t.Fatal("a loss of another partition replaced this one")
	}
}

// A revoke's wait, flush and commit (after waiting for the commit loop's,
// bounded alike) fit within the rebalance timeout, however small, and keep
// their own bounds under a large one.
func TestRevokeTimesFitTheRebalanceTimeout(t *testing.T) {
	for _, rt := range []time.Duration{2 * time.Second, 10 * time.Second, 60 * time.Second, 10 * time.Minute} {
		// The revoke's commit may first wait for the commit loop's, bounded alike.
		wait, flush, commit := revokeTimes(rt, 30*time.Second)
		if sum := wait + flush + 2*commit; sum >= rt {
			t.Errorf("rebalance timeout %v: wait %v + flush %v + 2 × commit %v = %v, not within it", rt, wait, flush, commit, sum)
		}
		if wait > 30*time.Second || flush > 5*time.Second || commit > 10*time.Second {
			t.Errorf("rebalance timeout %v: wait %v, flush %v, commit %v: past their own bounds (30s, 5s, 10s)", rt, wait, flush, commit)
		}
	}
	if wait, flush, commit := revokeTimes(0, 30*time.Second); wait != 30*time.Second || flush != 5*time.Second || commit != 10*time.Second {
		t.Errorf("no rebalance timeout: %v %v %v, want the bounds 30s 5s 10s", wait, flush, commit)
	}
}

// unreadCounter returns r's zohosink_kafka_offsets_unread_total of the
// committer's topic ("t").
func unreadCounter(t *testing.T, r *Runner) func() float64 {
	return func() float64 {
		t.Helper()
		m := &dto.Metric{}
		if err := r.met.unread.WithLabelValues("t").Write(m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
}

// Offsets skipped unread because Kafka deleted records are counted once,
// up to the fetch's first record; gaps with the log's start not past what
// was expected (compaction, aborted transactions) are not; and after a
// data loss's reset the records done before it are not counted as unread,
// while those deleted before they were read again are.
func TestCheckDeletedCountsUnreadOffsets(t *testing.T) {
	r, p, _ := committer(t) // records 0-9 read: 10 expected next
	var logged bytes.Buffer
	r.log = slog.New(slog.NewTextHandler(&logged, nil))
	unread := unreadCounter(t, r)
	r.checkDeleted(p, 5, 20) // a gap, the log's start before it: compaction
	if got := unread(); got != 0 {
		t.Fatalf("a compacted gap counted %v unread", got)
	}
	r.checkDeleted(p, 10, 10)
	r.checkDeleted(p, 15, 10) // the log's start moved after the fetch: nothing skipped
	if got := unread(); got != 0 {
		t.Fatalf("nothing skipped, %v counted", got)
	}
	r.checkDeleted(p, 15, 18) // deleted 10-14, 15-17 compacted or skipped
	r.checkDeleted(p, 15, 18) // the same fetch's partition again: once
	if got := unread(); got != 8 {
		t.Fatalf("%v unread, want 8 (offsets 10-17)", got)
	}
	if n := strings.Count(logged.String(), "level=ERROR"); n != 1 || !strings.Contains(logged.String(), "offsets 10 to 17 were not read (the log now starts at 15; 15 to 17 are still in the log") {
		t.Fatalf("%d errors, want one naming offsets 10 to 17:\n%s", n, logged.String())
	}
	// A data loss reset while records 10-19 were done and 10 committed:
	// read again from 20.
	r.groupCommitted = func() map[string]map[int32]kgo.EpochOffset {
		return map[string]map[int32]kgo.EpochOffset{"t": {0: {Offset: 10}}}
	}
	for off := int64(18); off < 20; off++ {
		p.cp.track(off, 0)
		p.cp.markDone(off)
	}
	if !r.onDataLoss(&kgo.ErrDataLoss{Topic: "t", Partition: 0, ConsumedTo: 30, ResetTo: 25}) {
		t.Fatal("the partition was not reset")
	}
	np := r.parts[tp{"t", 0}]
	r.checkDeleted(np, 15, 22) // from the committed 10: but 10-19 were done
	if got := unread(); got != 8 {
		t.Fatalf("%v unread after the reset, want still 8: offsets done before it counted", got)
	}
	r.checkDeleted(np, 24, 26) // 20-25 deleted before they were read again
	if got := unread(); got != 14 {
		t.Fatalf("%v unread, want 14 (and 20-25)", got)
	}
}

// reassign gives r a new partition k, as an assignment does: nothing read.
func reassign(r *Runner, k tp) *partition {
	p := r.newPartition(k, nil)
	r.mu.Lock()
	r.parts[k] = p
	r.mu.Unlock()
	return p
}

// At assignment, a partition whose committed offset is below its log's
// start lost records unread: told at once (a quiet partition brings the
// poll nothing to find it by), and the group's commit moves past it, so
// that the next start does not tell it again.
func TestCheckGoneReportsAtAssignmentAndCommitsPastTheLoss(t *testing.T) {
	r, p0, committed := committer(t) // records 0-9 done
	var logged bytes.Buffer
	r.log = slog.New(slog.NewTextHandler(&logged, nil))
	unread := unreadCounter(t, r)
	commit := func() {
		t.Helper()
		if err := r.commit(context.Background(), nil, commitLive); err != nil {
			t.Fatal(err)
		}
	}
	assign := func() *partition { return reassign(r, p0.tp) }
	commit()
	stale := assign()
	p := assign()
	r.checkGone(p, 10, 10, 10) // nothing deleted unread
	r.checkGone(p, 10, 5, 5)
	r.checkGone(stale, 10, 25, 25) // assigned again since: not judged
	if got := unread(); got != 0 || committed() != 10 {
		t.Fatalf("nothing lost: %v unread, committed %d", got, committed())
	}

	r.checkGone(p, 10, 25, 25) // 10-24 came and were deleted unread
	r.checkGone(p, 10, 25, 25)
	r.checkDeleted(p, 25, 25) // then the poll's first fetch, from 25: once
	if got := unread(); got != 15 {
		t.Fatalf("%v unread, want 15 (offsets 10-24)", got)
	}
	if n := strings.Count(logged.String(), "level=ERROR"); n != 1 || !strings.Contains(logged.String(), "offsets 10 to 24 were not read (the log now starts at 25), so up to 15 changes") {
		t.Fatalf("%d errors, want one naming offsets 10 to 24:\n%s", n, logged.String())
	}
	commit()
	if got := committed(); got != 25 {
		t.Fatalf("committed %d, want 25: the next start would tell the loss again", got)
	}
	if !p.track(&kgo.Record{Topic: "t", Partition: 0, Offset: 25}) {
		t.Fatal("the log's first record after the loss was refused")
	}
	r.checkGone(p, 25, 30, 30) // a record tracked: the poll judges
	if got := unread(); got != 15 {
		t.Fatalf("%v unread after a record was tracked, want still 15", got)
	}

	// A record of the range judged gone is delivered after all (fetched
	// before the log's start moved): it is taken, and the commit does not
	// go past it, nor, once it is done, past the records that may follow
	// it.
	p = assign()
	r.checkGone(p, 25, 40, 40)
	if !p.track(&kgo.Record{Topic: "t", Partition: 0, Offset: 30}) {
		t.Fatal("a record below the skipped offsets was refused: it would never be written")
	}
	if off, _, ok := p.cp.Released(); ok {
		t.Fatalf("released %d with record 30 waiting", off)
	}
	p.cp.markDone(30)
	if off, _, _ := p.cp.Released(); off != 31 {
		t.Fatalf("released %d after record 30, want 31: records 31-39 may still come", off)
	}
	// A record past the skip waits: nothing is released before it is done.
	p = assign()
	r.checkGone(p, 40, 50, 50)
	p.track(&kgo.Record{Topic: "t", Partition: 0, Offset: 52})
	if off, _, ok := p.cp.Released(); ok {
		t.Fatalf("released %d with record 52 waiting", off)
	}
	p.cp.markDone(52)
	if off, _, _ := p.cp.Released(); off != 53 {
		t.Fatalf("released %d after record 52, want 53", off)
	}

	// With start_offset latest, franz-go skips to the end, past what the
	// log still holds (first): those are told too, but the commit moves to
	// the log's start only (a later start may read them: never past a
	// record still in the log).
	r2, q0, committed2 := committer(t)
	var logged2 bytes.Buffer
	r2.log = slog.New(slog.NewTextHandler(&logged2, nil))
	q := reassign(r2, q0.tp)
	r2.checkGone(q, 10, 15, 40)
	if got := unreadCounter(t, r2)(); got != 30 || !strings.Contains(logged2.String(), "offsets 10 to 39 were not read (the log now starts at 15; 15 to 39 are still in the log, skipped by compaction or by kafka.start_offset: latest)") {
		t.Fatalf("%v unread, want 30 (offsets 10-39):\n%s", got, logged2.String())
	}
	if err := r2.commit(context.Background(), nil, commitLive); err != nil || committed2() != 15 {
		t.Fatalf("committed %d (%v), want 15", committed2(), err)
	}

	// Revoked before the commit loop came to it: the revoke's own commit
	// carries the skip, so the partition's next owner does not report the
	// loss again.
	q = reassign(r2, q0.tp)
	r2.checkGone(q, 15, 30, 30)
	q.gone.Store(true)
	if err := r2.commit(context.Background(), []*partition{q}, commitRevoked); err != nil || committed2() != 30 {
		t.Fatalf("the revoke committed %d (%v), want 30", committed2(), err)
	}
}

// checkStarts reads the log's starts and the group's offsets from Kafka:
// a loss is told for the partitions assigned, the group's commit moves
// past it, and a group that never committed is not told one.
func TestCheckStartsReadsKafka(t *testing.T) {
	defer func(f func(context.Context) bool) { startsSettle = f }(startsSettle)
	settled := func(context.Context) bool { return true }
	startsSettle = settled
	r, p0, committed := committer(t) // records 0-9 done
	r.cfg.Kafka.GroupID = "g"
	unread := unreadCounter(t, r)
	ctx := context.Background()
	if err := r.commit(ctx, nil, commitLive); err != nil || committed() != 10 {
		t.Fatalf("committed %d (%v)", committed(), err)
	}
	for i := range 30 {
		if err := r.cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(r.cl)
	deleteTo := func(at int64) {
		t.Helper()
		if res, err := adm.DeleteRecords(ctx, kadm.Offsets{"t": {0: {Topic: "t", Partition: 0, At: at}}}); err != nil || res.Error() != nil {
			t.Fatalf("DeleteRecords: %v %v", err, res.Error())
		}
	}
	deleteTo(25)
	assign := func() *partition { return reassign(r, p0.tp) }
	r.checkStarts(ctx, r.cl, []*partition{assign()})
	if got := unread(); got != 15 {
		t.Fatalf("%v unread, want 15 (offsets 10-24)", got)
	}
	if err := r.commit(ctx, nil, commitLive); err != nil || committed() != 25 {
		t.Fatalf("committed %d (%v), want 25", committed(), err)
	}

	// latest: franz-go resets to the last stable offset.
	for i := range 10 {
		if err := r.cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deleteTo(35)
	r.cfg.Kafka.StartOffset = "latest"
	r.checkStarts(ctx, r.cl, []*partition{assign()})
	if got := unread(); got != 30 {
		t.Fatalf("%v unread, want 30 (and offsets 25-39)", got)
	}
	if err := r.commit(ctx, nil, commitLive); err != nil || committed() != 35 {
		t.Fatalf("committed %d (%v), want 35 (the log's start)", committed(), err)
	}

	// A record tracked while the check lets the poll go (the partition
	// was not quiet): the poll judges, the check does not.
	deleteTo(40)
	p := assign()
	startsSettle = func(context.Context) bool {
		p.track(&kgo.Record{Topic: "t", Partition: 0, Offset: 40})
		return true
	}
	r.checkStarts(ctx, r.cl, []*partition{p})
	if got := unread(); got != 30 {
		t.Fatalf("%v unread with a record tracked, want still 30", got)
	}

	// A group that never committed: nothing to compare with, and nothing
	// to warn of.
	startsSettle = settled
	var logged bytes.Buffer
	r.log = slog.New(slog.NewTextHandler(&logged, nil))
	r.cfg.Kafka.GroupID = "never"
	r.checkStarts(ctx, r.cl, []*partition{assign()})
	if got := unread(); got != 30 || logged.Len() > 0 {
		t.Fatalf("%v unread for a group that never committed, want still 30; logged: %q", got, logged.String())
	}
}

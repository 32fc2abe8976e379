package connector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"zohosink/zoho"
)

// Several processes of one consumer group write to one Zoho org, whose
// limits (calls in flight, writes of more than 10 records in flight) are the
// org's, not a process's. Each process keeps to its share, so that together
// they stay within the limits instead of finding them with 429s.
//
// The share follows the partitions with a backlog ("units"): every
// partition of the group's topics whose committed offset is behind its end
// (all of them when none is). Each unit gets limit/units slots, and the
// limit%units slots left over go to the first units in an order of all the
// group's partitions that turns by limit every shareRotation by the wall
// clock (rotationStart). A process's share is the sum over the units it owns (at least 1:
// see shareAt). As long as every partition has one owner the shares add up
// to the limit exactly, whatever the assignment, and over time each
// partition gets the same slots, so equal work finishes together.
//
// No coordination is needed beyond the assignment, the group's committed
// and end offsets (which every member reads alike, every groupReadEvery
// while there is a backlog) and clocks that agree to well under shareGrace.
// Members read the offsets at different moments, so their views of the
// units differ for a while; the rules keep the shares within the limit
// meanwhile:
//
//   - A unit's slots never shrink when other units leave (the order of the
//     left-over slots does not depend on which partitions are units), so a
//     member that sees a partition caught up before another takes no slot
//     the other still uses.
//   - A partition newly behind is a unit at once for a member that reads it
//     so (its slots come off that member's other units), but its owner
//     takes its slots only behindGrace after first reading it behind: the
//     others count it from their next read on, and their calls beyond
//     their smaller shares must finish first (behindWatch). Partitions
//     behind at a process's first read, and a process that owns every
//     partition, do not wait.
//   - The owner of a partition sees it caught up first: it knows what it
//     has done (its checkpoint against the end offsets and its fetches'
//     high watermarks), not only what it committed, and leaves the unit at
//     once. It commits the end at once too (commitNow), but only once its
//     calls in flight fit its share without the partition: the commit is
//     what the others see, and the partition's slots must be free by then.
//   - A share that grows at a turn of the order grows shareGrace later, for
//     the calls of the process whose share shrank to finish first. That
//     costs the slots that move (up to limit mod n) for shareGrace at a
//     turn, so turns are long: with
//     partitions caught up passing their slots on within groupReadEvery,
//     a partition short of slots for a turn is made up for at the end.
//
// Slots follow the backlog, so a process whose partitions are caught up
// leaves its slots to those still behind as soon as its commit shows.
const (
	shareRotation = 30 * time.Second
	shareGrace    = time.Second
	// behindGrace is how long the owner of a partition newly behind waits
	// before taking its slots: the other members read it behind within
	// groupIdleEvery (while they see none behind), and their calls beyond
	// their smaller shares finish within about shareGrace.
	behindGrace = groupIdleEvery + shareGrace
	// shareEvery is how often the share is reckoned again besides the
	// assignment's changes and the group's reads: turns, and partitions
	// this process caught up.
	shareEvery = 50 * time.Millisecond
	// shareAloneEvery is shareEvery for a process that owns every
	// partition of its topics (Runner.ownsAll).
	shareAloneEvery = time.Second
	// groupReadEvery is how often the group's offsets are read while some
	// partition is behind: a caught-up partition's slots pass on within it.
	// Once none is, groupIdleEvery. A read is a ListOffsets a leader and an
	// OffsetFetch (the metadata comes from the client's cache): 8 requests
	// a second while behind, 2 once none is. The owner needs no read to
	// leave a partition it caught up (it knows its checkpoint and its
	// fetches' last stable offsets); the reads are for the others, to take
	// its slots (hand-over) and to see partitions newly behind
	// (behindGrace covers the slowest, at groupIdleEvery). At 100 ms
	// (20 requests a second) three processes gained 1-2 points of the
	// ceiling.
	groupReadEvery = 250 * time.Millisecond
	// A partition about to be caught up passes its slots on once the
	// others read it caught up. When a read sees a partition's commits
	// bring it within nearEndRecords of its end from a low point above
	// that (groupView.low: where the commit before left it), reads come
	// every groupEndingEvery (10 a second, 20 requests) for
	// groupEndingFor, which takes the others' wait for those slots from
	// 125 ms to 50 on average. That is the end of a catch-up, whose low
	// points shrink to zero. Steady traffic's low points stay about its
	// rate times the writes' lag whatever the commit interval (the
	// highs between commits do not count), so it reads as before. Three
	// processes reached 91.5-93.6% of the ceiling together instead of
	// 90.1-93.5% (BENCHMARKS.md, issue 14).
	groupEndingEvery = 100 * time.Millisecond
	groupEndingFor   = time.Second
	nearEndRecords   = 1000
	groupIdleEvery   = time.Second
	// groupAloneEvery is how often the group's offsets are read while the
	// process owns every partition of its topics: its share is the whole
	// limit whatever they say, and a member joining (a rebalance) or a
	// partition added (the topic watch) has them read at once. A single
	// process behind thus makes 15 Kafka requests a second instead of 23
	// (BENCHMARKS.md, issue 14). After a wake (and the start) reads keep
	// their usual pace for aloneAfterWake: the topics' metadata they use
	// may be as old as franz-go's metadata minimum age (5 s), and must be
	// newer than the rebalance before a read may say the process is alone.
	groupAloneEvery = 10 * time.Second
	aloneAfterWake  = 6 * time.Second
	// shareHoldMax bounds how long the commit of a partition caught up
	// waits for the calls in flight to fit the share without it.
	shareHoldMax = time.Second
)

// limitSharer is a CRM whose limits can be shared; *zoho.Client is one.
type limitSharer interface {
	Limits() (calls, complexWrites int)
	ShareLimits(calls, complexWrites int)
}

// inFlight is a CRM that says how many of its calls (and of them writes
// of more than 10 records) are in flight; *zoho.Client is one.
type inFlight interface{ Stats() zoho.Stats }

// shares is a process's share of each of the org's limits.
type shares struct{ calls, complexWrites int }

// fits reports whether what is in flight fits the shares: both limits,
// for with 15 to 25 calls and 10 complex writes the complex share binds.
func (s shares) fits(st zoho.Stats) bool {
	return st.InFlight <= s.calls && st.ComplexInFlight <= s.complexWrites
}

// groupView is the group's partitions as the last read of its offsets
// found them.
type groupView struct {
	all    []tp         // every partition of the group's topics, sorted
	ends   map[tp]int64 // their end offsets (none when not read)
	behind map[tp]bool  // those whose committed offset is behind the end
	// left is, for those behind, the records between where the group's
	// next read of them starts and their end.
	left map[tp]int64
	// low is, for those behind, what was left when a commit last moved
	// them on (left fell since the view before): their last low point.
	low map[tp]int64
	// ending: a partition behind fell to within nearEndRecords of its end
	// from a low point above it: it is about to be caught up, and its
	// slots to pass on (groupReads).
	ending bool
}

// viewOfCounts is the view of partition counts alone (the topic watch's),
// before the group's offsets could be read: no partition is known behind,
// so all are units.
func viewOfCounts(counts map[string]int32) *groupView {
	if len(counts) == 0 {
		return nil
	}
	return &groupView{all: partitionsOf(counts), ends: map[tp]int64{}, behind: map[tp]bool{}}
}

// partitionsOf lists the partitions of topics of the given counts, sorted
// by topic and partition.
func partitionsOf(counts map[string]int32) []tp {
	var all []tp
	for t, n := range counts {
		for p := range n {
			all = append(all, tp{t, p})
		}
	}
	slices.SortFunc(all, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	return all
}

// shareOf is the slots of limit that the units owned get in rotation turn:
// units are the indices (into the n partitions of the group, sorted) of the
// partitions with a backlog, sorted, and owned those of them the process
// owns. Each unit gets limit/len(units); the slots left over go to the
// units first in the order that starts at partition rotationStart(limit,
// n, turn). 0 when none of the units owned has a slot this turn (more
// units than slots). O(owned × log units): a look at a thousand
// partitions costs microseconds.
//
// A unit's slots depend only on how many units there are and which come
// before it in the turn's order: a unit that leaves never takes a slot
// from another.
func shareOf(limit int, owned, units []int, n int, turn int64) int {
	if len(units) == 0 || n <= 0 {
		return 0
	}
	base, rest := limit/len(units), limit%len(units)
	s := base * len(owned)
	if rest == 0 {
		return s
	}
	// The turn's order is units from the first at or after start on,
	// then those before it: a unit's place in it is its index in units
	// less first's, modulo len(units).
	first, _ := slices.BinarySearch(units, rotationStart(limit, n, turn))
	for _, u := range owned {
		if i, ok := slices.BinarySearch(units, u); ok && (i-first+len(units))%len(units) < rest {
			s++
		}
	}
	return s
}

// rotationStart is the partition the order of turn starts at. It moves on
// by limit mod n a turn (1 when that is 0): with every partition a unit,
// the slots left over (limit mod n) go to the next partitions in turn, so
// a round of n partitions takes n/(limit mod n) turns, not n.
func rotationStart(limit, n int, turn int64) int {
	step := int64(limit % n)
	if step == 0 {
		step = 1
	}
	m := int64(n)
	return int(((turn%m)*step%m + m) % m)
}

// shareAt is the share at time now: the smaller of the shares of now's turn
// and of the turn shareGrace ago, and at least 1 (a process whose units
// have no slot this turn, or that owns none, still writes, one call at a
// time: with more partitions than slots the shares may then add up to a
// little more than the limit, and the client's back-off on 429 takes the
// rest). n is 0 while the group's partitions are not known: 1.
func shareAt(limit int, owned, units []int, n int, now time.Time) int {
	turn := func(t time.Time) int64 { return t.UnixNano() / int64(shareRotation) }
	return max(min(shareOf(limit, owned, units, n, turn(now)), shareOf(limit, owned, units, n, turn(now.Add(-shareGrace)))), 1)
}

// ownPartition is what a process knows of a partition it owns.
type ownPartition struct {
	released int64 // the offset to commit (-1: nothing done yet)
	pending  int   // records consumed and not done
	lso      int64 // its last stable offset at the last fetch (0: none yet)
}

// caughtUp reports whether every record of the partition up to end (its
// last stable offset as the group's view read it) is done, and nothing is
// pending: released reached end and the last stable offset of the last
// fetch. Transactions' markers are consumed and done like records
// (KeepControlRecords), so a partition ending with one, or with an aborted
// transaction, is released to its end; one record still to do is one
// record behind.
func (o ownPartition) caughtUp(end int64) bool {
	end = max(end, o.lso)
	return o.pending == 0 && o.released >= 0 && o.released >= end
}

// behindWatch remembers when this process first saw each partition behind
// in the group's view: a partition newly behind is a unit at once (its
// slots come off the others' in this process's reckoning), but its owner
// takes its slots only behindGrace later, when the other members have read
// it behind too and their calls beyond their smaller shares finished.
type behindWatch struct {
	view  *groupView       // the view last noted
	since map[tp]time.Time // the partitions behind in it: when first seen behind (zero: at the first view)
}

// note takes in v, the view of the group's offsets now (nil: nothing to
// note). The partitions behind at the
// first view read were behind before this process could know: the others
// count them already, and a process starting takes its slots at once.
func (b *behindWatch) note(v *groupView, now time.Time) {
	if v == nil || v == b.view {
		return
	}
	first := b.since == nil
	if first {
		b.since = map[tp]time.Time{}
	}
	for k := range v.behind {
		if _, ok := b.since[k]; !ok {
			if first {
				b.since[k] = time.Time{}
			} else {
				b.since[k] = now
			}
		}
	}
	for k := range b.since {
		if !v.behind[k] {
			delete(b.since, k)
		}
	}
	b.view = v
}

// settled reports whether a unit of partition k is the owner's at now: it
// was not newly behind, or behindGrace passed since.
func (b *behindWatch) settled(k tp, now time.Time) bool {
	at := b.since[k]
	return at.IsZero() || now.Sub(at) >= behindGrace
}

// unitsOf returns the units (indices into v.all) and those of them owned
// (own: the partitions the process owns): the partitions behind by v,
// except those the process owns and knows caught up; all the partitions
// when none is behind. A unit owned that is newly behind (b) is owned only
// once settled, unless the process owns every partition (alone: no one
// else's calls to wait for). n is len(v.all), 0 when v is nil.
func unitsOf(v *groupView, own map[tp]ownPartition, b *behindWatch, now time.Time) (owned, units []int, n int) {
	if v == nil {
		return nil, nil, 0
	}
	alone := true
	for i, k := range v.all {
		o, mine := own[k]
		alone = alone && mine
		if !v.behind[k] {
			continue
		}
		if mine && o.caughtUp(v.ends[k]) {
			continue
		}
		units = append(units, i)
	}
	if len(units) == 0 {
		units = make([]int, len(v.all))
		for i := range units {
			units[i] = i
		}
	}
	for _, u := range units {
		k := v.all[u]
		if _, ok := own[k]; ok && (alone || b == nil || b.settled(k, now)) {
			owned = append(owned, u)
		}
	}
	return owned, units, len(v.all)
}

// shareLimits keeps the CRM's limits at this process's share until ctx
// ends: at every change of the assignment or of the group's offsets, and
// every shareEvery (turns, partitions caught up).
func (r *Runner) shareLimits(ctx context.Context, crm limitSharer, topics []string) {
	calls, complexWrites := crm.Limits()
	go r.watchGroup(ctx, topics)
	var caught catchUps
	var behind behindWatch
	look := func() {
		own := r.ownPartitions()
		now := time.Now()
		v := r.group.Load()
		behind.note(v, now)
		if v == nil {
			if c := r.topicPartitions.Load(); c != nil {
				v = viewOfCounts(*c)
			}
		}
		owned, units, n := unitsOf(v, own, &behind, now)
		share := shares{shareAt(calls, owned, units, n, now), shareAt(complexWrites, owned, units, n, now)}
		crm.ShareLimits(share.calls, share.complexWrites)
		r.commitCaughtUp(crm, own, share, &caught, now)
	}
	// A process that owns every partition has the whole limit: nothing to
	// reckon again but at the assignment's changes (shareWake), so it
	// looks once a second rather than twenty times.
	paced := func() (time.Duration, bool) {
		look()
		if r.ownsAll(r.group.Load()) {
			return shareAloneEvery, true
		}
		return shareEvery, true
	}
	next, _ := paced()
	pacedOrWoken(ctx, next, r.shareWake, paced)
}

// wakeShare has the share looked at again now (the assignment changed).
func (r *Runner) wakeShare() {
	select {
	case r.shareWake <- struct{}{}:
	default:
	}
}

// ownPartitions is what the process knows of the partitions it owns.
func (r *Runner) ownPartitions() map[tp]ownPartition {
	r.mu.Lock()
	parts := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		if !p.gone.Load() {
			parts = append(parts, p)
		}
	}
	r.mu.Unlock()
	own := make(map[tp]ownPartition, len(parts))
	for _, p := range parts {
		off, _, ok := p.cp.Released()
		if !ok {
			off = -1
		}
		own[p.tp] = ownPartition{released: off, pending: p.cp.Pending(), lso: p.lso.Load()}
	}
	return own
}

// catchUps is what commitCaughtUp keeps across looks.
type catchUps struct {
	since map[tp]time.Time  // when each commit due was first held
	asked map[tp]*groupView // the view under which a commit of each was last asked for
}

// commitCaughtUp has the commit loop commit at once the partitions this
// process caught up and has not committed to their end, and holds those
// commits back until what it has in flight fits its shares without them
// (calls and complex writes alike; at most shareHoldMax): the others see
// the end committed at their next read of the group's offsets and take the
// partition's slots, which must be free by then. A commit is asked for
// once a partition per view of the group's offsets: the commit is for the
// others' next read, and records done meanwhile (live traffic) or a commit
// that failed wait for the next view, not the next look, which would ask
// for tens of commits a second.
func (r *Runner) commitCaughtUp(crm limitSharer, own map[tp]ownPartition, share shares, c *catchUps, now time.Time) {
	v := r.group.Load()
	if v == nil {
		return
	}
	if c.since == nil {
		c.since, c.asked = map[tp]time.Time{}, map[tp]*groupView{}
	}
	var due []tp
	r.mu.Lock()
	for k, o := range own {
		if done, ok := r.committed[k]; v.behind[k] && o.caughtUp(v.ends[k]) && (!ok || done < o.released) {
			due = append(due, k)
		}
	}
	r.mu.Unlock()
	drained := true
	if f, ok := crm.(inFlight); ok && len(due) > 0 {
		drained = share.fits(f.Stats())
	}
	var held map[tp]bool
	ask := false
	for _, k := range due {
		if _, ok := c.since[k]; !ok {
			c.since[k] = now
		}
		if !drained && now.Sub(c.since[k]) < shareHoldMax {
			if held == nil {
				held = map[tp]bool{}
			}
			held[k] = true
			continue
		}
		if c.asked[k] != v {
			c.asked[k], ask = v, true
		}
	}
	for k := range c.since {
		if !slices.Contains(due, k) {
			delete(c.since, k)
			delete(c.asked, k)
		}
	}
	r.heldCommits.Store(&held)
	if ask {
		select {
		case r.commitNow <- struct{}{}:
		default:
		}
	}
}

// committable is the partitions the commit loop commits: every live one
// (nil) but those whose end commitCaughtUp holds back. commit looks again,
// under its lock, whether each is still ours (commitLive).
func (r *Runner) committable() []*partition {
	h := r.heldCommits.Load()
	if h == nil || len(*h) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	parts := []*partition{}
	for k, p := range r.parts {
		if !p.gone.Load() && !(*h)[k] {
			parts = append(parts, p)
		}
	}
	return parts
}

// groupRead is what one read of the group's offsets found: the partition
// counts of the topics (their metadata), each partition's last stable
// offset and the group's committed offset, and which of them could not be
// read.
type groupRead struct {
	counts    map[string]int32 // partitions of each topic that exists
	lso       map[tp]int64     // last stable offsets read
	committed map[tp]int64     // the group's committed offsets (none: nothing committed)
	start     map[tp]int64     // log start offsets, of partitions that look behind
	latest    bool             // kafka.start_offset is latest
	unknown   map[tp]bool      // partitions whose offsets the read could not get
	allFailed bool             // the group's committed offsets could not be read at all
}

// viewOf makes a read a view. Every partition of the topics' metadata is
// in all, whether or not its offsets could be read: the order of the slots
// left over is by index into all, and members must agree on it. A
// partition whose offsets the read could not get (a leader moving:
// NOT_LEADER, OFFSET_NOT_AVAILABLE) keeps its end and state of prev, and
// one prev does not know counts as behind (a unit: its slots come off the
// others', never the other way round). A partition with nothing committed
// is behind when records lie between where the group starts it (its log
// start, or its end with kafka.start_offset latest) and its end.
func viewOf(prev *groupView, rd groupRead) *groupView {
	v := &groupView{all: partitionsOf(rd.counts), ends: map[tp]int64{}, behind: map[tp]bool{}, left: map[tp]int64{}, low: map[tp]int64{}}
	if prev == nil {
		prev = &groupView{} // the first view: nothing known before
	}
	for _, k := range v.all {
		end, ok := rd.lso[k]
		if !ok || rd.unknown[k] || rd.allFailed {
			if slices.Contains(prev.all, k) {
				v.ends[k] = prev.ends[k]
				if prev.behind[k] { // only those behind are in behind: its size paces the reads
					v.behind[k] = true
				}
				if l, ok := prev.left[k]; ok {
					v.left[k] = l
				}
				if l, ok := prev.low[k]; ok {
					v.low[k] = l
				}
			} else {
				v.behind[k] = true
			}
			continue
		}
		v.ends[k] = end
		// Where the group's next read of k starts: its committed offset,
		// or the log start when retention or compaction removed what lay
		// past it (a partition with nothing left to deliver is caught up:
		// no record will come to commit it); with nothing committed, the
		// log start (0 when not read: behind if the partition has
		// records), or the end with start_offset latest.
		from, ok := rd.committed[k]
		switch {
		case ok:
			from = max(from, rd.start[k])
		case rd.latest:
			from = end
		default:
			from = rd.start[k]
		}
		if end > from {
			v.behind[k] = true
			left := end - from
			v.left[k] = left
			if before, ok := prev.left[k]; ok && left < before {
				// A commit moved it on: a low point. A catch-up's low
				// points shrink to the end; steady traffic's stay about
				// its rate times the writes' lag, and never come from
				// above nearEndRecords to below it.
				v.low[k] = left
				if left <= nearEndRecords && prev.low[k] > nearEndRecords {
					v.ending = true
				}
			} else if l, ok := prev.low[k]; ok {
				v.low[k] = l
			}
		}
	}
	return v
}

// groupReads paces the reads of the group's offsets: every groupReadEvery
// while some partition is behind, groupIdleEvery once none is, and after
// failures a back-off doubling up to groupBackoffMax. Once reads have
// failed for groupStaleAfter the view is dropped: the shares fall back to
// the partition counts (every partition a unit), on which members agree
// whatever offsets they last read, rather than freezing on a stale view.
type groupReads struct {
	failures int
	lastOK   time.Time
	// fastUntil: reads come every groupEndingEvery until then, from a
	// view that found a partition ending (groupView.ending).
	fastUntil time.Time
}

const (
	groupBackoffMax = 5 * time.Second
	groupStaleAfter = 5 * time.Second
)

// ok notes a read that succeeded at now and returns the wait before the
// next: v is its view.
func (g *groupReads) ok(v *groupView, now time.Time) time.Duration {
	g.failures, g.lastOK = 0, now
	if v.ending {
		g.fastUntil = now.Add(groupEndingFor)
	}
	switch {
	case len(v.behind) > 0 && now.Before(g.fastUntil):
		return groupEndingEvery
	case len(v.behind) > 0:
		return groupReadEvery
	}
	return groupIdleEvery
}

// failed notes a read that failed at now and returns the wait before the
// next and whether the view is too old to keep.
func (g *groupReads) failed(now time.Time) (wait time.Duration, stale bool) {
	g.failures++
	wait = groupReadEvery
	for i := 1; i < g.failures && wait < groupBackoffMax; i++ {
		wait *= 2
	}
	return min(wait, groupBackoffMax), now.Sub(g.lastOK) >= groupStaleAfter
}

// watchGroup keeps r.group, the group's partitions, their ends and which
// are behind, until ctx ends (groupReads paces it). A failed read is
// logged (once, then as the log folds it) and the view it leaves is kept
// for groupStaleAfter, then dropped for the partition counts.
func (r *Runner) watchGroup(ctx context.Context, topics []string) {
	adm := kadm.NewClient(r.cl)
	g := groupReads{lastOK: time.Now()}
	var starts logStarts
	var warned time.Time
	warn := func(msg string, err error, now time.Time) {
		if now.Sub(warned) >= 30*time.Second {
			r.log.Warn(msg, "err", err)
			warned = now
		}
	}
	wokeAt := time.Now()
	for {
		v, err := r.readGroup(ctx, adm, topics, &starts)
		now := time.Now()
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case v != nil:
			if err != nil {
				warn("some of the group's offsets could not be read: those partitions keep their last state in the Zoho limit shares", err, now)
			} else if g.failures > 0 {
				r.log.Info("the group's offsets are read again: Zoho limit shares follow them", "failed_reads", g.failures)
				warned = time.Time{}
			}
			wait = g.ok(v, now)
			if r.ownsAll(v) && now.Sub(wokeAt) >= aloneAfterWake {
				wait = groupAloneEvery
			}
		default:
			var stale bool
			wait, stale = g.failed(now)
			warn("cannot read the group's offsets: Zoho limit shares follow the last ones read, and after a few seconds the partition counts", err, now)
			if stale && r.group.Load() != nil {
				r.group.Store(nil)
				r.wakeShare()
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.groupWake:
			wokeAt = time.Now()
		case <-t.C:
		}
		t.Stop()
	}
}

// wakeGroup has the group's offsets read again now (the assignment
// changed).
func (r *Runner) wakeGroup() {
	select {
	case r.groupWake <- struct{}{}:
	default:
	}
}

// ownsAll reports whether the process owns every partition of its topics,
// by v and the topic watch's partition counts (a partition added is not
// owned until assigned).
func (r *Runner) ownsAll(v *groupView) bool {
	if v == nil || len(v.all) == 0 {
		return false
	}
	if c := r.topicPartitions.Load(); c != nil {
		n := 0
		for _, k := range *c {
			n += int(k)
		}
		if n != len(v.all) {
			return false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range v.all {
		if p, ok := r.parts[k]; !ok || p.gone.Load() {
			return false
		}
	}
	return true
}

// logStarts are the log start offsets read of partitions that look behind
// (readGroup), and when they were read.
type logStarts struct {
	at   map[tp]int64
	read time.Time
}

// logStartEvery is how often the log starts of partitions that look
// behind are read again.
const logStartEvery = 10 * time.Second

// readGroup reads the group's offsets into r.group and returns the view.
// A read that got the topics' metadata stores its view (viewOf: what could
// not be read keeps its last state) and returns with it any error met;
// one that did not returns nil and the error, and the last view stands.
func (r *Runner) readGroup(ctx context.Context, adm *kadm.Client, topics []string, starts *logStarts) (*groupView, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tds, err := adm.ListTopics(cctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	rd := groupRead{counts: map[string]int32{}, lso: map[tp]int64{}, committed: map[tp]int64{},
		latest: r.cfg.Kafka.StartOffset == "latest", unknown: map[tp]bool{}}
	for _, td := range tds {
		if td.Err == nil && len(td.Partitions) > 0 {
			rd.counts[td.Topic] = int32(len(td.Partitions))
		}
	}
	if len(rd.counts) == 0 {
		return nil, errors.New("none of the topics exists")
	}
	var errs []error
	// The last stable offsets (read committed): what the consumer reaches.
	// An open transaction's records lie beyond, not behind.
	errs = append(errs, r.listOffsets(cctx, rd.counts, -1, rd.lso, rd.unknown))
	committed, err := adm.FetchOffsets(cctx, r.groupID())
	if err != nil {
		rd.allFailed = true
		errs = append(errs, fmt.Errorf("offset fetch: %w", err))
	}
	committed.Each(func(o kadm.OffsetResponse) {
		k := tp{o.Topic, o.Partition}
		switch {
		case o.Err != nil:
			rd.unknown[k] = true
			errs = append(errs, fmt.Errorf("offset fetch %s/%d: %w", o.Topic, o.Partition, o.Err))
		case o.At >= 0:
			rd.committed[k] = o.At
		}
	})
	if !rd.allFailed {
		// The log starts of the partitions that look behind (nothing
		// committed, or committed short of the end): where the group
		// starts one it never committed, and how far a committed one can
		// be behind once retention or compaction moved its start. Read
		// again only every logStartEvery (they move with retention only).
		fresh := map[string]int32{}
		for k, end := range rd.lso {
			c, committed := rd.committed[k]
			if end > 0 && (committed && c < end || !committed && !rd.latest) {
				if _, known := starts.at[k]; !known || time.Since(starts.read) >= logStartEvery {
					fresh[k.topic] = max(fresh[k.topic], k.part+1)
				}
			}
		}
		if len(fresh) > 0 {
			if starts.at == nil || time.Since(starts.read) >= logStartEvery {
				starts.at, starts.read = map[tp]int64{}, time.Now()
			}
			_ = r.listOffsets(cctx, fresh, -2, starts.at, nil) // not read: from 0
		}
		rd.start = starts.at
	}
	v := viewOf(r.group.Load(), rd)
	r.group.Store(v)
	r.wakeShare()
	return v, errors.Join(errs...)
}

// listOffsets reads the offsets at timestamp (-1: the last stable offset,
// read committed; -2: the log start) of counts' partitions into into, and
// marks unknown those it could not read.
func (r *Runner) listOffsets(ctx context.Context, counts map[string]int32, timestamp int64, into map[tp]int64, unknown map[tp]bool) error {
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = 1
	asked := map[tp]bool{}
	for t, n := range counts {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t
		for p := range n {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, timestamp
			rt.Partitions = append(rt.Partitions, rp)
			asked[tp{t, p}] = true
		}
		req.Topics = append(req.Topics, rt)
	}
	var errs []error
	for _, sh := range r.cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			errs = append(errs, fmt.Errorf("list offsets: %w", sh.Err))
			continue
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				k := tp{t.Topic, p.Partition}
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					errs = append(errs, fmt.Errorf("list offsets %s/%d: %w", t.Topic, p.Partition, e))
					continue
				}
				into[k] = p.Offset
			}
		}
	}
	for k := range asked {
		if _, ok := into[k]; !ok && unknown != nil {
			unknown[k] = true
		}
	}
	return errors.Join(errs...)
}

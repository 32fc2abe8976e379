package connector

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Several processes of one consumer group write to one Zoho org, whose
// limits (calls in flight, writes of more than 10 records in flight) are the
// org's, not a process's. Each process keeps to its share, so that together
// they stay within the limits instead of finding them with 429s.
//
// The share follows the partitions with a backlog: every partition of the
// group's topics whose committed offset is behind its end (all of them when
// none is; sorted by topic and number, "units") gets limit/units slots, and the
// limit%units slots left over go to units in turn, moving on by one every
// shareRotation by the wall clock. A process's share is the sum over the
// partitions it owns (at least 1: see shareAt). As long as every partition has one owner
// the shares add up to the limit exactly, whatever the assignment, and over
// time each partition gets the same slots, so equal work finishes together.
// A share that grows at a turn grows shareGrace later, for the calls of the
// process whose share shrank to finish first. No coordination is needed
// beyond the assignment, the group's committed offsets (which every member
// reads alike, every backlogEvery) and clocks that agree to well under
// shareGrace. Slots follow the backlog, so a process whose partitions are
// caught up leaves its slots to those still behind.
const (
	shareRotation = 5 * time.Second
	shareGrace    = time.Second
	shareEvery    = 100 * time.Millisecond
	backlogEvery  = time.Second
)

// limitSharer is a CRM whose limits can be shared; *zoho.Client is one.
type limitSharer interface {
	Limits() (calls, complexWrites int)
	ShareLimits(calls, complexWrites int)
}

// shareOf is the slots of limit that the units owned (indices into the
// group's units, total of them) get in rotation turn; 0 when none of them
// has a slot this turn (more partitions than slots).
func shareOf(limit int, owned []int, total int, turn int64) int {
	if total <= 0 {
		return limit // the partitions are not known yet: alone
	}
	base, rest := limit/total, limit%total
	n := 0
	for _, u := range owned {
		n += base
		if int((int64(u)-turn)%int64(total)+int64(total))%total < rest {
			n++
		}
	}
	return n
}

// shareAt is the share at time now: the smaller of the shares of now's turn
// and of the turn shareGrace ago, and at least 1 (a process whose
// partitions have no slot this turn still writes, one call at a time: with
// more partitions than slots the shares may then add up to a little more
// than the limit, and the client's back-off on 429 takes the rest).
func shareAt(limit int, owned []int, total int, now time.Time) int {
	turn := func(t time.Time) int64 { return t.UnixNano() / int64(shareRotation) }
	return max(min(shareOf(limit, owned, total, turn(now)), shareOf(limit, owned, total, turn(now.Add(-shareGrace)))), 1)
}

// shareLimits keeps the CRM's limits at this process's share until ctx ends.
func (r *Runner) shareLimits(ctx context.Context, crm limitSharer) {
	calls, complexWrites := crm.Limits()
	go r.watchBacklog(ctx)
	share := func() bool {
		owned, total := r.units()
		now := time.Now()
		crm.ShareLimits(shareAt(calls, owned, total, now), shareAt(complexWrites, owned, total, now))
		return true
	}
	share()
	every(ctx, shareEvery, share)
}

// watchBacklog keeps r.backlog, the group's partitions whose committed
// offset is behind their end, until ctx ends.
func (r *Runner) watchBacklog(ctx context.Context) {
	adm := kadm.NewClient(r.cl)
	every(ctx, backlogEvery, func() bool {
		counts := r.topicPartitions.Load()
		if counts == nil || len(*counts) == 0 {
			return true
		}
		topics := make([]string, 0, len(*counts))
		for t := range *counts {
			topics = append(topics, t)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ends, err := adm.ListEndOffsets(cctx, topics...)
		var committed kadm.OffsetResponses
		if err == nil {
			committed, err = adm.FetchOffsets(cctx, r.groupID())
		}
		cancel()
		if err != nil {
			return true // the last backlog known stands
		}
		behind := map[tp]bool{}
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(o.Topic, o.Partition)
			// A transactional topic ends with a marker no record stands
			// for: a partition committed up to just before it is caught up.
			if o.Err == nil && o.Offset > 0 && (!ok || (c.Err == nil && c.At < o.Offset-1)) {
				behind[tp{o.Topic, o.Partition}] = true
			}
		})
		r.backlog.Store(&behind)
		return true
	})
}

// units returns the indices of the partitions this process owns among the
// group's units (its partitions with a backlog, or all of them when none
// has one), sorted by topic and partition, and how many units there are (0
// while the topics' partitions are not known).
func (r *Runner) units() (owned []int, total int) {
	counts := r.topicPartitions.Load()
	if counts == nil {
		return nil, 0
	}
	var all []tp
	for t, n := range *counts {
		for p := range n {
			all = append(all, tp{t, p})
		}
	}
	if b := r.backlog.Load(); b != nil && len(*b) > 0 {
		all = slices.DeleteFunc(all, func(k tp) bool { return !(*b)[k] })
	}
	slices.SortFunc(all, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range all {
		if p, ok := r.parts[k]; ok && !p.gone.Load() {
			owned = append(owned, i)
		}
	}
	return owned, len(all)
}

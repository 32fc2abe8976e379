package connector

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"time"

	"zohosink/schema"
	"zohosink/zoho"
)

// entry is the latest change of one key waiting to be written, with the
// earlier changes of that key it replaced.
type entry struct {
	key       string // topic + NUL + the row key
	act       action
	rec       zoho.Record
	match     []string // match_on values, in order
	in        inRecord // the record whose state this is
	op        schema.Op
	collapsed places // earlier records of the key superseded by this one, in in.part
	since     time.Time
	id        string // the Zoho id when known before the write (cache)
	fp        uint64 // fingerprint of rec, for upserts, inserts and updates
	slim      bool   // rec was dropped while waiting, to save memory: mapped again before the write (remap)
	removed   bool   // launched, replaced or revoked: ignore when met in the queue
	pending   bool   // the batcher's pending entry of its key (batcher.pending holds it)

	// The hashes of the key (keyHash) and of its normalised match values
	// (matchHash): the batcher's sets of keys and match values in flight hold
	// these, and the key cache finds the key by its hash.
	keyHash     uint64
	matchHashes hashList
}

// hashList are an entry's hashes of its match values: two held inline
// (most syncs match on one field), more in a slice.
type hashList struct {
	n    uint8
	a    [2]uint64
	more []uint64
}

func (m *hashList) add(h uint64) {
	switch {
	case m.more != nil:
		m.more = append(m.more, h)
	case int(m.n) < len(m.a):
		m.a[m.n] = h
		m.n++
	default:
		m.more = append(append(make([]uint64, 0, 2*len(m.a)), m.a[:]...), h)
	}
}

// all returns the hashes, in the order added.
func (m *hashList) all() []uint64 {
	if m.more != nil {
		return m.more
	}
	return m.a[:m.n]
}

// The process's seeds of the hashes of row keys and of match values: one
// for both the batcher and the key cache, so a record's key is hashed once.
var keySeed, matchSeed = maphash.MakeSeed(), maphash.MakeSeed()

// keyHash is the hash of a row key.
func keyHash(key string) uint64 { return maphash.String(keySeed, key) }

// matchHash is the hash of a normalised match value: prefix (the lowered
// "field=") and strings.ToLower(v), without building the string.
func matchHash(prefix, v string) uint64 {
	var h maphash.Hash
	h.SetSeed(matchSeed)
	h.WriteString(prefix)
	h.WriteString(strings.ToLower(v))
	return h.Sum64()
}

// places are the offsets of the records a key's later changes superseded,
// in the partition of the entry that holds them: only their places are
// kept (not the records: their memory is freed), to mark them done when
// the write that superseded them is. Offsets only grow, so each is kept as
// a varint of its distance from the one before: a byte to three each, so
// that a backlog of a million changes over few keys holds a few megabytes
// of places, not tens.
type places struct {
	n    int    // how many
	last int64  // the last offset added
	buf  []byte // uvarint distances, the first from offset 0
}

// add appends off, greater than every offset in p, and returns how many
// bytes p's buffer grew by (its capacity: what it holds in memory).
func (p *places) add(off int64) (grew int64) {
	c := cap(p.buf)
	p.buf = binary.AppendUvarint(p.buf, uint64(off-p.last))
	p.last = off
	p.n++
	return int64(cap(p.buf) - c)
}

// each calls fn with every offset in p, in order.
func (p *places) each(fn func(off int64)) {
	var off int64
	for b := p.buf; len(b) > 0; {
		d, n := binary.Uvarint(b)
		off += int64(d)
		b = b[n:]
		fn(off)
	}
}

// size is the memory p's buffer holds.
func (p *places) size() int64 { return int64(cap(p.buf)) }

// batch is one Zoho write call's worth of entries of one action.
type batch struct {
	act     action
	entries []*entry
	types   map[string]*zoho.Field // the field types when it was made: the loop may get new ones meanwhile
	mapper  *mapper                // the mapper then, for slim entries (syncWorker.remap)
}

// batcher decides which changes are written together and when. It owns the
// entries waiting to be written and the keys and match values of the
// batches in flight, and does no I/O: the sync's loop adds entries, asks
// for the batches that are due, writes them, and reports them done.
//
// Its rules, which the tests in batch_test.go pin down:
//
//   - Collapse: a change of a key replaces the key's waiting change of the
//     same action; the replaced records ride along (entry.collapsed) and are
//     done when the write that superseded them is. Changes of different
//     actions (an upsert, then an untag) are all written, in order.
//   - Order: a batch takes entries in arrival order. An entry waits while
//     its key or one of its match values is in flight, or belongs to an
//     earlier waiting entry of any action: the writes of one key, and of one
//     match value, reach Zoho in the order their changes happened, and no
//     batch holds a key or a match value twice.
//   - Size and linger: a batch goes when it holds size entries, or when its
//     oldest entry has waited linger.
//   - Backlog: while the sync is behind (records of its partitions are still
//     to be read) and memory is not tight, nothing goes, full or not, but
//     entries that waited maxDefer: a key's later changes, coming, replace
//     its waiting one, so a backlog costs about one write a key rather than
//     one a change. When memory is tight (near kafka.max_buffered_bytes, or
//     fetching paused), or once the sync read up to the end it saw, size
//     and linger rule again: what waits longest goes first, memory frees,
//     reading goes on.
//   - At most maxInflight batches are in flight.
//   - Revokes: entries of a gone partition are dropped (their records are
//     not done; the partition's next owner consumes them again).
//
// Not safe for concurrent use: the sync's loop goroutine owns it.
type batcher struct {
	size        int
	linger      time.Duration
	maxInflight int
	maxDefer    time.Duration // the longest a change waits while the sync is behind

	// Set by the sync before next: whether records of its partitions are
	// still to be read (behind), and whether memory is near its bound or
	// fetching paused (tight). Behind and not tight: defer.
	behind, tight bool
	// minSince: no waiting entry arrived before it (a lower bound, exact
	// after a scan), so that deferring costs no scan until maxDefer.
	minSince time.Time

	pending probeTable[*entry] // key -> its waiting entry (exact: a key's changes collapse into it)
	queue   []*entry           // waiting entries in arrival order (with removed ones until compaction)
	head    int                // queue[:head] are removed entries (nil): scans start at head
	counts  [actClearFields + 1]int

	// The keys and match values in flight, and pick's scratch set of those
	// met (kept between calls), hold 64-bit hashes (entry.keyHash,
	// entry.matchHashes), not the strings: a set of integers is smaller and
	// quicker to probe, and a false collision (two keys, or a key and a
	// match value, of one hash: ~2^-64 a pair) only holds an entry back
	// until the other's write is done, never reorders or merges anything.
	inflightSet    hashSet
	reserved       hashSet
	inflight       int
	inflightByPart map[*partition]int
}

// defaultMaxDefer bounds how long a change waits for later changes of its
// key while the sync is behind: a sync never holds a change forever.
const defaultMaxDefer = 30 * time.Second

func newBatcher(size int, linger time.Duration, maxInflight int) *batcher {
	return &batcher{size: size, linger: linger, maxInflight: maxInflight, maxDefer: max(defaultMaxDefer, linger),
		inflightByPart: map[*partition]int{}, pending: probeTable[*entry]{fill: 5}}
}

// add queues e. When the key's waiting entry has the same action, e
// replaces it and takes over its records (and its age, so a key changing
// faster than linger still gets written); the replaced entry's record is
// returned (ok) with how much e's places grew, for the caller to release
// what the record held but its place. Of the replaced entry nothing else is
// kept.
func (b *batcher) add(e *entry) (replaced inRecord, grew int64, ok bool) {
	// Only within a partition: the records a change takes over must be done
	// with it, and a revoke drops a partition's entries whole.
	slot := b.pending.slot(e.key, e.keyHash)
	old := slot.v
	if old != nil {
		old.pending = false
	}
	if old != nil && old.act == e.act && old.in.part == e.in.part {
		b.counts[old.act]--
		e.collapsed = old.collapsed
		grew = e.collapsed.add(old.in.rec.Offset)
		e.since = old.since
		replaced, ok = old.in, true
		// It stays in the queue until compaction: keep only what the queue's
		// walks look at.
		*old = entry{key: old.key, act: old.act, removed: true}
	}
	b.pending.put(slot, e)
	e.pending = true
	b.queue = append(b.queue, e)
	b.counts[e.act]++
	if b.minSince.IsZero() || e.since.Before(b.minSince) {
		b.minSince = e.since
	}
	return replaced, grew, ok
}

// requeue puts an entry whose write was abandoned back at the front of the
// queue, to be written again before any later change of its key (whose
// entry, if one waits, stays the key's pending one for collapses). The sync
// requeues the entries of a batch cancelled because another partition of
// it went away, while their own partition stays: dropping them would leave
// their records never done, and their partition never committed again.
// Call it in reverse arrival order to keep their order.
func (b *batcher) requeue(e *entry) {
	e.removed = false
	if slot := b.pending.slot(e.key, e.keyHash); slot.v == nil {
		b.pending.put(slot, e)
		e.pending = true
	}
	if b.head > 0 {
		b.head--
		b.queue[b.head] = e
	} else {
		b.queue = append([]*entry{e}, b.queue...)
	}
	b.counts[e.act]++
	if b.minSince.IsZero() || e.since.Before(b.minSince) {
		b.minSince = e.since
	}
}

// busy reports whether the key (of hash h, keyHash) has a change waiting
// or in flight: Zoho's state of the key may still change.
func (b *batcher) busy(key string, h uint64) bool {
	return b.pending.get(key, h) != nil || b.inflightSet.has(h)
}

// eachWaiting calls fn with every entry waiting to be written.
func (b *batcher) eachWaiting(fn func(*entry)) {
	for _, e := range b.queue[b.head:] {
		if e != nil && !e.removed {
			fn(e)
		}
	}
}

// waiting counts the entries waiting to be written.
func (b *batcher) waiting() int {
	n := 0
	for _, c := range b.counts {
		n += c
	}
	return n
}

// deferring reports whether next holds back what is not overdue: the sync
// is behind and memory is not tight.
func (b *batcher) deferring() bool { return b.behind && !b.tight }

// next returns the next batch that is due at now, marked in flight, or nil
// and how long until one may be due (time.Hour when nothing waits). Entries
// of gone partitions met on the way are dropped and passed to dropped.
func (b *batcher) next(now time.Time, dropped func(*entry)) (*batch, time.Duration) {
	b.compact()
	var cutoff time.Time // deferring: only entries that arrived by it go
	if b.deferring() {
		if age := now.Sub(b.minSince); b.waiting() == 0 || age < b.maxDefer {
			if b.waiting() == 0 {
				return nil, time.Hour
			}
			return nil, b.maxDefer - age
		}
		cutoff = now.Add(-b.maxDefer)
	}
	wait := time.Hour
	for act := actUpsert; act <= actClearFields; act++ {
		if b.inflight >= b.maxInflight {
			return nil, wait
		}
		if b.counts[act] == 0 {
			continue
		}
		picked, oldest := b.pick(act, cutoff, dropped)
		if len(picked) == 0 {
			continue
		}
		if cutoff.IsZero() && len(picked) < b.size && now.Sub(oldest) < b.linger {
			if d := b.linger - now.Sub(oldest); d < wait {
				wait = max(d, time.Millisecond)
			}
			continue
		}
		bt := &batch{act: act, entries: picked}
		b.start(bt)
		return bt, 0
	}
	if !cutoff.IsZero() {
		// Nothing overdue may go now (none left, or their keys in flight:
		// the write's end wakes the sync): learn when the next will be.
		b.minSince = b.oldestWaiting()
		if d := b.maxDefer - now.Sub(b.minSince); d > 0 && b.waiting() > 0 {
			wait = min(wait, d)
		}
	}
	return nil, wait
}

// oldestWaiting returns the earliest arrival of the waiting entries (zero
// when none waits).
func (b *batcher) oldestWaiting() time.Time {
	var oldest time.Time
	for _, e := range b.queue[b.head:] {
		if !e.removed && (oldest.IsZero() || e.since.Before(oldest)) {
			oldest = e.since
		}
	}
	return oldest
}

// pick gathers up to size entries of one action that may be written now, in
// arrival order, and the time the oldest of them arrived. With a cutoff,
// only entries that arrived at or before it may: the others are passed over like
// entries of another action (their keys and match values hold back later
// entries).
func (b *batcher) pick(act action, cutoff time.Time, dropped func(*entry)) ([]*entry, time.Time) {
	picked := make([]*entry, 0, min(b.size, b.counts[act]))
	var oldest time.Time
	reserved := &b.reserved
	reserved.reset()
	// The removed entries at the front (launched ones, mostly) are passed
	// once, not at every pick.
	for b.head < len(b.queue) && b.queue[b.head].removed {
		b.queue[b.head] = nil
		b.head++
	}
	for _, e := range b.queue[b.head:] {
		if len(picked) == b.size {
			break
		}
		if e.removed {
			continue
		}
		if e.in.part != nil && e.in.part.gone.Load() {
			b.remove(e) // revoked: the next owner writes it
			dropped(e)
			continue
		}
		mh := e.matchHashes.all()
		blocked := e.act != act || (!cutoff.IsZero() && e.since.After(cutoff)) || b.inflightSet.has(e.keyHash) || reserved.has(e.keyHash) ||
			conflict(mh, &b.inflightSet) || conflict(mh, reserved)
		reserved.add(e.keyHash)
		for _, h := range mh {
			reserved.add(h)
		}
		if blocked {
			continue
		}
		picked = append(picked, e)
		if oldest.IsZero() || e.since.Before(oldest) {
			oldest = e.since
		}
	}
	return picked, oldest
}

// start marks a batch's entries in flight.
func (b *batcher) start(bt *batch) {
	for _, e := range bt.entries {
		b.remove(e)
		b.inflightSet.add(e.keyHash)
		for _, h := range e.matchHashes.all() {
			b.inflightSet.add(h)
		}
	}
	b.eachPart(bt, func(p *partition, n int) { b.inflightByPart[p] += n })
	b.inflight++
}

// done releases a batch's keys and match values once its write finished.
func (b *batcher) done(bt *batch) {
	b.inflight--
	for _, e := range bt.entries {
		b.inflightSet.del(e.keyHash)
		for _, h := range e.matchHashes.all() {
			b.inflightSet.del(h)
		}
	}
	b.eachPart(bt, func(p *partition, n int) {
		if b.inflightByPart[p] -= n; b.inflightByPart[p] <= 0 {
			delete(b.inflightByPart, p)
		}
	})
}

// eachPart calls fn with each partition of bt's entries and how many of
// them it has (one call a run of entries of one partition: most batches
// are of one).
func (*batcher) eachPart(bt *batch, fn func(p *partition, n int)) {
	var last *partition
	n := 0
	for _, e := range bt.entries {
		if e.in.part != last {
			if n > 0 {
				fn(last, n)
			}
			last, n = e.in.part, 0
		}
		n++
	}
	if n > 0 {
		fn(last, n)
	}
}

// revoke drops the waiting entries of parts and returns them.
func (b *batcher) revoke(parts map[*partition]bool) []*entry {
	var out []*entry
	for _, e := range b.queue[b.head:] {
		if !e.removed && parts[e.in.part] {
			b.remove(e)
			out = append(out, e)
		}
	}
	return out
}

// writing reports whether a batch in flight holds an entry of p.
func (b *batcher) writing(p *partition) bool { return b.inflightByPart[p] > 0 }

// remove takes a waiting entry out of the queue (launched or dropped).
func (b *batcher) remove(e *entry) {
	e.removed = true
	b.counts[e.act]--
	if e.pending {
		b.pending.del(e)
		e.pending = false
	}
}

// compact drops removed entries from the queue once they are most of it.
func (b *batcher) compact() {
	if len(b.queue) < 64 || b.waiting()*2 > len(b.queue) {
		return
	}
	kept := b.queue[:0]
	for _, e := range b.queue[b.head:] {
		if !e.removed {
			kept = append(kept, e)
		}
	}
	clear(b.queue[len(kept):])
	b.queue = kept
	b.head = 0
}

func conflict(hashes []uint64, set *hashSet) bool {
	for _, h := range hashes {
		if set.has(h) {
			return true
		}
	}
	return false
}

package connector

import (
	"math/bits"
	"sync"
)

// checkpoint tracks the records of one partition from the moment they are
// consumed until they are done, and releases only the highest contiguous
// offset whose records are all done.
//
// A record is done when it was written to Zoho, skipped by the mode table,
// collapsed into a later change of the same key that was itself written, or
// written to the dead-letter topic and acknowledged by Kafka. Records finish
// in any order (batches of different keys run concurrently); the checkpoint
// never moves past a record that is not done, so a commit of Released() can
// never skip an unfinished change, whatever order writes complete in. (One
// exception, of no consequence: a commit of a skip to the log's start,
// skipTo, made before a record below it that was fetched before the log's
// start moved is tracked. That record is no longer in the log: read again,
// it could not be.)
// Offsets never delivered (transaction markers, compacted records) are
// gaps, stepped over once the records around them are done.
//
// It costs two bits per offset between the first record not done and the
// last tracked (a window of a million offsets holds 250 KB), and one entry
// per leader epoch change.
//
// Safe for concurrent use.
type checkpoint struct {
	mu sync.Mutex
	// base is the offset of bit 0 of tracked and done; words before the
	// one holding head are dropped as head moves on.
	base    int64
	tracked []uint64 // bit set: the offset was consumed
	done    []uint64 // bit set: the offset's record is done
	end     int64    // one past the last tracked offset; -1 before the first
	head    int64    // the first tracked offset not known done (end when none)
	epochs  []epochRun
	// released is the next offset to consume after every done record
	// below it: the value to commit. -1 until a record is released.
	released      int64
	releasedEpoch int32
	pending       int // tracked and not done
	window        int // tracked offsets from head on
	// skipped: released instead while nothing waits and it is higher
	// (skipTo); -1 when none.
	skipped int64
}

// epochRun says that offsets from from on were consumed at leader epoch
// epoch (until the next run's from).
type epochRun struct {
	from  int64
	epoch int32
}

func newCheckpoint() *checkpoint {
	return &checkpoint{end: -1, released: -1, releasedEpoch: -1, skipped: -1}
}

func (c *checkpoint) bit(words []uint64, offset int64) bool {
	i := offset - c.base
	return words[i/64]&(1<<(i%64)) != 0
}

func (c *checkpoint) set(words []uint64, offset int64) {
	i := offset - c.base
	words[i/64] |= 1 << (i % 64)
}

// track registers a consumed record and reports whether it is new. Offsets
// must be tracked in increasing order (as a partition is consumed); an
// offset at or below one tracked already is refused (the caller drops the
// record: its first copy is on its way).
func (c *checkpoint) track(offset int64, epoch int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offset < c.end || offset < c.released || offset < 0 {
		return false
	}
	if offset < c.skipped {
		c.skipped = -1
	}
	if c.end < 0 || c.head == c.end {
		// The first record, or everything before was done: the bitmaps start
		// afresh at this record's word, however far the gap (a compacted
		// topic), and this record is the first not done.
		c.base = offset &^ 63
		c.tracked, c.done = shrink(c.tracked[:0]), shrink(c.done[:0])
		c.head = offset
	}
	for need := (offset-c.base)/64 + 1; int64(len(c.tracked)) < need; {
		c.tracked = append(c.tracked, 0)
		c.done = append(c.done, 0)
	}
	c.set(c.tracked, offset)
	c.end = offset + 1
	if n := len(c.epochs); n == 0 || c.epochs[n-1].epoch != epoch {
		c.epochs = append(c.epochs, epochRun{offset, epoch})
	}
	c.pending++
	c.window++
	return true
}

// markDone marks offset done and advances the released offset over every
// contiguous done record. It reports whether offset was tracked and not
// done yet; unknown offsets are ignored (the partition was revoked and
// tracked anew since), and so is a second mark.
func (c *checkpoint) markDone(offset int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offset < c.head || offset >= c.end || !c.bit(c.tracked, offset) || c.bit(c.done, offset) {
		return false
	}
	c.set(c.done, offset)
	c.pending--
	if offset == c.head {
		c.advance()
	}
	return true
}

// advance moves head over done records and gaps to the next tracked record
// not done (or end), releasing the offset after the last done record.
func (c *checkpoint) advance() {
	last := int64(-1)
	for c.head < c.end {
		i := c.head - c.base
		w, b := i/64, uint(i%64)
		// Offsets of this word from head on that are tracked but not done.
		open := (c.tracked[w] &^ c.done[w]) >> b
		doneHere := (c.tracked[w] & c.done[w]) >> b
		if open != 0 {
			n := int64(bits.TrailingZeros64(open))
			if below := doneHere & (1<<n - 1); below != 0 {
				last = c.head + int64(63-bits.LeadingZeros64(below))
				c.window -= bits.OnesCount64(below)
			}
			c.head += n
			break
		}
		if doneHere != 0 {
			last = c.head + int64(63-bits.LeadingZeros64(doneHere))
			c.window -= bits.OnesCount64(doneHere)
		}
		c.head += 64 - int64(b)
	}
	if c.head > c.end {
		c.head = c.end
	}
	if last >= 0 {
		c.released = last + 1
		c.releasedEpoch = c.epochAt(last)
	}
	c.compact()
}

// epochAt returns the leader epoch offset was consumed at.
func (c *checkpoint) epochAt(offset int64) int32 {
	e := int32(-1)
	for _, r := range c.epochs {
		if r.from > offset {
			break
		}
		e = r.epoch
	}
	return e
}

// compact drops the bitmap words and epoch runs before head's, once they
// are many: memory follows the window, not the partition's history.
func (c *checkpoint) compact() {
	drop := (c.head - c.base) / 64
	if drop < 1024 || int(drop)*2 < len(c.tracked) {
		return
	}
	n := copy(c.tracked, c.tracked[drop:])
	copy(c.done, c.done[drop:])
	c.tracked, c.done = shrink(c.tracked[:n]), shrink(c.done[:n])
	c.base += drop * 64
	keep := 0
	for i, r := range c.epochs {
		if r.from <= c.base {
			keep = i // the run that covers base stays
		}
	}
	c.epochs = append(c.epochs[:0], c.epochs[keep:]...)
}

// skipTo has Released give offset while no record waits and offset is past
// the released one, if no record was tracked yet: it reports whether it
// did. The offsets below offset are gone from the log unread
// (Runner.checkGone), and the group's commit moves past them. Its leader
// epoch is unknown (-1). A record below offset tracked later (fetched
// before the log's start moved) cancels the skip, and is delivered; a
// commit of the skip made before stays.
func (c *checkpoint) skipTo(offset int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end >= 0 || offset <= c.released {
		return false
	}
	c.skipped = offset
	return true
}

// Released returns the offset to commit (the first offset not known done)
// and its leader epoch; ok is false while nothing was released.
func (c *checkpoint) Released() (offset int64, epoch int32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == 0 && c.skipped > c.released {
		return c.skipped, -1, true
	}
	return c.released, c.releasedEpoch, c.released >= 0
}

// Position returns the first offset not known done: the first tracked
// record not done, else the released offset. ok is false before any record
// was tracked.
func (c *checkpoint) Position() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head < c.end {
		return c.head, true
	}
	return c.released, c.released >= 0
}

// Next returns the offset after the last tracked record: where the
// partition's next record is expected. ok is false before any record was
// tracked.
func (c *checkpoint) Next() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end, c.end >= 0
}

// Window returns how many tracked records lie from the first record not
// done to the last one tracked.
func (c *checkpoint) Window() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.window
}

// Pending returns how many tracked records are not done yet.
func (c *checkpoint) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

// shrink returns words in an array of about its length when the one it is
// in is much larger: a window that was once large does not keep its
// memory.
func shrink(words []uint64) []uint64 {
	if cap(words) <= 4*len(words)+1024 {
		return words
	}
	return append(make([]uint64, 0, 2*len(words)+64), words...)
}

package connector

import (
	"sort"
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
// never skip an unfinished change, whatever order writes complete in.
//
// Safe for concurrent use.
type checkpoint struct {
	mu sync.Mutex
	// offsets holds, in increasing order, every tracked offset at or after
	// head; done[i] says whether offsets[i] is done.
	offsets []int64
	done    []bool
	epochs  []int32
	head    int
	// released is the next offset to consume after every done record
	// below it: the value to commit. -1 until a record is released.
	released      int64
	releasedEpoch int32
	pending       int // tracked and not done
}

func newCheckpoint() *checkpoint { return &checkpoint{released: -1, releasedEpoch: -1} }

// track registers a consumed record and reports whether it is new. Offsets
// must be tracked in increasing order (as a partition is consumed); an
// offset at or below one tracked already is refused (the caller drops the
// record: its first copy is on its way).
func (c *checkpoint) track(offset int64, epoch int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.offsets); (n > 0 && c.offsets[n-1] >= offset) || (c.released > offset) {
		return false
	}
	c.offsets = append(c.offsets, offset)
	c.done = append(c.done, false)
	c.epochs = append(c.epochs, epoch)
	c.pending++
	return true
}

// markDone marks offset done and advances the released offset over every
// contiguous done record. Unknown offsets are ignored (the partition was
// revoked and tracked anew since).
func (c *checkpoint) markDone(offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.offsets[c.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= offset })
	if i == len(live) || live[i] != offset || c.done[c.head+i] {
		return
	}
	c.done[c.head+i] = true
	c.pending--
	for c.head < len(c.offsets) && c.done[c.head] {
		c.released = c.offsets[c.head] + 1
		c.releasedEpoch = c.epochs[c.head]
		c.head++
	}
	// Compact once the consumed prefix dominates, keeping appends amortised O(1).
	if c.head > 1024 && c.head*2 > len(c.offsets) {
		n := copy(c.offsets, c.offsets[c.head:])
		copy(c.done, c.done[c.head:])
		copy(c.epochs, c.epochs[c.head:])
		c.offsets, c.done, c.epochs = c.offsets[:n], c.done[:n], c.epochs[:n]
		c.head = 0
	}
}

// Released returns the offset to commit (the first offset not known done)
// and its leader epoch; ok is false while nothing was released.
func (c *checkpoint) Released() (offset int64, epoch int32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.released, c.releasedEpoch, c.released >= 0
}

// Position returns the first offset not known done: the released offset, or
// the first tracked offset while nothing is released. ok is false before any
// record was tracked.
func (c *checkpoint) Position() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head < len(c.offsets) {
		return c.offsets[c.head], true
	}
	return c.released, c.released >= 0
}

// Window returns how many offsets lie between the first record not done and
// the last one tracked: what back-pressure bounds, so that one record that
// never finishes cannot let the others pile up behind it.
func (c *checkpoint) Window() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.offsets) - c.head
}

// Pending returns how many tracked records are not done yet.
func (c *checkpoint) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

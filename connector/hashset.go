package connector

// hashSet is a multiset of 64-bit hashes (the batcher's in-flight and
// reserved keys): open addressing with linear probing, deletion by
// backward shift (no tombstones, so a set that sees a write's keys come
// and go stays as quick to probe as a fresh one). The hashes are
// maphash's, already well mixed: their low bits place them.
//
// The zero value is an empty set.
type hashSet struct {
	slots []hashSlot
	n     int // slots in use
}

type hashSlot struct {
	h uint64
	n uint32 // how many times h was added and not deleted; 0: empty
}

const hashSetMin = 64

func (s *hashSet) has(h uint64) bool {
	if s.n == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch sl := &s.slots[i]; {
		case sl.n == 0:
			return false
		case sl.h == h:
			return true
		}
	}
}

func (s *hashSet) add(h uint64) {
	if (s.n+1)*2 > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.n == 0 {
			*sl = hashSlot{h: h, n: 1}
			s.n++
			return
		}
		if sl.h == h {
			sl.n++
			return
		}
	}
}

// del takes away one addition of h (none when h is absent).
func (s *hashSet) del(h uint64) {
	if s.n == 0 {
		return
	}
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.n == 0 {
			return
		}
		if sl.h == h {
			if sl.n--; sl.n > 0 {
				return
			}
			break
		}
	}
	// Shift back the slots after i that probed past it, so no probe stops
	// early at the hole.
	for j := (i + 1) & mask; s.slots[j].n != 0; j = (j + 1) & mask {
		home := s.slots[j].h & mask
		// j's element may move to i unless its home lies cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = hashSlot{}
	s.n--
}

// reset empties the set, keeping its room unless that is far more than it
// held.
func (s *hashSet) reset() {
	if len(s.slots) > hashSetMin && s.n*8 < len(s.slots) {
		s.slots = make([]hashSlot, max(hashSetMin, ceilPow2(s.n*2)))
	} else {
		clear(s.slots)
	}
	s.n = 0
}

func (s *hashSet) grow() {
	old := s.slots
	s.slots = make([]hashSlot, max(hashSetMin, 2*len(old)))
	s.n = 0
	mask := uint64(len(s.slots) - 1)
	for _, sl := range old {
		if sl.n == 0 {
			continue
		}
		i := sl.h & mask
		for s.slots[i].n != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = sl
		s.n++
	}
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// pendingTable maps keys to their pending entries (the batcher's pending
// set: exact, since a key's changes collapse into its entry), found by the
// hash of the key the entry holds (entry.keyHash): open addressing with
// linear probing, keys of one hash side by side, deletion by backward
// shift. Adding a key's entry and removing it cost one probe each, with no
// hashing of the key's text beyond the batcher's own.
type pendingTable struct {
	slots []pendingSlot
	n     int
}

type pendingSlot struct {
	h uint64
	e *entry // nil: empty
}

// slot returns the slot of key (hash h): its entry's, or the empty one
// where an entry of key goes, after making room for one more. Fill an empty
// slot with put.
func (t *pendingTable) slot(key string, h uint64) *pendingSlot {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil || s.h == h && s.e.key == key {
			return s
		}
	}
}

// put sets s, a slot slot returned, to e.
func (t *pendingTable) put(s *pendingSlot, e *entry) {
	if s.e == nil {
		t.n++
	}
	*s = pendingSlot{h: e.keyHash, e: e}
}

// get returns key's entry (hash h), or nil.
func (t *pendingTable) get(key string, h uint64) *entry {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil || s.h == h && s.e.key == key {
			return s.e
		}
	}
}

// del removes e, if it is in t.
func (t *pendingTable) del(e *entry) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := e.keyHash & mask
	for ; t.slots[i].e != e; i = (i + 1) & mask {
		if t.slots[i].e == nil {
			return
		}
	}
	for j := (i + 1) & mask; t.slots[j].e != nil; j = (j + 1) & mask {
		if home := t.slots[j].h & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = pendingSlot{}
	t.n--
}

func (t *pendingTable) grow() {
	old := t.slots
	t.slots = make([]pendingSlot, max(hashSetMin, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.e == nil {
			continue
		}
		i := s.h & mask
		for t.slots[i].e != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// nodeTable finds the key cache's nodes by the hash of their key
// (cacheNode.hash), as pendingTable finds entries: keys of one hash side by
// side, each found exactly. It grows at 70% full (so 23–46 bytes a key:
// the cache counts 48 in entryOverhead); a probe of a random place in it
// reads a cache line or two, against the three or four (its directory,
// table, control word and slot) of a Go map that large.
type nodeTable struct {
	slots []nodeSlot
	n     int
}

type nodeSlot struct {
	h uint64
	n *cacheNode // nil: empty
}

// slot returns the slot of key (hash h): its node's, or the empty one
// where a node of key goes, after making room for one more. Fill an empty
// slot with put before any other call.
func (t *nodeTable) slot(key string, h uint64) *nodeSlot {
	if (t.n+1)*10 > len(t.slots)*7 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.n == nil || s.h == h && s.n.key == key {
			return s
		}
	}
}

// put sets s, an empty slot slot returned, to n.
func (t *nodeTable) put(s *nodeSlot, n *cacheNode) {
	*s = nodeSlot{h: n.hash, n: n}
	t.n++
}

// get returns key's node (hash h), or nil.
func (t *nodeTable) get(key string, h uint64) *cacheNode {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.n == nil || s.h == h && s.n.key == key {
			return s.n
		}
	}
}

// del removes n, if it is in t.
func (t *nodeTable) del(n *cacheNode) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := n.hash & mask
	for ; t.slots[i].n != n; i = (i + 1) & mask {
		if t.slots[i].n == nil {
			return
		}
	}
	for j := (i + 1) & mask; t.slots[j].n != nil; j = (j + 1) & mask {
		if home := t.slots[j].h & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nodeSlot{}
	t.n--
}

func (t *nodeTable) grow() {
	old := t.slots
	t.slots = make([]nodeSlot, max(hashSetMin, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.n == nil {
			continue
		}
		i := s.h & mask
		for t.slots[i].n != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

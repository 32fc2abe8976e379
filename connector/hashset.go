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

// probeTable finds values by their key, exactly, through the 64-bit hash
// of the key they hold: open addressing with linear probing, keys of one
// hash side by side, deletion by backward shift. The batcher's pending
// entries (where a key's changes collapse) and the key cache's nodes live
// in one: finding, adding or removing a value costs one probe, and a probe
// of a random place in a large table reads a cache line or two, against
// the three or four (directory, table, control word, slot) of a Go map that
// large.
type probeTable[T keyed] struct {
	slots []probeSlot[T]
	n     int
	// fill is how many tenths of the slots may be taken before the table
	// doubles: 5 for speed (the batcher's), 7 for room (the cache's, whose
	// bytes per key count against memory: 23–46 at 7).
	fill int
}

// keyed is what a probeTable holds: a pointer whose value holds its key
// and the key's hash.
type keyed interface {
	comparable
	tableKey() (key string, hash uint64)
}

type probeSlot[T keyed] struct {
	h uint64
	v T // zero: empty
}

func (e *entry) tableKey() (string, uint64)     { return e.key, e.keyHash }
func (n *cacheNode) tableKey() (string, uint64) { return n.key, n.hash }

// slot returns the slot of key (hash h): its value's, or the empty one
// where a value of key goes, after making room for one more. Fill an empty
// slot with put before any other call.
func (t *probeTable[T]) slot(key string, h uint64) *probeSlot[T] {
	if (t.n+1)*10 > len(t.slots)*max(t.fill, 5) {
		t.grow()
	}
	var empty T
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == empty || s.h == h && s.key() == key {
			return s
		}
	}
}

func (s *probeSlot[T]) key() string {
	k, _ := s.v.tableKey()
	return k
}

// put sets s, a slot slot returned, to v.
func (t *probeTable[T]) put(s *probeSlot[T], v T) {
	var empty T
	if s.v == empty {
		t.n++
	}
	_, h := v.tableKey()
	*s = probeSlot[T]{h: h, v: v}
}

// get returns key's value (hash h), or the zero T.
func (t *probeTable[T]) get(key string, h uint64) T {
	var empty T
	if t.n == 0 {
		return empty
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == empty || s.h == h && s.key() == key {
			return s.v
		}
	}
}

// del removes v, if it is in t.
func (t *probeTable[T]) del(v T) {
	var empty T
	if t.n == 0 {
		return
	}
	_, h := v.tableKey()
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for ; t.slots[i].v != v; i = (i + 1) & mask {
		if t.slots[i].v == empty {
			return
		}
	}
	// Shift back the slots after i that probed past it, so no probe stops
	// early at the hole.
	for j := (i + 1) & mask; t.slots[j].v != empty; j = (j + 1) & mask {
		if home := t.slots[j].h & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = probeSlot[T]{}
	t.n--
}

func (t *probeTable[T]) grow() {
	var empty T
	old := t.slots
	t.slots = make([]probeSlot[T], max(hashSetMin, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.v == empty {
			continue
		}
		i := s.h & mask
		for t.slots[i].v != empty {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

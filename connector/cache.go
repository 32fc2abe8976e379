package connector

import (
	"sync"
)

// keyCache remembers, per row key, what the syncs learned from Zoho: the
// record's id (so a later removal needs no COQL look-up) and the
// fingerprint of the last state Zoho accepted (so an update that changes
// nothing costs nothing). It is one cache for the whole process, bounded in
// bytes: when full it forgets the least recently used keys, so a key that
// is busy keeps what it learned while a flood of new keys passes through.
//
// Keys are the syncs' row keys (topic NUL key), so syncs do not share
// entries. A sync forgets everything it learned at a revoke (another
// member may write its keys meanwhile) by moving to a new generation:
// entries of an older one are never returned, and leave as they grow old.
//
// Safe for concurrent use.
type keyCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	n     int
	// The LRU list runs through the nodes (no list elements of its own to
	// allocate): root.next is the most recently used, root.prev the least.
	root cacheNode
	// t finds a key's node by a 64-bit hash of the key (every written
	// record of a new key looks in it twice, a random place in tens of
	// thousands: see probeTable).
	t probeTable[*cacheNode]
	// spare holds evicted nodes (zeroed) for the next new keys: a full
	// cache that takes new keys allocates none.
	spare []*cacheNode
}

// maxSpare bounds keyCache.spare.
const maxSpare = 128

// cacheNode is one key's facts and its place in the LRU list.
type cacheNode struct {
	keyFacts
	hash       uint64 // of key: its place in keyCache.t
	prev, next *cacheNode
}

// keyFacts is what is known of one key.
type keyFacts struct {
	key   string
	gen   uint64 // the sync's generation when learned
	id    string // the Zoho record's id, "" when unknown
	fp    uint64 // fingerprint of the last state Zoho accepted
	hasFP bool
}

// entryOverhead is the memory of a cache entry beyond the bytes of its key
// and id: the node (the facts' fields, the hash and the list links: 80
// bytes) and its slot in the table of hashes (16 bytes, up to three times
// that with the table's spare room).
const entryOverhead = 128

func (f *keyFacts) size() int64 { return int64(len(f.key)+len(f.id)) + entryOverhead }

func newKeyCache(maxBytes int64) *keyCache {
	c := &keyCache{max: maxBytes, t: probeTable[*cacheNode]{fill: 7}}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

func (c *keyCache) unlink(n *cacheNode) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (c *keyCache) pushFront(n *cacheNode) {
	n.prev, n.next = &c.root, c.root.next
	n.prev.next, n.next.prev = n, n
}

func (c *keyCache) moveToFront(n *cacheNode) {
	if c.root.next != n {
		c.unlink(n)
		c.pushFront(n)
	}
}

// get returns what is known of key in generation gen.
func (c *keyCache) get(key string, gen uint64) (keyFacts, bool) {
	return c.getHashed(key, keyHash(key), gen)
}

// getHashed is get of a key whose hash (keyHash) is h.
func (c *keyCache) getHashed(key string, h, gen uint64) (keyFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.t.get(key, h)
	if n == nil || n.gen != gen {
		return keyFacts{}, false
	}
	c.moveToFront(n)
	return n.keyFacts, true
}

// update changes what is known of key (learned in generation gen): fn gets
// the facts (zero when none, or of an older generation) and changes them.
// A key left with neither id nor fingerprint is forgotten.
func (c *keyCache) update(key string, gen uint64, fn func(*keyFacts)) {
	h := keyHash(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updateLocked(key, h, gen, fn)
}

// learned is what a write taught of one key (keyCache.learn).
type learned struct {
	key  string
	hash uint64 // keyHash(key)
	gone bool   // the record was deleted: nothing is known of it
	id   string // the record's id, when the answer said it
	fp   uint64 // the fingerprint of the state written; 0: none
}

// learn records what one write taught of its keys, in generation gen,
// under one lock: each key's id (when known) and the fingerprint of the
// state written; a deleted record's key is forgotten.
func (c *keyCache) learn(gen uint64, ls []learned) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range ls {
		l := &ls[i]
		c.updateLocked(l.key, l.hash, gen, func(f *keyFacts) {
			if l.gone {
				*f = keyFacts{key: f.key, gen: f.gen}
				return
			}
			if l.id != "" {
				f.id = l.id
			}
			f.fp, f.hasFP = l.fp, l.fp != 0
		})
	}
}

func (c *keyCache) updateLocked(key string, h, gen uint64, fn func(*keyFacts)) {
	slot := c.t.slot(key, h)
	n, ok := slot.v, slot.v != nil
	if ok {
		c.bytes -= n.size()
		if n.gen != gen { // another generation: forgotten
			n.keyFacts = keyFacts{key: key, gen: gen}
		}
	} else if k := len(c.spare); k > 0 {
		n = c.spare[k-1]
		c.spare = c.spare[:k-1]
		n.keyFacts = keyFacts{key: key, gen: gen}
	} else {
		n = &cacheNode{keyFacts: keyFacts{key: key, gen: gen}}
	}
	fn(&n.keyFacts)
	if n.id == "" && !n.hasFP {
		if ok {
			c.unlink(n)
			c.t.del(n)
			c.n--
		}
		return
	}
	c.bytes += n.size()
	if ok {
		c.moveToFront(n)
	} else {
		n.hash = h
		c.t.put(slot, n)
		c.pushFront(n)
		c.n++
	}
	for c.bytes > c.max && c.n > 1 {
		old := c.root.prev
		c.bytes -= old.size()
		c.unlink(old)
		c.t.del(old)
		c.n--
		if len(c.spare) < maxSpare {
			*old = cacheNode{}
			c.spare = append(c.spare, old)
		}
	}
}

// size returns the bytes the cache holds.
func (c *keyCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// len returns how many keys the cache holds.
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

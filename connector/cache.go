package connector

import (
	"hash/maphash"
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
	// m finds a key's node by a 64-bit hash of the key: a map of
	// integers is smaller and quicker to probe than one of strings (every
	// written record of a new key misses in it twice, a random place in
	// tens of thousands). A node whose key differs (a collision, ~2^-64) is
	// taken as absent, or replaced.
	m    map[uint64]*cacheNode
	seed maphash.Seed
}

// cacheNode is one key's facts and its place in the LRU list.
type cacheNode struct {
	keyFacts
	hash       uint64 // of key: its place in keyCache.m
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
// bytes) and its slot in the map of hashes (16 bytes, about twice that
// with the map's spare room).
const entryOverhead = 128

func (f *keyFacts) size() int64 { return int64(len(f.key)+len(f.id)) + entryOverhead }

func newKeyCache(maxBytes int64) *keyCache {
	c := &keyCache{max: maxBytes, m: map[uint64]*cacheNode{}, seed: maphash.MakeSeed()}
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
	h := maphash.String(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[h]
	if !ok || n.gen != gen || n.key != key {
		return keyFacts{}, false
	}
	c.moveToFront(n)
	return n.keyFacts, true
}

// update changes what is known of key (learned in generation gen): fn gets
// the facts (zero when none, or of an older generation) and changes them.
// A key left with neither id nor fingerprint is forgotten.
func (c *keyCache) update(key string, gen uint64, fn func(*keyFacts)) {
	h := maphash.String(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[h]
	if ok {
		c.bytes -= n.size()
		if n.gen != gen || n.key != key { // another generation, or another key of the same hash: forgotten
			n.keyFacts = keyFacts{key: key, gen: gen}
		}
	} else {
		n = &cacheNode{keyFacts: keyFacts{key: key, gen: gen}}
	}
	fn(&n.keyFacts)
	if n.id == "" && !n.hasFP {
		if ok {
			c.unlink(n)
			delete(c.m, h)
			c.n--
		}
		return
	}
	c.bytes += n.size()
	if ok {
		c.moveToFront(n)
	} else {
		n.hash = h
		c.m[h] = n
		c.pushFront(n)
		c.n++
	}
	for c.bytes > c.max && c.n > 1 {
		old := c.root.prev
		c.bytes -= old.size()
		c.unlink(old)
		delete(c.m, old.hash)
		c.n--
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

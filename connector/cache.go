package connector

import (
	"container/list"
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
	ll    *list.List // front: most recently used
	m     map[string]*list.Element
}

// keyFacts is what is known of one key.
type keyFacts struct {
	key   string
	gen   uint64 // the sync's generation when learned
	id    string // the Zoho record's id, "" when unknown
	fp    uint64 // fingerprint of the last state Zoho accepted
	hasFP bool
}

// entryOverhead is the memory of a cache entry beyond its key and id: the
// list element, the map's slot and the facts' fixed fields.
const entryOverhead = 160

func (f *keyFacts) size() int64 { return int64(2*len(f.key)+len(f.id)) + entryOverhead }

func newKeyCache(maxBytes int64) *keyCache {
	return &keyCache{max: maxBytes, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns what is known of key in generation gen.
func (c *keyCache) get(key string, gen uint64) (keyFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return keyFacts{}, false
	}
	f := el.Value.(*keyFacts)
	if f.gen != gen {
		return keyFacts{}, false
	}
	c.ll.MoveToFront(el)
	return *f, true
}

// update changes what is known of key (learned in generation gen): fn gets
// the facts (zero when none, or of an older generation) and changes them.
// A key left with neither id nor fingerprint is forgotten.
func (c *keyCache) update(key string, gen uint64, fn func(*keyFacts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	var f *keyFacts
	if ok {
		f = el.Value.(*keyFacts)
		c.bytes -= f.size()
		if f.gen != gen {
			*f = keyFacts{key: key, gen: gen}
		}
	} else {
		f = &keyFacts{key: key, gen: gen}
	}
	fn(f)
	if f.id == "" && !f.hasFP {
		if ok {
			c.ll.Remove(el)
			delete(c.m, key)
		}
		return
	}
	c.bytes += f.size()
	if ok {
		c.ll.MoveToFront(el)
	} else {
		c.m[key] = c.ll.PushFront(f)
	}
	for c.bytes > c.max && c.ll.Len() > 1 {
		old := c.ll.Back()
		of := old.Value.(*keyFacts)
		c.bytes -= of.size()
		c.ll.Remove(old)
		delete(c.m, of.key)
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
	return c.ll.Len()
}

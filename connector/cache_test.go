package connector

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The cache holds to its bytes by forgetting the least recently used keys,
// not everything at once: a key read often survives a flood of new ones.
func TestKeyCacheEvictsLeastRecentlyUsed(t *testing.T) {
	one := (&keyFacts{key: "t\x00k00000", id: "5725767000000000001"}).size()
	c := newKeyCache(100 * one)
	set := func(k, id string) {
		c.update(k, 1, func(f *keyFacts) { f.id = id; f.fp, f.hasFP = 42, true })
	}
	set("t\x00hot", "5725767000000000000")
	for i := 0; i < 1000; i++ {
		set(fmt.Sprintf("t\x00k%05d", i), "5725767000000000001")
		if _, ok := c.get("t\x00hot", 1); !ok {
			t.Fatalf("the key read after every write was evicted after %d new keys", i)
		}
	}
	if c.size() > 100*one || c.len() < 90 {
		t.Fatalf("%d bytes in %d keys, want at most %d bytes and about 100 keys", c.size(), c.len(), 100*one)
	}
	if _, ok := c.get("t\x00k00000", 1); ok {
		t.Fatal("the oldest key was kept past the budget")
	}
	if f, ok := c.get("t\x00k00999", 1); !ok || f.id != "5725767000000000001" || !f.hasFP || f.fp != 42 {
		t.Fatalf("the newest key: %+v %v", f, ok)
	}
}

// A revoke moves a sync to a new generation: what it learned before is
// never returned again, and a key emptied of facts is forgotten.
func TestKeyCacheGenerationsAndForgetting(t *testing.T) {
	c := newKeyCache(1 << 20)
	c.update("t\x00a", 1, func(f *keyFacts) { f.id = "1" })
	if _, ok := c.get("t\x00a", 2); ok {
		t.Fatal("a fact of generation 1 was returned in generation 2")
	}
	c.update("t\x00a", 2, func(f *keyFacts) { f.fp, f.hasFP = 7, true })
	if f, _ := c.get("t\x00a", 2); f.id != "" || f.fp != 7 {
		t.Fatalf("generation 2 sees %+v: the id of generation 1 leaked", f)
	}
	c.update("t\x00a", 2, func(f *keyFacts) { f.fp, f.hasFP = 0, false })
	if c.len() != 0 || c.size() != 0 {
		t.Fatalf("a key with no facts left is kept: %d keys, %d bytes", c.len(), c.size())
	}
}

// BenchmarkKeyCacheNewKeys measures what a written record of a new key
// costs the cache: the look-up before its write (a miss) and the update
// after it, keys arriving faster than the default budget holds them.
//
//	go test ./connector -run '^$' -bench KeyCache -benchmem
func BenchmarkKeyCacheNewKeys(b *testing.B) {
	keys := benchKeys()
	c := newKeyCache(16 << 20)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		gen := uint64(i / len(keys)) // every round of keys is new
		i++
		if _, ok := c.get(k, gen); ok {
			b.Fatal("a new key is known")
		}
		c.update(k, gen, func(f *keyFacts) { f.id = "5725767000000000001"; f.fp, f.hasFP = 42, true })
	}
}

// Keys are found by a 64-bit hash: two keys of one hash (a collision) are
// each found exactly, and forgetting one leaves the other.
func TestKeyCacheHashCollision(t *testing.T) {
	c := newKeyCache(1 << 20)
	const h = 12345 // a and b given one hash, as a collision would
	c.learn(1, []learned{{key: "t\x00a", hash: h, id: "1", fp: 1}})
	one := c.size()
	if f, ok := c.getHashed("t\x00b", h, 1); ok {
		t.Fatalf("b found as %+v: a's facts under b's hash", f)
	}
	c.learn(1, []learned{{key: "t\x00b", hash: h, id: "2", fp: 2}})
	for _, k := range []struct{ key, id string }{{"t\x00a", "1"}, {"t\x00b", "2"}} {
		if f, ok := c.getHashed(k.key, h, 1); !ok || f.id != k.id || f.key != k.key {
			t.Fatalf("%q = %+v, %v", k.key, f, ok)
		}
	}
	if c.len() != 2 || c.size() != 2*one || c.t.n != 2 {
		t.Fatalf("%d keys, %d bytes, %d in the table after the collision, want 2, %d, 2", c.len(), c.size(), c.t.n, 2*one)
	}
	c.learn(1, []learned{{key: "t\x00b", hash: h, gone: true}})
	if f, ok := c.getHashed("t\x00a", h, 1); !ok || f.id != "1" {
		t.Fatalf("forgetting b lost a: %+v, %v", f, ok)
	}
	c.learn(1, []learned{{key: "t\x00a", hash: h, gone: true}})
	if c.len() != 0 || c.size() != 0 || c.t.n != 0 || c.root.next != &c.root {
		t.Fatalf("forgetting both left %d keys, %d bytes, %d table entries", c.len(), c.size(), c.t.n)
	}
}

// What a write taught lands as the loop's update did: an id when the
// answer gave one (else the one known stays), the fingerprint written (0:
// none), and a deleted record's key forgotten. Evicted nodes taken again
// for new keys keep the counts and the LRU order right.
func TestKeyCacheLearn(t *testing.T) {
	one := (&keyFacts{key: "t\x00k00000", id: "5725767000000000001"}).size()
	c := newKeyCache(10 * one)
	c.update("t\x00a", 1, func(f *keyFacts) { f.id = "1" })
	c.update("t\x00d", 1, func(f *keyFacts) { f.id = "4"; f.fp, f.hasFP = 9, true })
	c.learn(1, []learned{
		{key: "t\x00a", hash: keyHash("t\x00a"), fp: 5},                      // an update: no id in the answer
		{key: "t\x00b", hash: keyHash("t\x00b"), id: "2", fp: 6},             // a new record
		{key: "t\x00d", hash: keyHash("t\x00d"), gone: true, fp: 0},          // deleted
		{key: "t\x00e", hash: keyHash("t\x00e"), id: "", fp: 0, gone: false}, // nothing learned: not kept
	})
	if f, ok := c.get("t\x00a", 1); !ok || f.id != "1" || f.fp != 5 || !f.hasFP {
		t.Fatalf("a = %+v, %v", f, ok)
	}
	if f, ok := c.get("t\x00b", 1); !ok || f.id != "2" || f.fp != 6 || !f.hasFP {
		t.Fatalf("b = %+v, %v", f, ok)
	}
	for _, k := range []string{"t\x00d", "t\x00e"} {
		if f, ok := c.get(k, 1); ok {
			t.Fatalf("%q = %+v, want forgotten", k, f)
		}
	}
	if c.len() != 2 {
		t.Fatalf("%d keys, want 2", c.len())
	}
	// A flood of new keys through a full cache: nodes are taken again.
	for i := range 100 {
		k := fmt.Sprintf("t\x00k%05d", i)
		c.learn(1, []learned{{key: k, hash: keyHash(k), id: "5725767000000000001", fp: uint64(i + 1)}})
		if f, ok := c.get(k, 1); !ok || f.fp != uint64(i+1) || f.key != k {
			t.Fatalf("key %d: %+v, %v", i, f, ok)
		}
	}
	if c.size() > 10*one || c.len() < 9 || c.t.n != c.len() || len(c.spare) == 0 {
		t.Fatalf("%d bytes in %d keys (%d in the map, %d spare nodes), want at most %d bytes, ~10 keys, and spares", c.size(), c.len(), c.t.n, len(c.spare), 10*one)
	}
	n := 0
	for nd := c.root.next; nd != &c.root; nd = nd.next {
		if want := fmt.Sprintf("t\x00k%05d", 99-n); nd.key != want {
			t.Fatalf("LRU position %d holds %q, want %q", n, nd.key, want)
		}
		n++
	}
	if n != c.len() {
		t.Fatalf("the LRU list holds %d nodes, the cache counts %d", n, c.len())
	}
}

// BenchmarkKeyCacheNewKeysBatched is BenchmarkKeyCacheNewKeys as the sync
// does it: the key hashed once, the updates of a write of 100 learned
// under one lock.
func BenchmarkKeyCacheNewKeysBatched(b *testing.B) {
	keys := benchKeys()
	c := newKeyCache(16 << 20)
	ls := make([]learned, 0, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		gen := uint64(i / len(keys)) // every round of keys is new
		i++
		h := keyHash(k)
		if _, ok := c.getHashed(k, h, gen); ok {
			b.Fatal("a new key is known")
		}
		ls = append(ls, learned{key: k, hash: h, id: "5725767000000000001", fp: 42})
		if len(ls) == cap(ls) || i%len(keys) == 0 {
			c.learn(gen, ls)
			ls = ls[:0]
		}
	}
}

// The cache agrees with a map of facts through random learning, look-ups
// and forgetting, with many keys of one hash and hashes crowded onto a
// few places of its table (the budget holds every key: no eviction).
func TestKeyCacheAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := newKeyCache(1 << 30)
	want := map[string]string{} // key -> id
	for step := range 100_000 {
		k := rng.IntN(400)
		key := fmt.Sprintf("t\x00%d", k)
		h := uint64(k%7)<<40 | uint64(k%13)*5 // crowded homes, and 7 keys a hash at least
		switch r := rng.IntN(100); {
		case r < 45:
			id := fmt.Sprint(step + 1)
			c.learn(1, []learned{{key: key, hash: h, id: id, fp: 1}})
			want[key] = id
		case r < 80:
			c.learn(1, []learned{{key: key, hash: h, gone: true}})
			delete(want, key)
		default:
			f, ok := c.getHashed(key, h, 1)
			if id, known := want[key]; ok != known || f.id != id || ok && f.key != key {
				t.Fatalf("step %d: %q = %+v, %v; want id %q, %v", step, key, f, ok, id, known)
			}
		}
		if c.len() != len(want) || c.t.n != len(want) {
			t.Fatalf("step %d: %d keys (%d in the table), want %d", step, c.len(), c.t.n, len(want))
		}
	}
}

// benchKeys are 200,000 keys of the load harness's table.
func benchKeys() []string {
	keys := make([]string, 200_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("wh.public.customers\x00{\"id\":%d}", i)
	}
	return keys
}

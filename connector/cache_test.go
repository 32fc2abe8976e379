package connector

import (
	"fmt"
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
	keys := make([]string, 200_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("wh.public.customers\x00{\"id\":%d}", i)
	}
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

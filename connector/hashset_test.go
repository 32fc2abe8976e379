package connector

import (
	"math/rand/v2"
	"testing"
)

// The hash set agrees with a map of counts through random additions,
// deletions and resets, with hashes crowded onto a few home slots (so that
// probes run long and deletions shift elements back across the wrap).
func TestHashSetAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s hashSet
	want := map[uint64]int{}
	hash := func() uint64 {
		// Few distinct values, whose low bits collide often: 16 homes
		// (some near the table's end) for 200 values.
		v := rng.Uint64N(200)
		return v<<40 | (v%16)*3 + 50
	}
	for step := range 200_000 {
		h := hash()
		switch r := rng.IntN(100); {
		case r < 50:
			s.add(h)
			want[h]++
		case r < 95:
			s.del(h)
			if want[h]--; want[h] <= 0 {
				delete(want, h)
			}
		case r < 96:
			s.reset()
			clear(want)
		default:
			for v := range uint64(200) {
				h := v<<40 | (v%16)*3 + 50
				if got := s.has(h); got != (want[h] > 0) {
					t.Fatalf("step %d: has(%#x) %v, want %v", step, h, got, want[h] > 0)
				}
			}
		}
		if s.n != len(want) {
			t.Fatalf("step %d: %d in the set, want %d", step, s.n, len(want))
		}
	}
	if len(s.slots) > 1024 {
		t.Fatalf("%d slots for at most 200 values", len(s.slots))
	}
}

// The probe table (the batcher's pending entries, the key cache's nodes)
// agrees with a map of keys through random puts, gets and deletions, with
// many keys of one hash (each is still found exactly) and hashes crowded
// onto a few home slots.
func TestProbeTableAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tb := probeTable[*entry]{fill: 5}
	want := map[string]*entry{}
	hashOf := func(k int) uint64 { return uint64(k%5)<<40 | uint64(k%11)*7 + 60 }
	for step := range 200_000 {
		k := rng.IntN(300)
		key := "t\x00" + string(rune('a'+k%26)) + string(rune('a'+k/26))
		h := hashOf(k)
		switch r := rng.IntN(100); {
		case r < 45:
			e := &entry{key: key}
			e.keyHash = h
			s := tb.slot(key, h)
			if s.v != want[key] {
				t.Fatalf("step %d: slot of %q holds %p, want %p", step, key, s.v, want[key])
			}
			tb.put(s, e)
			want[key] = e
		case r < 90:
			if e := want[key]; e != nil {
				tb.del(e)
				delete(want, key)
			} else {
				tb.del(&entry{key: key, keyHash: h}) // not in the table: nothing happens
			}
		default:
			if got := tb.get(key, h); got != want[key] {
				t.Fatalf("step %d: get(%q) %p, want %p", step, key, got, want[key])
			}
		}
		if tb.n != len(want) {
			t.Fatalf("step %d: %d in the table, want %d", step, tb.n, len(want))
		}
	}
	for key, e := range want {
		if got := tb.get(key, e.keyHash); got != e {
			t.Fatalf("get(%q) %p, want %p", key, got, e)
		}
	}
}

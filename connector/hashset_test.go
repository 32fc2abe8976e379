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

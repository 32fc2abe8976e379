package connector

import (
	"math/rand/v2"
	"testing"
)

func TestCheckpointReleasesOnlyContiguousDone(t *testing.T) {
	c := newCheckpoint()
	for _, o := range []int64{10, 11, 12, 13, 15} { // 14 is a transaction marker: never delivered
		c.track(o, 3)
	}
	if _, _, ok := c.Released(); ok {
		t.Fatal("released before anything was done")
	}
	c.markDone(12)
	c.markDone(13)
	if _, _, ok := c.Released(); ok {
		t.Fatal("released past offset 10, which is not done")
	}
	c.markDone(10)
	if off, ep, _ := c.Released(); off != 11 || ep != 3 {
		t.Fatalf("released %d (epoch %d), want 11 (epoch 3)", off, ep)
	}
	c.markDone(11)
	if off, _, _ := c.Released(); off != 14 {
		t.Fatalf("released %d, want 14", off)
	}
	c.markDone(15)
	if off, _, _ := c.Released(); off != 16 {
		t.Fatalf("released %d, want 16 (past the gap at 14)", off)
	}
	if c.Pending() != 0 {
		t.Fatalf("pending %d, want 0", c.Pending())
	}
	c.markDone(15) // twice: no effect
	c.markDone(99) // unknown: no effect
	if c.Pending() != 0 {
		t.Fatalf("pending %d after repeated marks, want 0", c.Pending())
	}
}

// Whatever order records finish in, the released offset is never past a
// record that is not done, and reaches the end once all are.
func TestCheckpointRandomOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		c := newCheckpoint()
		n := 3000 + r.IntN(2000)
		for i := 0; i < n; i++ {
			c.track(int64(i), 0)
		}
		done := make([]bool, n)
		for _, i := range r.Perm(n) {
			c.markDone(int64(i))
			done[i] = true
			off, _, ok := c.Released()
			if !ok {
				continue
			}
			for j := int64(0); j < off; j++ {
				if !done[j] {
					t.Fatalf("round %d: released %d but %d is not done", round, off, j)
				}
			}
			if off < int64(n) && done[off] {
				t.Fatalf("round %d: released %d though %d is done (not maximal)", round, off, off)
			}
		}
		if off, _, _ := c.Released(); off != int64(n) {
			t.Fatalf("round %d: released %d, want %d", round, off, n)
		}
	}
}

func BenchmarkCheckpoint(b *testing.B) {
	c := newCheckpoint()
	for i := 0; i < b.N; i++ {
		c.track(int64(i), 0)
		c.markDone(int64(i))
	}
}

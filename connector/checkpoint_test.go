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

// refCheckpoint is the checkpoint's contract written plainly: every
// tracked offset with its epoch and whether it is done.
type refCheckpoint struct {
	offs   []int64
	epochs []int32
	done   map[int64]bool
}

func (r *refCheckpoint) released() (int64, int32, bool) {
	off, ep, ok := int64(-1), int32(-1), false
	for i, o := range r.offs {
		if !r.done[o] {
			break
		}
		off, ep, ok = o+1, r.epochs[i], true
	}
	return off, ep, ok
}

func (r *refCheckpoint) window() (first int64, n int) {
	first = -1
	for _, o := range r.offs {
		if first < 0 && !r.done[o] {
			first = o
		}
		if first >= 0 {
			n++
		}
	}
	return first, n
}

// Against the plain model, with gaps between offsets (transaction markers,
// compaction), leader epochs changing, and records done in random order:
// the released offset and epoch, the position, the window and the pending
// count are the model's at every step.
func TestCheckpointMatchesTheModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 40; round++ {
		c := newCheckpoint()
		ref := &refCheckpoint{done: map[int64]bool{}}
		off, epoch := int64(r.IntN(1000)), int32(0)
		var order []int64
		for i := 0; i < 2000; i++ {
			if r.IntN(50) == 0 {
				off += int64(r.IntN(200)) // a gap
			}
			if r.IntN(300) == 0 {
				epoch++
			}
			if !c.track(off, epoch) {
				t.Fatalf("round %d: track(%d) refused", round, off)
			}
			ref.offs, ref.epochs = append(ref.offs, off), append(ref.epochs, epoch)
			order = append(order, off)
			off++
		}
		if c.track(off-1, epoch) || c.track(ref.offs[0], 0) {
			t.Fatalf("round %d: an offset tracked twice was taken", round)
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for step, o := range order {
			c.markDone(o)
			ref.done[o] = true
			gotOff, gotEp, gotOK := c.Released()
			wantOff, wantEp, wantOK := ref.released()
			if gotOff != wantOff || gotEp != wantEp || gotOK != wantOK {
				t.Fatalf("round %d step %d: released %d@%d %v, want %d@%d %v", round, step, gotOff, gotEp, gotOK, wantOff, wantEp, wantOK)
			}
			first, n := ref.window()
			if pos, _ := c.Position(); first >= 0 && pos != first {
				t.Fatalf("round %d step %d: position %d, want %d", round, step, pos, first)
			}
			if c.Window() != n || c.Pending() != len(order)-step-1 {
				t.Fatalf("round %d step %d: window %d pending %d, want %d and %d", round, step, c.Window(), c.Pending(), n, len(order)-step-1)
			}
		}
	}
}

// A window of a million offsets costs two bits each, and once the records
// are done the memory follows the window, not the partition's history.
func TestCheckpointWindowOfAMillionIsSmall(t *testing.T) {
	c := newCheckpoint()
	const n = 1_000_000
	for i := int64(0); i < n; i++ {
		c.track(i, 0)
	}
	if words := len(c.tracked) + len(c.done); words > 2*(n/64+1) {
		t.Fatalf("%d bitmap words for %d offsets", words, n)
	}
	for i := int64(1); i < n; i++ {
		c.markDone(i) // all but the first: nothing is released
	}
	if _, _, ok := c.Released(); ok || c.Window() != n {
		t.Fatalf("released past an unfinished record, or window %d", c.Window())
	}
	c.markDone(0)
	if off, _, _ := c.Released(); off != n || c.Window() != 0 {
		t.Fatalf("released %d window %d, want %d and 0", off, c.Window(), n)
	}
	for i := int64(n); i < n+100; i++ {
		c.track(i, 0)
		c.markDone(i)
	}
	if words := len(c.tracked); words > 64 {
		t.Fatalf("%d bitmap words kept after everything was done", words)
	}
}

// A gap after everything was done (a compacted topic) costs nothing: the
// bitmaps start afresh at the next record.
func TestCheckpointFarGapCostsNothing(t *testing.T) {
	c := newCheckpoint()
	c.track(5, 0)
	c.markDone(5)
	c.track(1<<40, 1)
	if words := len(c.tracked) + len(c.done); words > 2 {
		t.Fatalf("%d bitmap words after a gap of 2^40 with nothing open", words)
	}
	if pos, _ := c.Position(); pos != 1<<40 {
		t.Fatalf("position %d", pos)
	}
	c.markDone(1 << 40)
	if off, ep, _ := c.Released(); off != 1<<40+1 || ep != 1 {
		t.Fatalf("released %d@%d", off, ep)
	}
}

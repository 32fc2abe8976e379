package connector

import (
	"testing"
	"time"
)

// Whatever the assignment, the processes' shares add up to the limit in
// every turn (no 429s among them, no slot left idle), and over a full
// rotation every partition gets the same slots.
func TestSharesAddUpToTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		limit       int
		assignments [][]int
	}{
		{"3 processes, 6 partitions", 10, [][]int{{0, 1}, {2, 3}, {4, 5}}},
		{"3 processes, interleaved", 10, [][]int{{0, 3}, {1, 4}, {2, 5}}},
		{"uneven", 10, [][]int{{0, 1, 2, 3, 4}, {5}, {6}}},
		{"one process", 10, [][]int{{0, 1, 2}}},
		{"more partitions than slots", 10, [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14, 15}, {16, 17, 18, 19, 20, 21, 22, 23}}},
		{"edition of 20", 20, [][]int{{0, 1}, {2, 3}, {4, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, a := range tc.assignments {
				total += len(a)
			}
			perUnit := make([]int, total)
			for turn := int64(0); turn < int64(total); turn++ {
				sum := 0
				for _, a := range tc.assignments {
					sum += shareOf(tc.limit, a, total, turn)
				}
				if sum != tc.limit {
					t.Errorf("turn %d: shares add up to %d, want %d", turn, sum, tc.limit)
				}
				for u := range total {
					perUnit[u] += shareOf(tc.limit, []int{u}, total, turn)
				}
			}
			for u, n := range perUnit {
				if n != tc.limit {
					t.Errorf("partition %d got %d slot-turns over %d turns, want %d", u, n, total, tc.limit)
				}
			}
		})
	}
}

// A process owning no partition, or whose partitions get no slot this turn,
// still may write one call at a time; one that knows no partition count yet
// has the whole limit.
func TestShareFloorAndUnknown(t *testing.T) {
	now := time.Unix(0, 0).Add(shareGrace)
	if got := shareAt(10, nil, 6, now); got != 1 {
		t.Errorf("no partitions: %d, want 1", got)
	}
	if got := shareAt(10, []int{20}, 24, now); got != 1 {
		t.Errorf("a partition without a slot this turn: %d, want 1", got)
	}
	if got := shareAt(10, []int{0}, 0, now); got != 10 {
		t.Errorf("partition count unknown: %d, want 10", got)
	}
}

// A share that grows at a turn grows shareGrace later; one that shrinks
// shrinks at once.
func TestShareGrowsAfterTheGrace(t *testing.T) {
	owned, total := []int{0}, 6 // 10 over 6: partition 0 has 2 slots in turns 0, 3, 4, 5 (mod 6), 1 in turns 1 and 2
	at := func(turn int64, plus time.Duration) time.Time {
		return time.Unix(0, turn*int64(shareRotation)).Add(plus)
	}
	if got := shareAt(10, owned, total, at(1, 0)); got != 1 {
		t.Errorf("shrinking turn: %d, want 1 at once", got)
	}
	if got := shareAt(10, owned, total, at(3, shareGrace/2)); got != 1 {
		t.Errorf("growing turn, within the grace: %d, want 1", got)
	}
	if got := shareAt(10, owned, total, at(3, shareGrace)); got != 2 {
		t.Errorf("growing turn, after the grace: %d, want 2", got)
	}
}

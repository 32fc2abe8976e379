package main

import "testing"

// The policy keeps a busy process on Go's default, lowers a calm one to one
// P only after procsCalm calm looks in a row, and raises it at once when one
// P is not enough.
func TestProcsPolicy(t *testing.T) {
	steps := []struct {
		procs int
		cores float64
		want  int
	}{
		{2, 1.4, 2},  // catching up
		{2, 0.2, 2},  // calm, once
		{2, 0.9, 2},  // busy again: the calm run starts over
		{2, 0.1, 2},  // calm, once
		{2, 0.49, 1}, // calm twice in a row: one P
		{1, 0.6, 1},  // one P is enough
		{1, 0.8, 4},  // one P is nearly full: Go's default at once
		{4, 0.3, 4},  // calm once after going up
		{4, 0.3, 1},
	}
	var p procsPolicy
	for i, s := range steps {
		if got := p.next(s.procs, 4, s.cores); got != s.want {
			t.Fatalf("step %d: %d P using %.2f cores: next %d, want %d", i, s.procs, s.cores, got, s.want)
		}
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

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

// adaptProcs itself: one P from the start, Go's default while a goroutine
// keeps that P busy, one P again once it stops; a number in GOMAXPROCS
// turns it off.
func TestAdaptProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.SetDefaultGOMAXPROCS()
	top := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	said := adaptProcs(ctx, log)
	if top == 1 {
		if said != "1" || runtime.GOMAXPROCS(0) != 1 {
			t.Fatalf("one CPU: said %q, GOMAXPROCS %d", said, runtime.GOMAXPROCS(0))
		}
		return
	}
	if want := "1-" + strconv.Itoa(top) + " (adaptive)"; said != want {
		t.Fatalf("said %q, want %q", said, want)
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS %d at the start, want 1", n)
	}
	var stop atomic.Bool
	go func() { // a backlog: one goroutine that never waits
		x := 0
		for !stop.Load() {
			x++
		}
		_ = x
	}()
	waitProcs(t, func(n int) bool { return n > 1 }, "raised while one P is busy")
	stop.Store(true)
	waitProcs(t, func(n int) bool { return n == 1 }, "one P again once calm")

	cancel()
	time.Sleep(50 * time.Millisecond) // the loop, should it be in a look, ends it
	runtime.SetDefaultGOMAXPROCS()
	t.Setenv("GOMAXPROCS", "3")
	if said := adaptProcs(context.Background(), log); said != "3 (GOMAXPROCS)" || runtime.GOMAXPROCS(0) != top {
		t.Errorf("GOMAXPROCS=3: said %q, GOMAXPROCS %d (want the runtime's %d untouched)", said, runtime.GOMAXPROCS(0), top)
	}
	t.Setenv("GOMAXPROCS", "many") // the runtime ignores it, and so must this
	if said := adaptProcs(ctx, log); said == "many (GOMAXPROCS)" {
		t.Errorf("GOMAXPROCS=many taken as set: %q", said)
	}
}

func waitProcs(t *testing.T, ok func(int) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(runtime.GOMAXPROCS(0)) {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS %d: not %s within 10 s", runtime.GOMAXPROCS(0), what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package zoho

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A share lowers the gate's limit at once, never below 1 nor above the
// client's own limit, and a raised share gives the slots back.
func TestGateShare(t *testing.T) {
	g := newGate(10)
	for _, tc := range []struct{ set, limit int }{
		{3, 3}, {0, 1}, {25, 10}, {4, 4}, {10, 10},
	} {
		g.setMax(tc.set)
		if limit, _ := g.stats(); limit != tc.limit {
			t.Errorf("setMax(%d): limit %d, want %d", tc.set, limit, tc.limit)
		}
	}
	// Throttled to 5 under a share of 10, then shared down to 8: the lower
	// limit stays; shared down to 4: 4.
	seen, _ := g.acquire(context.Background())
	g.release(seen, outcomeThrottled)
	g.setMax(8)
	if limit, _ := g.stats(); limit != 5 {
		t.Errorf("throttled to 5, share 8: limit %d, want 5", limit)
	}
	g.setMax(4)
	if limit, _ := g.stats(); limit != 4 {
		t.Errorf("throttled to 5, share 4: limit %d, want 4", limit)
	}
}

// Waiters blocked at a full gate go once the share grows: every slot the
// raise frees, not one.
func TestGateShareWakesWaiters(t *testing.T) {
	g := newGate(10)
	g.setMax(1)
	if _, err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 3)
	for i := range 3 {
		go func() {
			if _, err := g.acquire(context.Background()); err == nil {
				got <- struct{}{}
			}
		}()
		waitWaiters(t, g, i+1)
	}
	g.setMax(4)
	for i := range 3 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 3 waiters went after the share grew from 1 to 4", i)
		}
	}
	if _, inUse := g.stats(); inUse != 4 {
		t.Errorf("%d slots in use, want 4", inUse)
	}
}

// Stats counts the writes of more than 10 records in flight apart from the
// calls: a process sharing the org's limits holds its commits until both
// fit its shares (the complex writes' share binds when the edition allows
// more calls than Zoho's 10 complex writes).
func TestStatsComplexInFlight(t *testing.T) {
	c := &Client{gate: newGate(20), complex: newGate(complexConcurrency), ledger: NewCreditLedger(0, nil)}
	c.creditsRemaining.Store(-1)
	ctx := context.Background()
	for range 3 {
		if _, err := c.complex.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.gate.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.gate.acquire(ctx); err != nil { // a call of 10 records or fewer
		t.Fatal(err)
	}
	if st := c.Stats(); st.InFlight != 4 || st.ComplexInFlight != 3 {
		t.Errorf("in flight %d, complex %d; want 4 and 3", st.InFlight, st.ComplexInFlight)
	}
}

// Calls waiting at a full gate take the freed slots in the order they came,
// and a freed slot goes to one waiter: the others stay asleep.
func TestGateHandsSlotsInOrder(t *testing.T) {
	g, seen := fullGate(t)
	ctx := context.Background()
	order := make(chan int, 3)
	var calls sync.WaitGroup
	for i := range 3 {
		calls.Go(func() {
			s, err := g.acquire(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			g.release(s, outcomeNeutral)
		})
		waitWaiters(t, g, i+1) // the next waiter comes after this one
	}
	g.release(seen, outcomeNeutral)
	for want := range 3 {
		if got := <-order; got != want {
			t.Fatalf("waiter %d took a slot before waiter %d", got, want)
		}
	}
	calls.Wait() // the last waiter's release follows its send
	if _, inUse := g.stats(); inUse != 0 {
		t.Errorf("%d slots in use after every call released its own", inUse)
	}
}

// A waiter whose wait ends (its write canceled) neither holds a slot nor
// loses one: a slot handed to it as it gave up goes on to the next waiter.
func TestGateCanceledWaiterPassesItsSlotOn(t *testing.T) {
	g, _ := fullGate(t)
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	gaveUp := make(chan error)
	go func() {
		_, err := g.acquire(ctx)
		gaveUp <- err
	}()
	waitWaiters(t, g, 1)
	next := make(chan struct{})
	go func() {
		if _, err := g.acquire(bg); err == nil {
			close(next)
		}
	}()
	waitWaiters(t, g, 2)
	// The first waiter's wait ends (its context canceled) and, before it
	// takes the gate's lock to leave, the slot is handed to it: it must pass
	// it on to the second.
	g.mu.Lock()
	cancel()
	time.Sleep(50 * time.Millisecond) // the waiter wakes and blocks on the lock
	g.inUse--                         // the first slot released, as gate.release does
	g.handOnLocked()
	g.mu.Unlock()
	if err := <-gaveUp; err == nil {
		// It saw the slot before its cancellation (the scheduler was
		// slow): then it holds the slot, and the second waiter waits.
		t.Log("the first waiter took the slot before it saw its cancellation")
		g.release(1, outcomeNeutral)
	}
	select {
	case <-next:
	case <-time.After(5 * time.Second):
		t.Fatal("the slot the canceled waiter was handed never reached the next waiter")
	}
	if _, inUse := g.stats(); inUse != 1 {
		t.Errorf("%d slots in use, want 1 (the second waiter's)", inUse)
	}
	// A waiter canceled before any slot freed leaves no trace either.
	ctx2, cancel2 := context.WithCancel(bg)
	go func() {
		_, err := g.acquire(ctx2)
		gaveUp <- err
	}()
	waitWaiters(t, g, 1)
	cancel2()
	if err := <-gaveUp; err == nil {
		t.Fatal("a canceled wait took a slot")
	}
	g.mu.Lock()
	n := len(g.waiters)
	g.mu.Unlock()
	if n != 0 {
		t.Errorf("%d waiters left after the only one gave up", n)
	}
}

// fullGate is a gate of one slot, taken: the limit it was taken at is
// returned for its release.
func fullGate(t *testing.T) (*gate, int) {
	t.Helper()
	g := newGate(1)
	seen, err := g.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g, seen
}

func waitWaiters(t *testing.T, g *gate, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		got := len(g.waiters)
		g.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("never %d waiters at the gate", n)
}

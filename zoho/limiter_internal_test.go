package zoho

import (
	"context"
	"testing"
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

// A waiter blocked at a full gate goes once the share grows.
func TestGateShareWakesWaiters(t *testing.T) {
	g := newGate(10)
	g.setMax(1)
	if _, err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		if _, err := g.acquire(context.Background()); err == nil {
			close(got)
		}
	}()
	g.setMax(2)
	<-got
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

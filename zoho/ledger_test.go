package zoho_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"zohosink/zoho"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestCreditLedgerExactWait(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
	l := zoho.NewCreditLedger(10, clk.Now)
	steps := []struct {
		advance time.Duration
		cost    int
		wait    time.Duration
		used    int
	}{
		{0, 6, 0, 6},
		{time.Hour, 4, 0, 10},
		{time.Hour, 1, 22 * time.Hour, 10},     // the 6 spent at 0h leave at 24h
		{21 * time.Hour, 5, time.Hour, 10},     // 23h: still one hour to go
		{time.Hour, 5, 0, 9},                   // 24h: the 6 left; 4 + 5
		{0, 2, time.Hour, 9},                   // the 4 of 1h leave at 25h
		{2 * time.Hour, 20, 22 * time.Hour, 5}, // above the budget: waits for an empty window
		{22 * time.Hour, 20, 0, 20},
	}
	for i, s := range steps {
		clk.t = clk.t.Add(s.advance)
		if got := l.Reserve(s.cost); got != s.wait {
			t.Errorf("step %d: Reserve(%d) wait = %s, want %s", i, s.cost, got, s.wait)
		}
		if got := l.Used(); got != s.used {
			t.Errorf("step %d: Used = %d, want %d", i, got, s.used)
		}
	}
}

// TestCreditLedgerSimulatedDays drives the ledger for 48 simulated hours
// with more demand than budget: the rolling 24-hour sum never exceeds the
// budget, and throughput comes close to it.
func TestCreditLedgerSimulatedDays(t *testing.T) {
	const budget = 5000
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: start}
	l := zoho.NewCreditLedger(budget, clk.Now)
	rng := rand.New(rand.NewPCG(1, 2))
	type spend struct {
		at   time.Time
		cost int
	}
	var log []spend
	end := start.Add(48 * time.Hour)
	total := 0
	for clk.t.Before(end) {
		cost := 1 + rng.IntN(10)
		for {
			w := l.Reserve(cost)
			if w == 0 {
				break
			}
			if w < 0 {
				t.Fatalf("negative wait %s", w)
			}
			clk.t = clk.t.Add(w)
		}
		log = append(log, spend{clk.t, cost})
		total += cost
		// Check the window ending now.
		sum := 0
		for j := len(log) - 1; j >= 0 && log[j].at.After(clk.t.Add(-24*time.Hour)); j-- {
			sum += log[j].cost
		}
		if sum > budget {
			t.Fatalf("at %s the rolling 24h sum is %d, over the budget %d", clk.t.Sub(start), sum, budget)
		}
		if got := l.Used(); got != sum {
			t.Fatalf("Used = %d, want %d", got, sum)
		}
		clk.t = clk.t.Add(time.Duration(rng.IntN(20)) * time.Second) // demand far above budget
	}
	// Over 48h at most 2 budgets fit; demand was higher, so expect near 2.
	if total < 2*budget*95/100 || total > 2*budget+10 {
		t.Errorf("spent %d credits in 48h, want close to %d", total, 2*budget)
	}
}

func TestCreditLedgerNoBudgetCounts(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
	l := zoho.NewCreditLedger(0, clk.Now)
	for range 100 {
		if w := l.Reserve(10); w != 0 {
			t.Fatalf("wait %s without a budget", w)
		}
	}
	if l.Used() != 1000 {
		t.Errorf("Used = %d, want 1000", l.Used())
	}
	clk.t = clk.t.Add(24 * time.Hour)
	if l.Used() != 0 {
		t.Errorf("Used after 24h = %d, want 0", l.Used())
	}
}

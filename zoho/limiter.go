package zoho

import (
	"context"
	"slices"
	"sync"
	"time"
)

// creditWindow is the rolling window of Zoho's API credit limit.
const creditWindow = 24 * time.Hour

// CreditLedger tracks API credits spent over a rolling 24 hours and, with a
// budget, says how long a call must wait so that the sum over any 24 hours
// stays within it. It is safe for concurrent use.
//
// The Client keeps one; it is exported so that pacing can be checked over a
// simulated day with a clock the caller controls.
type CreditLedger struct {
	budget int
	now    func() time.Time

	mu      sync.Mutex
	entries []creditEntry // in time order
	used    int           // sum of entries
}

type creditEntry struct {
	at   time.Time
	cost int
}

// NewCreditLedger returns a ledger for budget credits per rolling 24 hours
// (0 or less: no budget, the ledger only counts) reading time from now (nil:
// time.Now).
func NewCreditLedger(budget int, now func() time.Time) *CreditLedger {
	if now == nil {
		now = time.Now
	}
	return &CreditLedger{budget: budget, now: now}
}

// Reserve records cost credits as spent now and returns 0 if they fit in the
// budget. Otherwise it records nothing and returns the exact time until
// enough of the oldest spending leaves the window for cost to fit; the caller
// waits that long and calls Reserve again. A cost above the whole budget fits
// only once the window is empty.
func (l *CreditLedger) Reserve(cost int) (wait time.Duration) {
	wait, _ = l.reserve(cost)
	return wait
}

// reserve is Reserve, also returning when the credits were recorded.
func (l *CreditLedger) reserve(cost int) (time.Duration, time.Time) {
	if cost < 0 {
		cost = 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if l.budget > 0 && l.used+cost > l.budget && l.used > 0 {
		// Drop the oldest entries, in order, until cost fits.
		need := l.used + cost - l.budget
		freed := 0
		for _, e := range l.entries {
			freed += e.cost
			if freed >= need || freed == l.used {
				w := e.at.Add(creditWindow).Sub(now)
				if w <= 0 {
					w = time.Nanosecond
				}
				return w, time.Time{}
			}
		}
	}
	l.entries = append(l.entries, creditEntry{at: now, cost: cost})
	l.used += cost
	return 0, now
}

// refund takes back cost credits recorded at at (a call Zoho refused as a
// whole, which it does not charge).
func (l *CreditLedger) refund(at time.Time, cost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.entries) - 1; i >= 0; i-- {
		e := &l.entries[i]
		if e.at.Equal(at) && e.cost >= cost {
			e.cost -= cost
			l.used -= cost
			return
		}
	}
}

// Used returns the credits spent in the 24 hours ending now.
func (l *CreditLedger) Used() int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	return l.used
}

// Budget returns the ledger's budget (0: none).
func (l *CreditLedger) Budget() int { return l.budget }

// prune drops entries that left the window: an entry spent at t counts
// while now < t+24h.
func (l *CreditLedger) prune(now time.Time) {
	cut := now.Add(-creditWindow)
	i := 0
	for i < len(l.entries) && !l.entries[i].at.After(cut) {
		l.used -= l.entries[i].cost
		i++
	}
	if i > 0 {
		l.entries = append(l.entries[:0:0], l.entries[i:]...)
	}
}

// gate is a counting semaphore whose limit adapts to 429 answers: halved
// (never below 1) when Zoho says too many requests, raised by one after a
// run of successes as long as the current limit, up to max. max is the
// client's share of the org's limit (setMax), at most top. Waiters take
// slots in the order they came: a freed slot is handed to the first of them,
// waking that one only (not every waiter to race for it).
type gate struct {
	top int

	mu        sync.Mutex
	max       int
	limit     int
	inUse     int
	successes int
	waiters   []chan int // each gets the limit in force when it is handed a slot
}

func newGate(max int) *gate {
	return &gate{top: max, max: max, limit: max}
}

// setMax makes n (1..top) the most slots in use at once. A lower max lowers
// the limit at once (slots in use are not taken back: they drain); a higher
// one raises a limit that was at the old max to the new one, and lets a
// limit lowered by 429s climb back up to it.
func (g *gate) setMax(n int) {
	n = min(max(n, 1), g.top)
	g.mu.Lock()
	defer g.mu.Unlock()
	if n == g.max {
		return
	}
	if g.limit >= g.max || g.limit > n {
		g.limit = n
	}
	g.max = n
	g.handOnLocked()
}

// acquire takes a slot and returns the limit at the time it was taken.
func (g *gate) acquire(ctx context.Context) (int, error) {
	g.mu.Lock()
	if g.inUse < g.limit && len(g.waiters) == 0 {
		g.inUse++
		l := g.limit
		g.mu.Unlock()
		return l, nil
	}
	ch := make(chan int, 1)
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()
	var err error
	select {
	case l := <-ch:
		return l, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stopOf(ctx):
		err = ErrStopped
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.waiters, ch); i >= 0 {
		g.waiters = slices.Delete(g.waiters, i, i+1)
		return 0, err
	}
	// Handed a slot as the wait ended: pass it on.
	<-ch
	g.inUse--
	g.handOnLocked()
	return 0, err
}

// handOnLocked hands the slots the limit leaves free to the first waiters.
func (g *gate) handOnLocked() {
	for g.inUse < g.limit && len(g.waiters) > 0 {
		ch := g.waiters[0]
		g.waiters[0] = nil
		g.waiters = g.waiters[1:]
		g.inUse++
		ch <- g.limit
	}
	if len(g.waiters) == 0 {
		g.waiters = nil // let the array behind go, rather than creep along it
	}
}

type outcome int

const (
	outcomeNeutral outcome = iota
	outcomeSuccess
	outcomeThrottled
)

// release gives a slot back. A throttled call halves the limit it saw when
// it started, so concurrent 429s of one burst halve it once.
func (g *gate) release(seen int, o outcome) {
	g.mu.Lock()
	g.inUse--
	switch o {
	case outcomeThrottled:
		n := seen / 2
		if n < 1 {
			n = 1
		}
		if n < g.limit {
			g.limit = n
		}
		g.successes = 0
	case outcomeSuccess:
		g.successes++
		if g.limit < g.max && g.successes >= g.limit {
			g.limit++
			g.successes = 0
		}
	}
	g.handOnLocked()
	g.mu.Unlock()
}

func (g *gate) stats() (limit, inUse int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit, g.inUse
}

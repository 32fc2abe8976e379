package zohotest

import (
	"sync"
	"time"
)

// Clock is the simulator's time: token lifetimes, mint limits, grant token
// expiry, rolling credits and record timestamps all follow it. A Clock made
// by NewClock moves only by Advance; the default clock of a Simulator follows
// real time, shifted by whatever Advance added. Safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	manual bool
	t      time.Time     // manual: the current time
	offset time.Duration // real: added to time.Now
}

// NewClock returns a clock that stands at start and moves only by Advance.
func NewClock(start time.Time) *Clock {
	return &Clock{manual: true, t: start}
}

func realClock() *Clock { return &Clock{} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manual {
		return c.t
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manual {
		c.t = c.t.Add(d)
		return
	}
	c.offset += d
}

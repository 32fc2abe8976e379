package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"
)

// Adaptive GOMAXPROCS. A process at Zoho's ceiling spends most of its life
// waiting on calls: about a tenth of a core at 10,000 records a second. With
// more than one P, every answer that arrives wakes a thread, hands goroutines
// across Ps and wakes another thread to steal them; with one P the same work
// costs about a tenth less CPU (BENCHMARKS.md). A process that needs the
// cores (a backlog collapsing in memory, Zoho answering at once) gets them
// back.
const (
	// procsEvery is how often the process's CPU use is read.
	procsEvery = 500 * time.Millisecond
	// procsUp: on one P, at least this much of a core used over a look goes
	// back to Go's default at once.
	procsUp = 0.75
	// procsDown: with more, less than this much of a core over procsCalm
	// looks in a row goes down to one.
	procsDown = 0.5
	procsCalm = 2
)

// procsPolicy decides the next GOMAXPROCS from the CPU used (cores) over the
// last look. calm counts the looks in a row below procsDown.
type procsPolicy struct {
	calm int
}

// next returns the GOMAXPROCS to use after a look that used cores while
// running with procs, given Go's default top.
func (p *procsPolicy) next(procs, top int, cores float64) int {
	if procs == 1 {
		p.calm = 0
		if cores >= procsUp {
			return top
		}
		return 1
	}
	if cores >= procsDown {
		p.calm = 0
		return procs
	}
	p.calm++
	if p.calm < procsCalm {
		return procs
	}
	p.calm = 0
	return 1
}

// adaptProcs runs GOMAXPROCS at one, from the start, while the process uses
// less than half a core, and at Go's default once one P is three-quarters
// full, until ctx ends. Go's default is the machine's CPUs or, under a
// container's CPU limit, that limit rounded up (and at least 2). It does
// nothing when GOMAXPROCS in the environment is a number (which the
// runtime uses), when the default is one already, or where the process's
// CPU time cannot be read. It returns what it does, as text for the start
// line.
func adaptProcs(ctx context.Context, log *slog.Logger) string {
	top := runtime.GOMAXPROCS(0)
	if n, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && n > 0 {
		return strconv.Itoa(n) + " (GOMAXPROCS)"
	}
	if top == 1 {
		return "1"
	}
	if _, ok := cpuTime(); !ok {
		return strconv.Itoa(top)
	}
	said := "1-" + strconv.Itoa(top) + " (adaptive)"
	// Start lean: most processes wait on Zoho from the start, and one that
	// has a backlog to read is raised after its first look.
	runtime.GOMAXPROCS(1)
	go func() {
		var p procsPolicy
		t := time.NewTicker(procsEvery)
		defer t.Stop()
		last, _ := cpuTime()
		lastAt := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			used, _ := cpuTime()
			now := time.Now() // not the tick's time: a busy P may run this late
			cores := float64(used-last) / float64(now.Sub(lastAt))
			last, lastAt = used, now
			procs := runtime.GOMAXPROCS(0)
			next := p.next(procs, top, cores)
			if next == procs {
				continue
			}
			if next == 1 {
				runtime.GOMAXPROCS(1)
			} else {
				// Back to Go's default, which follows the container's CPU
				// limit again.
				runtime.SetDefaultGOMAXPROCS()
				top = runtime.GOMAXPROCS(0)
			}
			log.Debug("gomaxprocs", "from", procs, "to", runtime.GOMAXPROCS(0), "cores_used", cores)
		}
	}()
	return said
}

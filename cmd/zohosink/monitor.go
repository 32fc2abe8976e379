package main

import (
	"strconv"
	"strings"
)

// The Go runtime's monitor thread (sysmon), kept from its deep sleep.
//
// When every P is idle, sysmon sleeps until the next timer; the first
// system call after that wakes it and makes it look again every 20 µs, for
// at least a millisecond of busy time, before it backs off towards 10 ms.
// A process waiting on Zoho goes idle between answers a hundred times a
// second, so each answer's work ran under a monitor looking every 20 µs: in
// the load harness about an eighth of run's CPU was on sysmon's thread, its
// sleeps and the context switches they cost; kept awake, run spends 8-10%
// less CPU waiting on Zoho, the same idle (BENCHMARKS.md, session 7). The runtime
// skips the deep sleep when GODEBUG's schedtrace is set, for the traces to
// come on time; its monitor then backs off to one look every 10 ms and
// stays there. schedtrace cannot be set once the runtime started, and
// //go:debug does not take it, so run, unless GODEBUG already names
// schedtrace, executes itself again at once with it added: the same
// binary, arguments, environment and process id.
//
// The period is the longest the runtime takes (2³¹−1 ms, 24.8 days), and
// it counts from the machine's boot (the monotonic clock): a process still
// running when the machine has been up 24.8 days gets one line from the
// runtime on stderr, "SCHED …", then another every 24.8 days. A machine up
// longer than that already is left as it is, as the line would come at
// once. GODEBUG=schedtrace=0 keeps the runtime's default.
const (
	monitorPeriodMS = 1<<31 - 1
	monitorSetting  = "schedtrace=2147483647"
	// monitorEnv marks the process executed again, so that it never loops
	// even if the runtime were to drop the setting.
	monitorEnv = "ZOHOSINK_REEXEC"
)

// monitorSaid is what run did about the monitor, for its start line.
var monitorSaid = "runtime default"

// monitorPlan decides from GODEBUG, whether the process was executed again
// already, and the machine's uptime in ms (negative: unknown) whether to
// execute run again with schedtrace added: the new GODEBUG if so, else ""
// and why not.
func monitorPlan(godebug string, again bool, uptimeMS int64) (newGodebug, why string) {
	for f := range strings.SplitSeq(godebug, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "schedtrace="); ok {
			if n, err := strconv.Atoi(v); err == nil && n == monitorPeriodMS {
				return "", "awake (GODEBUG " + monitorSetting + ")"
			}
			return "", "as GODEBUG says (schedtrace=" + v + ")"
		}
	}
	switch {
	case again:
		return "", "runtime default (GODEBUG " + monitorSetting + " was not kept)"
	case uptimeMS < 0:
		return "", "runtime default (the machine's uptime is unknown)"
	case uptimeMS >= monitorPeriodMS:
		return "", "runtime default (the machine is up more than 24.8 days)"
	}
	if godebug = strings.Trim(godebug, ", "); godebug != "" {
		return godebug + "," + monitorSetting, ""
	}
	return monitorSetting, ""
}

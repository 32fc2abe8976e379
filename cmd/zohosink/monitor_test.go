package main

import (
	"strings"
	"testing"
)

// run executes itself again with schedtrace added to what GODEBUG holds,
// unless GODEBUG names schedtrace already (ours, or the operator's choice),
// it was executed again already, or the runtime's first trace would come
// at once (a machine up 24.8 days) or at an unknown time.
func TestMonitorPlan(t *testing.T) {
	const day = 24 * 3600 * 1000
	for _, c := range []struct {
		godebug string
		again   bool
		uptime  int64
		want    string // the new GODEBUG, or "" and why contains this
		why     string
	}{
		{"", false, 3 * day, "schedtrace=2147483647", ""},
		{"madvdontneed=1", false, 3 * day, "madvdontneed=1,schedtrace=2147483647", ""},
		{"gctrace=1,", false, 0, "gctrace=1,schedtrace=2147483647", ""},
		{"schedtrace=2147483647", true, 3 * day, "", "awake"},
		{"gctrace=1,schedtrace=2147483647", true, 3 * day, "", "awake"},
		{"schedtrace=0", false, 3 * day, "", "as GODEBUG says (schedtrace=0)"},
		{"gctrace=1, schedtrace=1000", false, 3 * day, "", "as GODEBUG says (schedtrace=1000)"},
		{"", true, 3 * day, "", "was not kept"},
		{"", false, -1, "", "unknown"},
		{"", false, 25 * day, "", "up more than 24.8 days"},
		{"", false, monitorPeriodMS - 1, "schedtrace=2147483647", ""},
	} {
		got, why := monitorPlan(c.godebug, c.again, c.uptime)
		if got != c.want || (c.want == "" && !strings.Contains(why, c.why)) {
			t.Errorf("monitorPlan(%q, %v, %d) = %q, %q; want %q, %q", c.godebug, c.again, c.uptime, got, why, c.want, c.why)
		}
	}
}

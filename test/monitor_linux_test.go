//go:build linux

package test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// run keeps the Go runtime's monitor thread out of its deep sleep, which
// costs a process waiting on Zoho CPU at every answer (cmd/zohosink
// monitor.go), by executing itself again with GODEBUG's schedtrace set: the
// same process (its id, which the operator's supervisor knows, unchanged),
// which says so in its start line, prints no trace, and stops as before.
// GODEBUG=schedtrace=0 keeps the runtime's default.
func TestRunKeepsTheRuntimeMonitorAwake(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	cfg := s.config(opsConfig, nil)
	startLine := regexp.MustCompile(`"msg":"zohosink starting".*"runtime_monitor":"([^"]+)"`)
	for _, c := range []struct{ env, wantLine, wantGodebug string }{
		{"GODEBUG=gctrace=0", `^awake \(GODEBUG schedtrace=2147483647\)$`, "GODEBUG=gctrace=0,schedtrace=2147483647"},
		{"GODEBUG=schedtrace=0", `^as GODEBUG says \(schedtrace=0\)$`, "GODEBUG=schedtrace=0"},
	} {
		p := start(t, []string{c.env}, "run", "--config", cfg)
		if m := startLine.FindStringSubmatch(p.output()); m == nil || !regexp.MustCompile(c.wantLine).MatchString(m[1]) {
			t.Errorf("%s: start line's runtime_monitor %v, want %s\n%s", c.env, m, c.wantLine, p.output())
		}
		// The process started is the one running, with the setting.
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(environ), "\x00"), c.wantGodebug) {
			t.Errorf("%s: the running process's environment lacks %s: %q", c.env, c.wantGodebug, environ)
		}
		httpAddr(t, p) // serving
		time.Sleep(time.Second)
		p.stop(30 * time.Second)
		if strings.Contains(p.output(), "SCHED") {
			t.Errorf("%s: the runtime printed a scheduler trace:\n%s", c.env, p.output())
		}
	}
}

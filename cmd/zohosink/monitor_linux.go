package main

import (
	"os"
	"syscall"
	"unsafe"
)

// keepMonitorAwake executes the running binary again with GODEBUG's
// schedtrace set (monitor.go), and does not return when it does. It sets
// monitorSaid to what it did or why not.
func keepMonitorAwake() {
	godebug, why := monitorPlan(os.Getenv("GODEBUG"), os.Getenv(monitorEnv) != "", uptimeMS())
	if godebug == "" {
		monitorSaid = why
		return
	}
	exe, err := os.Executable()
	if err != nil {
		monitorSaid = "runtime default (cannot find the binary: " + err.Error() + ")"
		return
	}
	env := []string{"GODEBUG=" + godebug, monitorEnv + "=1"}
	for _, kv := range os.Environ() {
		if !hasKey(kv, "GODEBUG") && !hasKey(kv, monitorEnv) {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(exe, os.Args, env)
	monitorSaid = "runtime default (cannot execute " + exe + " again: " + err.Error() + ")"
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}

// uptimeMS is the monotonic clock, which the runtime's traces count from,
// in ms; -1 if it cannot be read.
func uptimeMS() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return -1
	}
	return ts.Sec*1000 + ts.Nsec/1e6
}

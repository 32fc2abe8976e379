//go:build !linux

package main

// keepMonitorAwake: only measured on Linux, where it executes the binary
// again (monitor_linux.go); elsewhere the runtime's default stays.
func keepMonitorAwake() {}

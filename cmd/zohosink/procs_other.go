//go:build !unix

package main

import "time"

// cpuTime: the process's CPU is not read here, so GOMAXPROCS is not adapted.
func cpuTime() (time.Duration, bool) { return 0, false }

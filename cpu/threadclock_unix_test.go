//go:build linux || darwin

package cpu

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadClock is the CPU time of the calling thread
// (CLOCK_THREAD_CPUTIME_ID): with the goroutine locked to its thread and
// the backend on one thread, the time an op computes, whatever else runs
// on the machine.
func threadClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return wallClock()
	}
	return time.Duration(ts.Nano())
}

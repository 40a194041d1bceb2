//go:build linux || darwin

package nn_test

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadClock is the CPU time of the calling thread
// (CLOCK_THREAD_CPUTIME_ID): with the goroutine locked to its thread, the
// time a single-threaded computation takes, whatever else runs on the
// machine.
func threadClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}

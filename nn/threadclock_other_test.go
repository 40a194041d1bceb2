//go:build !linux && !darwin

package nn_test

import "time"

// threadClock falls back to the wall clock where there is no per-thread
// CPU clock.
func threadClock() time.Duration { return time.Duration(time.Now().UnixNano()) }

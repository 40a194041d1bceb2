package mnist

import "time"

// SetStallTimeout shortens how long f waits for a stalled download, for tests.
func SetStallTimeout(f *Fetcher, d time.Duration) { f.stallTimeout = d }

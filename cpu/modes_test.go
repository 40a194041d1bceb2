package cpu

import (
	"testing"
	"time"
)

// TestModeSelector feeds the selector synthetic timings and checks that it
// probes both modes, keeps the faster, and probes again later.
func TestModeSelector(t *testing.T) {
	for _, c := range []struct {
		name         string
		par, solo    time.Duration // per job of 4 chunks
		wantParallel bool
	}{
		{"helpers help", 10 * time.Microsecond, 18 * time.Microsecond, true},
		{"helpers hurt", 30 * time.Microsecond, 18 * time.Microsecond, false},
	} {
		var m modeSelector
		m.reset()
		run := func(jobs int) (parallelJobs int) {
			for range jobs {
				d := c.solo
				if m.parallel() {
					d = c.par
					parallelJobs++
				}
				m.record(d, 4)
			}
			return parallelJobs
		}
		if got := run(2 * windowJobs); got != windowJobs {
			t.Fatalf("%s: %d of the probe's %d jobs ran in parallel, want half", c.name, got, 2*windowJobs)
		}
		got := run(exploitWindows * windowJobs)
		if want := 0; c.wantParallel {
			want = exploitWindows * windowJobs
			if got != want {
				t.Errorf("%s: %d of %d exploit jobs ran in parallel, want all", c.name, got, want)
			}
		} else if got != want {
			t.Errorf("%s: %d exploit jobs ran in parallel, want none", c.name, got)
		}
		if m.state != probeParallel {
			t.Errorf("%s: after the exploit period the selector is in state %d, want a new probe", c.name, m.state)
		}
	}
}

package cpu

import "time"

// modeSelector decides whether the pool runs jobs with its helpers or on
// the calling goroutine alone, by measuring both.
//
// On an idle machine the helpers nearly halve a training step. On a busy one
// (more runnable threads than cores) they make it slower than one thread:
// their polling takes CPU time that the calling thread then lacks, and a
// helper preempted in the middle of a chunk holds the whole op up. Neither
// case announces itself, so the selector runs a window of jobs each way,
// keeps the faster mode for a while, and measures again. The measure is the
// caller's time per chunk, which compares like with like when windows hold
// the same mix of jobs, as the steps of a training loop do; a wrong choice
// costs at most one exploit period.
type modeSelector struct {
	state    modeState
	jobs     int           // jobs recorded in the current window
	chunks   int           // their chunks
	elapsed  time.Duration // the caller's time in them
	perChunk [2]float64    // last probe's ns per chunk: solo, parallel
	exploits int           // windows left before the next probe
	useHelp  bool          // the mode chosen by the last probe
}

type modeState uint8

const (
	probeParallel modeState = iota // measuring a window with the helpers
	probeSolo                      // measuring a window without them
	exploit                        // running the faster mode
)

const (
	windowJobs     = 64 // jobs per measured window (about ten training steps)
	exploitWindows = 32 // windows between probes
)

func (m *modeSelector) reset() { *m = modeSelector{state: probeParallel} }

// parallel reports whether the next job should use the helpers.
func (m *modeSelector) parallel() bool {
	switch m.state {
	case probeParallel:
		return true
	case probeSolo:
		return false
	}
	return m.useHelp
}

// record accounts a job that took d and had the given number of chunks, and
// moves to the next state at the end of a window.
func (m *modeSelector) record(d time.Duration, chunks int) {
	m.jobs++
	m.chunks += chunks
	m.elapsed += d
	if m.jobs < windowJobs {
		return
	}
	per := float64(m.elapsed) / float64(m.chunks)
	m.jobs, m.chunks, m.elapsed = 0, 0, 0
	switch m.state {
	case probeParallel:
		m.perChunk[1] = per
		m.state = probeSolo
	case probeSolo:
		m.perChunk[0] = per
		m.useHelp = m.perChunk[1] <= m.perChunk[0]
		m.state, m.exploits = exploit, exploitWindows
	case exploit:
		m.exploits--
		if m.exploits <= 0 {
			m.state = probeParallel
		}
	}
}

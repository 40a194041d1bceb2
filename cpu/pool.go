package cpu

import (
	"runtime"
	"sync/atomic"
	"time"
)

// job is work the pool splits into chunks: phase 0's chunks, then phase 1's
// (if any), where no chunk of phase 1 starts before every chunk of phase 0
// has finished (a GEMM packs its operand, then computes with it). do runs
// one chunk as worker w; workers have distinct indices in [0, pool.workers)
// for their scratch space, worker 0 being the goroutine that called run.
type job interface {
	chunks() (phase0, phase1 int)
	do(w, phase, chunk int)
}

// pool is a persistent set of helper goroutines that run jobs together with
// the calling goroutine. Nothing is allocated and no goroutine is started
// per job.
//
// Each phase's chunks are divided into one contiguous range per worker, so
// that a worker touches the same memory from one step to the next (its L2
// cache keeps it). Chunks are claimed one at a time from atomic counters:
// a worker first takes its own range, then steals from the others', so a
// helper that is late (its thread descheduled on a busy machine, or parked)
// simply does fewer chunks or none: the caller never waits for a helper to
// start, only for chunks already under way. A helper joins a job by
// incrementing a participant count in the same atomic word as the job's
// epoch and an "open" bit; the caller closes the job once every chunk is
// claimed and waits for the participants to leave, so job fields are never
// rewritten while a helper reads them.
//
// Helpers poll for the next job for a while (ops in a training step come
// microseconds apart, and waking a parked thread costs tens of
// microseconds), yielding the processor now and then so that other
// goroutines still run, then park on a channel.
type pool struct {
	workers int           // including the caller
	spin    time.Duration // how long an idle helper polls before parking

	job    job
	n0, n1 int
	ranges [2][]chunkRangeCounter // per phase, per worker: the range and its next chunk
	done0  atomic.Int64           // phase 0 chunks finished
	state  atomic.Uint64
	quit   atomic.Bool

	// The caller blocks here when participants take long to finish (their
	// threads may be descheduled; spinning would keep them off the CPU).
	callerWaiting atomic.Bool
	callerWake    chan struct{}

	helpers []helper
	modes   modeSelector
}

// chunkRangeCounter is one worker's range of a phase's chunks: next is the
// next chunk to claim, end the end of the range. Padded to a cache line.
type chunkRangeCounter struct {
	next atomic.Int64
	end  int64
	_    [48]byte
}

// The state word: epoch<<32 | open | participants.
const (
	openBit   = 1 << 31
	countMask = openBit - 1
)

// helper is one helper goroutine's parking place, padded to its own cache line.
type helper struct {
	sleeping atomic.Bool
	wake     chan struct{}
	_        [48]byte
}

// newPool starts workers−1 helper goroutines.
func newPool(workers int, spin time.Duration) *pool {
	p := &pool{workers: max(workers, 1), spin: spin, callerWake: make(chan struct{}, 1)}
	p.modes.reset()
	p.ranges[0] = make([]chunkRangeCounter, p.workers)
	p.ranges[1] = make([]chunkRangeCounter, p.workers)
	p.helpers = make([]helper, p.workers-1)
	for i := range p.helpers {
		p.helpers[i].wake = make(chan struct{}, 1)
		go p.loop(i)
	}
	return p
}

// run runs every chunk of j and returns when all have finished: with the
// helpers, or on the caller alone when the mode selector (see modes) has
// found that faster.
func (p *pool) run(j job) {
	n0, n1 := j.chunks()
	if p.workers == 1 || n0+n1 <= 1 {
		runInline(j)
		return
	}
	start := time.Now()
	if p.modes.parallel() {
		p.runParallel(j, n0, n1)
	} else {
		runInline(j)
	}
	p.modes.record(time.Since(start), n0+n1)
}

// runSplit runs j, which its caller has split for the mode that
// p.modes.parallel() chose (in parts for the helpers, or whole for the
// caller alone), and records its time as units chunks for both modes: a
// job that is cut into fewer chunks when it runs alone would otherwise
// look dearer per chunk than it is, and the selector would compare unlike
// windows.
func (p *pool) runSplit(j job, parallel bool, units int) {
	start := time.Now()
	if n0, n1 := j.chunks(); parallel && p.workers > 1 && max(n0, n1) > 1 {
		p.runParallel(j, n0, n1)
	} else {
		runInline(j)
	}
	p.modes.record(time.Since(start), units)
}

// runParallel runs j's chunks on the caller and whichever helpers join.
func (p *pool) runParallel(j job, n0, n1 int) {
	p.job, p.n0, p.n1 = j, n0, n1
	for phase, n := range [2]int{n0, n1} {
		for w := range p.ranges[phase] {
			r := &p.ranges[phase][w]
			r.next.Store(int64(n * w / p.workers))
			r.end = int64(n * (w + 1) / p.workers)
		}
	}
	p.done0.Store(0)
	epoch := p.state.Load()>>32 + 1
	p.state.Store(epoch<<32 | openBit) // publishes the fields above
	p.wakeSleepers()
	p.work(0)
	for { // close the job to newcomers…
		s := p.state.Load()
		if p.state.CompareAndSwap(s, s&^openBit) {
			break
		}
	}
	p.awaitParticipants() // …and let the participants finish
	p.job = nil
}

// callerSpin is how long the caller polls for participants to finish their
// last chunks before it blocks.
const callerSpin = 20 * time.Microsecond

// awaitParticipants returns once no helper is in the current job: polling
// for a while, then blocked until the last one leaves.
func (p *pool) awaitParticipants() {
	var deadline time.Time
	for spins := 1; p.state.Load()&countMask != 0; spins++ {
		if spins&63 != 0 {
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(callerSpin)
		} else if time.Now().After(deadline) {
			p.callerWaiting.Store(true)
			if p.state.Load()&countMask == 0 && p.callerWaiting.CompareAndSwap(true, false) {
				return // they left before anyone saw us waiting
			}
			<-p.callerWake
			return
		}
		runtime.Gosched()
	}
}

// leave ends a helper's participation in the current job, waking the
// caller if it is blocked waiting for the last participant.
func (p *pool) leave() {
	if p.state.Add(^uint64(0))&countMask == 0 && p.callerWaiting.CompareAndSwap(true, false) {
		p.callerWake <- struct{}{}
	}
}

// runInline runs j's chunks in order on the calling goroutine.
func runInline(j job) {
	n0, n1 := j.chunks()
	for c := 0; c < n0; c++ {
		j.do(0, 0, c)
	}
	for c := 0; c < n1; c++ {
		j.do(0, 1, c)
	}
}

// work claims and runs chunks as worker w until none is left: phase 0's,
// then, once all of phase 0 has finished, phase 1's.
func (p *pool) work(w int) {
	for {
		phase, c, ok := p.claim(0, w)
		if !ok {
			break
		}
		p.job.do(w, phase, c)
		p.done0.Add(1)
	}
	if p.n1 == 0 {
		return
	}
	for spins := 1; p.done0.Load() < int64(p.n0); spins++ { // phase 0 still running elsewhere
		if spins&63 == 0 {
			runtime.Gosched()
		}
	}
	for {
		phase, c, ok := p.claim(1, w)
		if !ok {
			return
		}
		p.job.do(w, phase, c)
	}
}

// claim returns a chunk of the phase for worker w: from its own range if
// any is left, else stolen from another worker's.
func (p *pool) claim(phase, w int) (int, int, bool) {
	ranges := p.ranges[phase]
	for i := range ranges {
		r := &ranges[(w+i)%len(ranges)]
		if r.next.Load() >= r.end {
			continue
		}
		if c := r.next.Add(1) - 1; c < r.end {
			return phase, int(c), true
		}
	}
	return 0, 0, false
}

func (p *pool) wakeSleepers() {
	for i := range p.helpers {
		h := &p.helpers[i]
		if h.sleeping.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
}

// loop is helper i's goroutine. It starts from epoch 0, not from what it
// reads when it first runs: the first job may have started before the
// goroutine was scheduled.
func (p *pool) loop(i int) {
	var seen uint64
	for {
		s := p.await(i, seen)
		if p.quit.Load() {
			return
		}
		epoch := s >> 32
		for s>>32 == epoch && s&openBit != 0 {
			if p.state.CompareAndSwap(s, s+1) { // joined, as participant number s&countMask
				p.work(int(s&countMask) + 1)
				p.leave()
				break
			}
			s = p.state.Load()
		}
		seen = epoch
	}
}

// await waits until the epoch differs from seen and returns the state:
// polling for p.spin, then parked.
func (p *pool) await(i int, seen uint64) uint64 {
	deadline := time.Now().Add(p.spin)
	for spins := 1; ; spins++ {
		if s := p.state.Load(); s>>32 != seen {
			return s
		}
		if spins&255 == 0 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	h := &p.helpers[i]
	h.sleeping.Store(true)
	if s := p.state.Load(); s>>32 != seen {
		if h.sleeping.CompareAndSwap(true, false) {
			return s // nobody saw us asleep
		}
		// The caller saw us asleep and is sending a wake-up: take it.
	}
	<-h.wake
	return p.state.Load()
}

// stop ends the helper goroutines; the pool runs jobs on the caller alone
// afterwards.
func (p *pool) stop() {
	if p.quit.Swap(true) {
		return
	}
	p.state.Add(1 << 32) // a new epoch, closed: helpers wake and see quit
	p.wakeSleepers()
	p.workers = 1
}

// chunkCount returns how many chunks of grain items cover n items.
func chunkCount(n, grain int) int { return (n + grain - 1) / grain }

// chunkRange returns the items [lo, hi) of chunk c of grain items out of n.
func chunkRange(c, n, grain int) (lo, hi int) {
	return c * grain, min(n, (c+1)*grain)
}

package cpu

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// countJob counts how often each chunk ran and checks that no phase-1
// chunk starts before phase 0 is complete.
type countJob struct {
	n0, n1     int
	ran0, ran1 []atomic.Int32
	done0      atomic.Int32
	early      atomic.Bool
	workers    []atomic.Int32 // 1 while a chunk runs on that worker index
	shared     atomic.Bool    // two chunks ran at once on one worker index
	slow       bool
	sleepy     bool // helpers' chunks take long: the caller blocks waiting for them
}

func (j *countJob) chunks() (int, int) { return j.n0, j.n1 }

func (j *countJob) do(w, phase, c int) {
	if !j.workers[w].CompareAndSwap(0, 1) {
		j.shared.Store(true)
	}
	defer j.workers[w].Store(0)
	if j.slow {
		runtime.Gosched()
	}
	if j.sleepy && w != 0 {
		time.Sleep(50 * time.Microsecond)
	}
	if phase == 0 {
		j.ran0[c].Add(1)
		j.done0.Add(1)
		return
	}
	if int(j.done0.Load()) != j.n0 {
		j.early.Store(true)
	}
	j.ran1[c].Add(1)
}

// TestPool runs many jobs back to back and after pauses long enough for the
// helpers to park, on freshly started pools (whose helpers may not have
// been scheduled yet), and checks that every chunk ran exactly once, in
// phase order, with worker indices (scratch space) never shared.
func TestPool(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 5} {
		for trial := 0; trial < 10; trial++ {
			p := newPool(workers, 20*time.Microsecond)
			for i := 0; i < 60; i++ {
				if i%10 == 9 {
					time.Sleep(200 * time.Microsecond) // helpers go to sleep
				}
				j := &countJob{n0: i % 7, n1: 1 + i%13, slow: i%3 == 0, sleepy: i%4 == 1, workers: make([]atomic.Int32, workers)}
				j.ran0, j.ran1 = make([]atomic.Int32, j.n0), make([]atomic.Int32, j.n1)
				p.run(j)
				for c := range j.ran0 {
					if n := j.ran0[c].Load(); n != 1 {
						t.Fatalf("%d workers, job %d: phase 0 chunk %d ran %d times", workers, i, c, n)
					}
				}
				for c := range j.ran1 {
					if n := j.ran1[c].Load(); n != 1 {
						t.Fatalf("%d workers, job %d: phase 1 chunk %d ran %d times", workers, i, c, n)
					}
				}
				if j.shared.Load() {
					t.Fatalf("%d workers, job %d: two goroutines used one worker index at once", workers, i)
				}
				if j.early.Load() {
					t.Fatalf("%d workers, job %d: a phase 1 chunk started before phase 0 finished", workers, i)
				}
			}
			p.stop()
		}
	}
}

func TestChunkRange(t *testing.T) {
	for _, n := range []int{0, 1, 5, 64, 65, 784} {
		for _, grain := range []int{1, 4, 16, 1000} {
			next := 0
			for c := 0; c < chunkCount(n, grain); c++ {
				lo, hi := chunkRange(c, n, grain)
				if lo != next || hi <= lo || hi-lo > grain {
					t.Fatalf("chunkRange(%d, %d, %d) = [%d, %d), want to start at %d", c, n, grain, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("chunks of %d by %d cover [0, %d)", n, grain, next)
			}
		}
	}
}

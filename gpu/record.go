package gpu

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

var (
	_ nn.Recorder      = (*Backend)(nil)
	_ nn.HyperRecorder = (*Backend)(nil)
)

// Recording is a sequence of ops captured once by Record (a CUDA graph) and
// queued again, as one launch, by Replay or ReplayAt.
//
// What is captured is each kernel with its parameters: buffer addresses and
// scalars (sizes, offsets) are fixed at Record time; the contents of the
// buffers are read when the replay runs. The exceptions are what changes
// from one stretch of training to the next: the optimiser steps read their
// learning rate and update number, the gathers their position in the
// visiting order and the losses their slot from a small device buffer of the
// recording (replay_hyper in kernels/params.h), which Replay sets to the
// values of Record time and ReplayAt to new ones, with one 16-byte copy
// queued before the graph. So a recording of a few steps serves every
// stretch of every epoch of a run, whatever the schedule and optimiser.
type Recording struct {
	b          *Backend
	g          graph
	hyper      uint64  // device replay_hyper
	reads      int     // kernels in the recording that read it
	lr         float32 // the learning rate the optimiser steps were recorded with
	optimSteps int     // optimiser steps in the recording
}

// Record runs ops, which must call only this backend's ops that launch
// kernels (Gemm, ReLU, ..., SGD, Adam; not Alloc, Free, Upload, Download
// or Sync), capturing them instead of running them, and returns the
// capture. Nothing runs until Replay. An op that fails inside ops fails the
// backend as it would outside (errors are sticky) and Record returns it.
// The optimiser steps in ops must share one learning rate.
func (b *Backend) Record(ops func()) (nn.Recording, error) {
	rec, err := b.record(ops)
	if err != nil {
		return nil, err // a nil interface, not a nil *Recording
	}
	return rec, nil
}

// RecordHyper is Record for nn.HyperRecorder: the same recording, whose
// ReplayAt sets the learning rate and update numbers of its optimiser
// steps, the position of its gathers and the slot of its losses.
func (b *Backend) RecordHyper(ops func()) (nn.HyperRecording, error) {
	rec, err := b.record(ops)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// replayHyper returns the device replay_hyper that a kernel queued while
// recording reads at replay time, or 0 outside Record.
func (b *Backend) replayHyper() uint64 {
	if !b.recording {
		return 0
	}
	b.hyperReads++
	return b.hyper
}

// recordHyper is replayHyper for an optimiser step at learning rate lr.
func (b *Backend) recordHyper(op string, lr float32) uint64 {
	if !b.recording {
		return 0
	}
	if b.hyperSteps > 0 && math.Float32bits(lr) != math.Float32bits(b.hyperLR) {
		b.failf(op, "inside Record at learning rate %g after %g: the optimiser steps of one recording share one learning rate (ReplayAt sets it)", lr, b.hyperLR)
		return 0
	}
	b.hyperLR = lr
	b.hyperSteps++
	return b.replayHyper()
}

func (b *Backend) record(ops func()) (rec *Recording, err error) {
	if !b.ready("Record") {
		return nil, b.err
	}
	if b.recording {
		return nil, errors.New("cuda Record: already recording")
	}
	hyper, err := b.dev.alloc(int(unsafe.Sizeof(replayHyper{})))
	if err != nil {
		return nil, fmt.Errorf("cuda Record: allocate the replay parameters: %w", err)
	}
	if err := b.dev.beginCapture(); err != nil {
		b.dev.free(hyper)
		b.fail(fmt.Errorf("cuda Record: begin capture: %w", err))
		return nil, b.err
	}
	b.recording, b.hyper, b.hyperSteps, b.hyperReads = true, hyper, 0, 0
	defer func() {
		b.recording, b.hyper = false, 0
		g, endErr := b.dev.endCapture()
		if endErr != nil {
			b.fail(fmt.Errorf("cuda Record: end capture: %w", endErr))
		}
		if p := recover(); p != nil {
			if g != nil {
				g.destroy()
			}
			b.dev.free(hyper)
			panic(p)
		}
		if b.err != nil {
			if g != nil {
				g.destroy()
			}
			b.dev.free(hyper)
			rec, err = nil, b.err
			return
		}
		rec = &Recording{b: b, g: g, hyper: hyper, reads: b.hyperReads, lr: b.hyperLR, optimSteps: b.hyperSteps}
	}()
	ops()
	return nil, nil
}

// Replay queues the recorded ops once more, in order with other ops, as
// they were recorded.
func (r *Recording) Replay() error { return r.replay("Replay", replayHyper{lr: r.lr}) }

// ReplayAt queues the recorded ops once more with the learning rate, update
// numbers, batch positions and loss slots that rp gives (nn.HyperRecording).
func (r *Recording) ReplayAt(rp nn.Replay) error {
	for _, v := range []struct {
		name string
		n    int
	}{{"update base", rp.UpdateBase}, {"row base", rp.RowBase}, {"loss base", rp.LossBase}} {
		if v.n < 0 || v.n > math.MaxInt32 {
			return fmt.Errorf("cuda ReplayAt: %s %d outside [0, %d]", v.name, v.n, math.MaxInt32)
		}
	}
	return r.replay("ReplayAt", replayHyper{lr: rp.LR, updateBase: int32(rp.UpdateBase), rowBase: int32(rp.RowBase), lossBase: int32(rp.LossBase)})
}

func (r *Recording) replay(op string, h replayHyper) error {
	b := r.b
	if !b.ready(op) {
		return b.err
	}
	if r.g == nil {
		return fmt.Errorf("cuda %s: the recording is closed", op)
	}
	if b.recording {
		return b.hostOnly(op)
	}
	if r.reads > 0 {
		b.queued = true
		if err := b.dev.upload(r.hyper, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))); err != nil {
			b.fail(fmt.Errorf("cuda %s: set the replay's learning rate and positions: %w", op, err))
			return b.err
		}
	}
	b.queued, b.unchecked = true, true
	if err := r.g.launch(); err != nil {
		b.fail(fmt.Errorf("cuda %s: %w", op, err))
		return b.err
	}
	return nil
}

// Close releases the recording. Replays already queued still run.
func (r *Recording) Close() error {
	if r.g == nil {
		return nil
	}
	g := r.g
	r.g = nil
	if r.b.closed {
		return nil // the device, graphs included, is gone already
	}
	err := g.destroy()
	if ferr := r.b.dev.free(r.hyper); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("cuda Recording.Close: %w", err)
	}
	return nil
}

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
// buffers are read when the replay runs. The optimiser steps are the
// exception: they read their learning rate and update number from a small
// device buffer of the recording (optim_hyper in kernels/params.h), which
// Replay sets to the values given at Record time and ReplayAt to new ones,
// with one 8-byte copy queued before the graph. So one recorded epoch
// serves every epoch of a run, whatever the schedule and optimiser.
type Recording struct {
	b          *Backend
	g          graph
	hyper      uint64  // device optim_hyper; 0 when nothing was recorded that reads it
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
// ReplayAt sets the learning rate and the update numbers of its optimiser
// steps.
func (b *Backend) RecordHyper(ops func()) (nn.HyperRecording, error) {
	rec, err := b.record(ops)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// recordHyper returns the device optim_hyper that an optimiser step at
// learning rate lr reads while recording, or 0 outside Record.
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
	return b.hyper
}

func (b *Backend) record(ops func()) (rec *Recording, err error) {
	if !b.ready("Record") {
		return nil, b.err
	}
	if b.recording {
		return nil, errors.New("cuda Record: already recording")
	}
	hyper, err := b.dev.alloc(8)
	if err != nil {
		return nil, fmt.Errorf("cuda Record: allocate the replay parameters: %w", err)
	}
	if err := b.dev.beginCapture(); err != nil {
		b.dev.free(hyper)
		b.fail(fmt.Errorf("cuda Record: begin capture: %w", err))
		return nil, b.err
	}
	b.recording, b.hyper, b.hyperSteps = true, hyper, 0
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
		rec = &Recording{b: b, g: g, hyper: hyper, lr: b.hyperLR, optimSteps: b.hyperSteps}
	}()
	ops()
	return nil, nil
}

// Replay queues the recorded ops once more, in order with other ops, with
// the learning rate and update numbers they were recorded with.
func (r *Recording) Replay() error { return r.replay("Replay", r.lr, 0) }

// ReplayAt queues the recorded ops once more with every optimiser step in
// them at learning rate lr and update number updateBase+t, t being the
// number it was recorded with (nn.HyperRecording).
func (r *Recording) ReplayAt(lr float32, updateBase int) error {
	if updateBase < 0 || updateBase > math.MaxInt32 {
		return fmt.Errorf("cuda ReplayAt: update base %d outside [0, %d]", updateBase, math.MaxInt32)
	}
	return r.replay("ReplayAt", lr, int32(updateBase))
}

func (r *Recording) replay(op string, lr float32, updateBase int32) error {
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
	if r.optimSteps > 0 {
		h := optimHyper{lr: lr, updateBase: updateBase}
		if err := b.dev.upload(r.hyper, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))); err != nil {
			b.fail(fmt.Errorf("cuda %s: set the learning rate and update base: %w", op, err))
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

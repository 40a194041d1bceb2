package gpu

import (
	"errors"
	"fmt"

	"github.com/mnist-go/mnist/nn"
)

var _ nn.Recorder = (*Backend)(nil)

// Recording is a sequence of ops captured once by Record (a CUDA graph) and
// queued again, as one launch, by Replay.
//
// What is captured is each kernel with its parameters: buffer addresses and
// scalars (sizes, offsets, learning rate...) are fixed at Record time; the
// contents of the buffers are read when the replay runs. So a recorded
// training epoch replays correctly after a new order buffer is uploaded
// into the same buffer, but not with a different learning rate.
type Recording struct {
	b *Backend
	g graph
}

// Record runs ops, which must call only this backend's ops that launch
// kernels (Gemm, AddBias, ..., SGD, Adam; not Alloc, Free, Upload, Download
// or Sync), capturing them instead of running them, and returns the
// capture. Nothing runs until Replay. An op that fails inside ops fails the
// backend as it would outside (errors are sticky) and Record returns it.
func (b *Backend) Record(ops func()) (nn.Recording, error) {
	rec, err := b.record(ops)
	if err != nil {
		return nil, err // a nil interface, not a nil *Recording
	}
	return rec, nil
}

func (b *Backend) record(ops func()) (rec *Recording, err error) {
	if !b.ready("Record") {
		return nil, b.err
	}
	if b.recording {
		return nil, errors.New("cuda Record: already recording")
	}
	if err := b.dev.beginCapture(); err != nil {
		b.fail(fmt.Errorf("cuda Record: begin capture: %w", err))
		return nil, b.err
	}
	b.recording = true
	defer func() {
		b.recording = false
		g, endErr := b.dev.endCapture()
		if endErr != nil {
			b.fail(fmt.Errorf("cuda Record: end capture: %w", endErr))
		}
		if p := recover(); p != nil {
			if g != nil {
				g.destroy()
			}
			panic(p)
		}
		if b.err != nil {
			if g != nil {
				g.destroy()
			}
			rec, err = nil, b.err
			return
		}
		rec = &Recording{b: b, g: g}
	}()
	ops()
	return nil, nil
}

// Replay queues the recorded ops once more, in order with other ops.
func (r *Recording) Replay() error {
	b := r.b
	if !b.ready("Replay") {
		return b.err
	}
	if r.g == nil {
		return errors.New("cuda Replay: the recording is closed")
	}
	if b.recording {
		return b.hostOnly("Replay")
	}
	if err := r.g.launch(); err != nil {
		b.fail(fmt.Errorf("cuda Replay: %w", err))
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
	if err := g.destroy(); err != nil {
		return fmt.Errorf("cuda Recording.Close: %w", err)
	}
	return nil
}

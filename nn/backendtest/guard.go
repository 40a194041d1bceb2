package backendtest

import (
	"fmt"

	"github.com/mnist-go/mnist/nn"
)

// layout says where an operand lives inside the buffer the suite allocates:
// pre elements before it, post after, and whether the op sees a Slice view
// (exactly n long, or running into the trailing guard, which an op may be
// given since a buffer may be longer than it needs) or the root buffer.
type layout struct {
	pre, post int
	view      viewKind
}

type viewKind int

const (
	rootBuffer viewKind = iota // the op gets the allocated buffer (pre must be 0)
	exactView                  // Slice(pre, n)
	longView                   // Slice(pre, n+post)
)

func (l layout) String() string {
	switch l.view {
	case rootBuffer:
		return fmt.Sprintf("buffer+%d", l.post)
	case exactView:
		return fmt.Sprintf("view@%d", l.pre)
	default:
		return fmt.Sprintf("longview@%d", l.pre)
	}
}

// layouts are the placements every table cycles through.
var layouts = []layout{
	{0, 7, rootBuffer},
	{5, 3, exactView},
	{3, 9, longView},
	{0, 1, exactView},
	{17, 0, exactView},
}

// guarded is an operand placed per a layout inside a buffer whose other
// elements hold a sentinel that no op may change.
type guarded struct {
	x      *tb
	base   nn.Buffer // the allocated buffer
	buf    nn.Buffer // what the op gets
	lay    layout
	n      int
	f32    bool
	inited []float32 // float32 content uploaded, for input checks
}

// guardF32 places data (n = len(data)) per lay.
func (x *tb) guardF32(data []float32, lay layout) *guarded {
	x.Helper()
	n := len(data)
	all := filled(lay.pre+n+lay.post, sentinel)
	copy(all[lay.pre:], data)
	base := x.alloc(nn.Float32, len(all))
	x.put(base, all)
	return &guarded{x: x, base: base, buf: lay.place(base, n), lay: lay, n: n, f32: true, inited: append([]float32(nil), data...)}
}

// guardI32 places n int32 elements holding data per lay.
func (x *tb) guardI32(data []int32, lay layout) *guarded {
	x.Helper()
	n := len(data)
	all := make([]int32, lay.pre+n+lay.post)
	for i := range all {
		all[i] = sentinelI32
	}
	copy(all[lay.pre:], data)
	base := x.alloc(nn.Int32, len(all))
	x.put(base, all)
	return &guarded{x: x, base: base, buf: lay.place(base, n), lay: lay, n: n}
}

func (l layout) place(base nn.Buffer, n int) nn.Buffer {
	switch l.view {
	case exactView:
		return base.Slice(l.pre, n)
	case longView:
		return base.Slice(l.pre, n+l.post)
	}
	return base
}

// values downloads the operand after checking that the guards around it
// still hold the sentinel.
func (g *guarded) values(what string) []float32 {
	x := g.x
	x.Helper()
	all := x.f32(g.base, g.base.Len())
	g.checkGuards(what, all)
	return all[g.lay.pre : g.lay.pre+g.n]
}

// ints is values for int32 operands.
func (g *guarded) ints(what string) []int32 {
	x := g.x
	x.Helper()
	all := x.i32(g.base, g.base.Len())
	for i, v := range all {
		if (i < g.lay.pre || i >= g.lay.pre+g.n) && v != sentinelI32 {
			x.Errorf("%s (%v): guard element %d of %d was overwritten with %d", what, g.lay, i, len(all), v)
			break
		}
	}
	return all[g.lay.pre : g.lay.pre+g.n]
}

func (g *guarded) checkGuards(what string, all []float32) {
	g.x.Helper()
	for i, v := range all {
		if (i < g.lay.pre || i >= g.lay.pre+g.n) && v != sentinel {
			g.x.Errorf("%s (%v): guard element %d (operand spans [%d, %d)) was overwritten with %g", what, g.lay, i, g.lay.pre, g.lay.pre+g.n, v)
			return
		}
	}
}

// unchanged checks that an input operand and its guards are as uploaded.
func (g *guarded) unchanged(what string) {
	g.x.Helper()
	sameBits(g.x.T, what+" (an input) after the op", g.values(what), g.inited)
}

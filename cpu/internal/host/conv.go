package host

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// Conv checks a convolution's geometry for op, recording the error when it
// is invalid or its buffers' sizes overflow an int.
func (c *Core) Conv(op string, g nn.ConvGeom) bool {
	if err := g.Validate(); err != nil {
		c.Fail(op, "%v", err)
		return false
	}
	if !fits(g.Batch, g.H, g.W, g.C) || !fits(g.Batch, g.OutH(), g.OutW(), g.C, g.KH, g.KW) {
		c.Fail(op, "convolution %+v: its buffers are too large", g)
		return false
	}
	return true
}

// Pool checks a pooling's geometry for op, recording the error when it is
// invalid or its buffers' sizes overflow an int32 index.
func (c *Core) Pool(op string, g nn.PoolGeom) bool {
	if err := g.Validate(); err != nil {
		c.Fail(op, "%v", err)
		return false
	}
	if !fits(g.Batch, g.H, g.W, g.C) {
		c.Fail(op, "pooling %+v: its buffers are too large", g)
		return false
	}
	return true
}

// fits reports whether the product of the non-negative dims is at most MaxInt32.
func fits(dims ...int) bool {
	p := 1
	for _, d := range dims {
		if d != 0 && p > math.MaxInt32/d {
			return false
		}
		p *= d
	}
	return true
}

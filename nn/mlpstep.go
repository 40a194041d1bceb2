package nn

// MLPStepper is implemented by backends that run a whole training step of
// an MLP in a few kernel launches (the CUDA backend: three, where the op
// sequence is about fourteen). The Trainer uses it for every MLP it fits
// and queues the ops one by one otherwise; the two compute the same step,
// up to the order of float32 sums.
type MLPStepper interface {
	// MLPWorkspace returns how many float32 elements of scratch (MLPStep.Work)
	// a step of an MLP with these layer widths needs for batches of up to
	// batch rows, or an error saying why this backend cannot fuse its steps
	// (too deep or too wide, say): the caller then trains op by op.
	MLPWorkspace(widths []int, batch int) (int, error)
	// MLPStep queues one training step, as MLPStep describes.
	MLPStep(s MLPStep)
}

// MLPStep is one training step of an MLP: the computation that Gather,
// Model.Forward, SoftmaxCrossEntropy, Model.Backward and Optimizer.Step
// queue one after the other, given to a backend whole.
//
//	X, y   = the batch (Gather: rows from position Start of Order)
//	A_0    = X;  A_l = relu(A_{l-1}·W_lᵀ + b_l) for l < L, A_L the logits (no ReLU)
//	Loss   = mean over rows of -log softmax(A_L[r])[y_r]
//	Grads  = its gradient with respect to every parameter (overwritten)
//	Params = the optimiser's update of Params from Grads at LR, update number Update
//
// The model's activation buffers are not written (the step keeps its
// activations in Work).
type MLPStep struct {
	// Widths are the inputs, then every linear layer's outputs: the hidden
	// widths and the classes (784, 64, 32, 10 for the tutorial).
	Widths []int
	Rows   int // samples in the batch, at least 1

	// The batch, as Gather takes it: image Order[Start+r] of Images (uint8,
	// Widths[0] pixels each) and Labels (uint8) for row r, its pixels
	// scaled by Scale and shifted by Shift. When Images is nil, X (float32,
	// Rows×Widths[0]) and Y (int32, Rows) hold the batch already
	// (GatherAffine made it).
	Images, Labels, Order Buffer
	Start                 int
	Scale, Shift          float32
	X, Y                  Buffer

	Params, Grads Buffer // float32, laid out as Spec.Params says
	Optimizer     OptimizerConfig
	State         []Buffer // Optimizer.State(): momentum, or Adam's moments
	LR            float32
	Update        int // the update number t, from 1 (Adam's bias correction)

	Loss Buffer // float32, 1 element: the step's mean loss
	Work Buffer // float32 scratch of MLPStepper.MLPWorkspace elements

	// Chaining, for a run of steps over one Order (Images, not X): with
	// PrepareNext the step also computes, from the weights it has just
	// updated, the first layer's products for the next batch, the Rows
	// rows at Start+Rows, into Work; the next step, at that Start with
	// the same Rows, Work and data, then has Prepared set and starts from
	// them. Nothing may write Params or Work between the two. This is how
	// the CUDA backend runs a step in two kernels instead of three. A
	// backend may ignore both flags: each step then computes its own
	// products, with the same result up to the order of float32 sums.
	Prepared, PrepareNext bool
}

// Check checks an MLPStep's operands: at least one layer, positive widths,
// Params and Grads of the MLP's parameter count, the batch's buffers as
// CheckGather (or X and Y) wants them, the optimiser's state, the loss, and
// at least work elements of Work.
func (s MLPStep) Check(o Operands, work int) error {
	c := check{op: "MLPStep", o: o}
	if len(s.Widths) < 2 {
		c.fail("%d widths: an MLP has its inputs and at least one layer's outputs", len(s.Widths))
		return c.err
	}
	params := 0
	for i, w := range s.Widths {
		if w < 1 {
			c.fail("width %d is %d: every layer has at least one unit", i, w)
			return c.err
		}
		if i > 0 {
			c.fits("MLPStep", w, s.Widths[i-1]+1)
			params += w * (s.Widths[i-1] + 1)
		}
	}
	c.dim("rows", s.Rows)
	c.dim("start", s.Start)
	c.dim("start+rows", s.Start+s.Rows)
	if c.err == nil && s.Rows == 0 {
		c.fail("rows is 0: a training step has at least one sample")
	}
	c.fits("MLPStep", s.Rows, s.Widths[0])
	inputs := s.Widths[0]
	if s.Images != nil {
		c.whole("images", s.Images, Uint8)
		c.whole("labels", s.Labels, Uint8)
		c.buf("order", s.Order, Int32, 1, s.Start+s.Rows, "start+rows")
		if c.err == nil && s.Images.Len() < inputs {
			c.fail("images holds %d bytes, less than one image of %d pixels", s.Images.Len(), inputs)
		}
		if s.PrepareNext {
			c.buf("order", s.Order, Int32, 1, s.Start+2*s.Rows, "start+2·rows (PrepareNext: the next batch too)")
		}
	} else {
		c.buf("x", s.X, Float32, s.Rows, inputs, "rows×inputs")
		c.buf("y", s.Y, Int32, 1, s.Rows, "rows")
		if c.err == nil && (s.Prepared || s.PrepareNext) {
			c.fail("Prepared and PrepareNext chain steps over images and order; this step's batch is in x: set neither")
		}
	}
	c.equal("params", s.Params, params, "the MLP's parameter count")
	c.equal("grads", s.Grads, params, "the MLP's parameter count")
	c.apart("grads", s.Grads, params, "params", s.Params, params)
	cfg := s.Optimizer.WithDefaults()
	if err := cfg.Validate(); err != nil {
		c.fail("%v", err)
	}
	slots := 0
	switch {
	case cfg.Name == "adam":
		slots = 2
		if s.Update < 1 {
			c.fail("update number %d; it counts this update and starts at 1", s.Update)
		}
	case cfg.Momentum != 0:
		slots = 1
	}
	if c.err == nil && len(s.State) < slots {
		c.fail("%d optimizer state buffers, %s needs %d", len(s.State), cfg.Name, slots)
	}
	for i := 0; i < slots && c.err == nil; i++ {
		c.equal("state", s.State[i], params, "the MLP's parameter count")
	}
	c.buf("loss", s.Loss, Float32, 1, 1, "1")
	c.buf("work", s.Work, Float32, 1, work, "the workspace")
	return c.err
}

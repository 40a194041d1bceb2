package nn

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/mnist-go/mnist/nn/safetensors"
)

// Checkpoint is everything needed to continue a run exactly where it
// stopped: the model file's content (weights with PyTorch's names, and
// ModelInfo), the optimiser's state, the position (epoch, step, updates, the
// epoch's loss so far), the configuration and the history of finished
// epochs. Shuffles and initialisation derive from the seed, so the position
// is the whole random state.
type Checkpoint struct {
	Info      ModelInfo
	Params    []float32
	Optimizer map[string][]float32 // state buffers by Optimizer.StateNames
	State     CheckpointState
}

// CheckpointState is the JSON part of a checkpoint.
type CheckpointState struct {
	Position Position       `json:"position"`
	Config   TrainConfig    `json:"config"`
	History  []EpochSummary `json:"history"`
	// LogDir is the run's log directory (mnist train --logdir), where a
	// resumed run goes on logging; "" when the run had none.
	LogDir string `json:"log_dir,omitempty"`
}

// EpochSummary is an EpochResult without the per-sample predictions.
type EpochSummary struct {
	Epoch         int     `json:"epoch"`
	LR            float32 `json:"lr"`
	TrainLoss     float64 `json:"train_loss"`
	TestLoss      float64 `json:"test_loss"`
	TestAccuracy  float64 `json:"test_accuracy"`
	Seconds       float64 `json:"seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
}

// Summary drops the predictions of r.
func (r EpochResult) Summary() EpochSummary {
	return EpochSummary{r.Epoch, r.LR, r.TrainLoss, r.Test.Loss, r.Test.Accuracy, r.Seconds, r.SamplesPerSec}
}

// Result restores an EpochResult (without predictions) from a summary.
func (s EpochSummary) Result() EpochResult {
	return EpochResult{
		Epoch: s.Epoch, LR: s.LR, TrainLoss: s.TrainLoss, Seconds: s.Seconds, SamplesPerSec: s.SamplesPerSec,
		Test: &Evaluation{Loss: s.TestLoss, Accuracy: s.TestAccuracy},
	}
}

// CheckpointFormat is the value of the "format" metadata key of
// checkpoints. As with ModelFormat, version 2 adds the metadata to the
// digest; version 1 checkpoints are still read.
const CheckpointFormat = "mnist-go/checkpoint/v2"

// checkpointFormatV1 is the format of checkpoints written before the digest
// covered the metadata.
const checkpointFormatV1 = "mnist-go/checkpoint/v1"

// Capture downloads what a checkpoint of t needs. info describes the model
// as SaveModel would record it.
func (t *Trainer) Capture(info ModelInfo) (*Checkpoint, error) {
	params, err := t.Model.ParamsHost()
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Info: info, Params: params, Optimizer: map[string][]float32{}}
	for i, buf := range t.Optimizer.State() {
		v := make([]float32, buf.Len())
		if err := t.Model.Backend.Download(v, buf); err != nil {
			return nil, err
		}
		ck.Optimizer[t.Optimizer.StateNames()[i]] = v
	}
	ck.State = CheckpointState{Position: t.Pos, Config: t.Config}
	for _, h := range t.History {
		ck.State.History = append(ck.State.History, h.Summary())
	}
	return ck, nil
}

// Restore puts a checkpoint's parameters, optimiser state, position and
// history into t, after checking that they belong to t's model, optimiser
// and data.
func (t *Trainer) Restore(ck *Checkpoint) error {
	if got, want := ck.Info.Spec.String(), t.Model.Spec.String(); got != want || ck.Info.Spec.Inputs() != t.Model.Spec.Inputs() {
		return fmt.Errorf("the checkpoint holds a %s on %d×%d images, this run builds a %s on %d×%d images",
			got, ck.Info.Spec.Rows, ck.Info.Spec.Cols, want, t.Model.Spec.Rows, t.Model.Spec.Cols)
	}
	if id := DataID(t.Train.Source); ck.Info.DataID != "" && ck.Info.DataID != id {
		return fmt.Errorf("the checkpoint was trained on other data (%s, data id %s; %s has data id %s)",
			ck.Info.Dataset, ck.Info.DataID, t.Train.Source.Name, id)
	}
	steps, p := t.StepsPerEpoch(), ck.State.Position
	if p.Step > steps || p.Updates != p.Epoch*steps+p.Step { // Step == steps: interrupted after an epoch's last step
		return fmt.Errorf("the checkpoint stopped at step %d of epoch %d after %d updates, which a run of %d steps an epoch (%d samples in batches of %d) cannot reach: resume with the data it was trained on (--data-dir)",
			p.Step, p.Epoch+1, p.Updates, steps, t.Train.Len(), t.Config.Batch)
	}
	if err := t.Model.SetParams(ck.Params); err != nil {
		return err
	}
	names := t.Optimizer.StateNames()
	if len(names) != len(ck.Optimizer) {
		return fmt.Errorf("the checkpoint's optimizer state (%d buffers) does not fit %s (%d buffers)", len(ck.Optimizer), t.Config.Optimizer.Name, len(names))
	}
	for i, name := range names {
		v, ok := ck.Optimizer[name]
		if !ok || len(v) != t.Optimizer.State()[i].Len() {
			return fmt.Errorf("the checkpoint has no %s state of %d values for %s", name, t.Optimizer.State()[i].Len(), t.Config.Optimizer.Name)
		}
		if err := t.Model.Backend.Upload(t.Optimizer.State()[i], v); err != nil {
			return err
		}
	}
	t.Pos, t.orderEpoch, t.ahead.epoch = ck.State.Position, -1, -1 // the order is made and uploaded anew
	t.History = t.History[:0]
	for _, h := range ck.State.History {
		t.History = append(t.History, h.Result())
	}
	return nil
}

// SaveCheckpoint writes ck to path (temporary name, fsync, rename). The file
// is also a model file: LoadModel reads its weights.
func SaveCheckpoint(path string, ck *Checkpoint) error {
	ts, err := modelTensors(ck.Info.Spec, ck.Params)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	for _, name := range sortedStateNames(ck.Optimizer) {
		v := ck.Optimizer[name]
		ts = append(ts, safetensors.FromFloat32s(name, []int{len(v)}, v))
	}
	md, err := ck.Info.metadata()
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	state, err := json.Marshal(ck.State)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	md["format"] = CheckpointFormat
	md["checkpoint"] = string(state)
	md[digestKey] = contentDigest(ts, md)
	return safetensors.WriteFile(path, &safetensors.File{Tensors: ts, Metadata: md})
}

func sortedStateNames(m map[string][]float32) []string {
	var names []string
	for _, n := range optimizerStateNames {
		if _, ok := m[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// optimizerStateNames are the tensor names of every optimiser's state.
var optimizerStateNames = []string{"optimizer.momentum_buffer", "optimizer.exp_avg", "optimizer.exp_avg_sq"}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint. Its header
// is checked before the data are read: the model's description as
// LoadModel checks it, the run's configuration and position (see
// CheckpointState.Validate) and the optimiser state's tensors.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	return readCheckpoint(path, func(check func(*safetensors.File) error) (*safetensors.File, error) {
		return safetensors.ReadFileChecked(path, safetensors.Limits{HeaderBytes: maxHeaderBytes, FileBytes: maxCheckpointBytes}, check)
	})
}

// ReadCheckpoint is LoadCheckpoint on a stream; name names it in errors.
func ReadCheckpoint(r io.Reader, name string) (*Checkpoint, error) {
	return readCheckpoint(name, func(check func(*safetensors.File) error) (*safetensors.File, error) {
		return safetensors.ReadChecked(r, name, -1, safetensors.Limits{HeaderBytes: maxHeaderBytes, FileBytes: maxCheckpointBytes}, check)
	})
}

func readCheckpoint(path string, read func(check func(*safetensors.File) error) (*safetensors.File, error)) (*Checkpoint, error) {
	ck := &Checkpoint{Optimizer: map[string][]float32{}}
	f, err := read(
		func(h *safetensors.File) error {
			raw, ok := h.Metadata["checkpoint"]
			if format := h.Metadata["format"]; !ok || (format != CheckpointFormat && format != checkpointFormatV1) {
				return fmt.Errorf("%s is not a training checkpoint (format %q): resume from the <out>.ckpt.safetensors file that mnist train writes", path, format)
			}
			if _, ok := h.Metadata["mnist_go"]; !ok {
				return fmt.Errorf("%s: a checkpoint without its model's description (metadata mnist_go): the file is damaged", path)
			}
			var err error
			if ck.Info, err = modelHeader(path, h, optimizerStateNames); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(raw), &ck.State); err != nil {
				return fmt.Errorf("%s: checkpoint metadata is not valid: %v", path, err)
			}
			if err := ck.State.Validate(); err != nil {
				return fmt.Errorf("%s: %v: the file is damaged or was edited", path, err)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if ck.Params, err = modelParams(path, f, ck.Info); err != nil {
		return nil, err
	}
	for _, name := range optimizerStateNames {
		t, ok := f.Get(name)
		if !ok {
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, name, err)
		}
		if i := firstNonFinite(v); i >= 0 {
			return nil, fmt.Errorf("%s: %s[%d] is %v: the optimizer state is not finite", path, name, i, v[i])
		}
		ck.Optimizer[name] = v
	}
	return ck, nil
}

// Validate checks a checkpoint's configuration and position on their own:
// the configuration is one NewTrainer accepts (for some data set), and the
// position is one a run can reach (before or at the end of its last epoch,
// with as many updates as steps taken and finite loss sums), with the
// history of the epochs it has finished.
func (s CheckpointState) Validate() error {
	c, p := s.Config, s.Position
	if err := c.Validate(math.MaxInt); err != nil {
		return fmt.Errorf("configuration: %v", err)
	}
	switch {
	case p.Epoch < 0 || p.Epoch > c.Epochs:
		return fmt.Errorf("position: epoch %d of a run of %d epochs", p.Epoch, c.Epochs)
	case p.Step < 0 || (p.Epoch == c.Epochs && p.Step != 0):
		return fmt.Errorf("position: step %d of epoch %d", p.Step, p.Epoch)
	case p.Updates < p.Step || (p.Epoch == 0 && p.Updates != p.Step):
		return fmt.Errorf("position: %d updates at step %d of epoch %d", p.Updates, p.Step, p.Epoch)
	case p.LossRows < 0 || p.LossRows > p.Step*c.Batch || math.IsNaN(p.LossSum) || math.IsInf(p.LossSum, 0) || p.LossSum < 0:
		return fmt.Errorf("position: loss sum %g over %d samples at step %d", p.LossSum, p.LossRows, p.Step)
	case len(s.History) != p.Epoch:
		return fmt.Errorf("history of %d epochs at epoch %d", len(s.History), p.Epoch)
	}
	for i, h := range s.History {
		if h.Epoch != i {
			return fmt.Errorf("history: entry %d is for epoch %d", i, h.Epoch)
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

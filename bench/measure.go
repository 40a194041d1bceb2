package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Options says how to time an entry.
type Options struct {
	Warmup int // untimed epochs before the first run
	Runs   int // timed runs; the report gives their median, min and max
	Epochs int // epochs per run
}

// Validate reports options that measure nothing.
func (o Options) Validate() error {
	if o.Warmup < 0 {
		return fmt.Errorf("warm-up %d epochs: must be 0 or more", o.Warmup)
	}
	if o.Runs < 1 {
		return fmt.Errorf("%d runs: need at least 1", o.Runs)
	}
	if o.Epochs < 1 {
		return fmt.Errorf("%d epochs per run: need at least 1", o.Epochs)
	}
	return nil
}

// Spread summarises repeated timings.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// NewSpread returns the median, min and max of xs (the mean of the middle
// two for an even count). It returns zeros for no values.
func NewSpread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[n-1]}
}

// Result is one entry's row of a comparison.
type Result struct {
	Backend          string    `json:"backend"`
	Device           string    `json:"device"`
	MsPerEpoch       Spread    `json:"ms_per_epoch"`
	SamplesPerSecond float64   `json:"samples_per_second"` // at the median epoch time
	GFLOPS           float64   `json:"gflops"`             // effective: the model's training FLOPs per sample × samples/s
	SpeedupVsGorg    *float64  `json:"speedup_vs_gorgonia"`
	TestAccuracy     float64   `json:"test_accuracy"` // after the last run (each run starts from the initial weights)
	TrainLoss        float64   `json:"train_loss"`    // mean step loss of the last epoch of the last run
	RunsMs           []float64 `json:"runs_ms_per_epoch"`
	// Source names the report a row was copied from when it was not
	// measured in this run (mnist bench --baseline); empty otherwise.
	Source string `json:"source,omitempty"`
}

// Measure times runner r: Warmup epochs from the initial weights, then Runs
// runs of Epochs epochs, each from the initial weights and the same data
// order, so every run does the same work and the accuracy after the last
// run is that of an Epochs-epoch training. Only the epochs are timed (each
// ends with the device synchronised); resets and the evaluation are not.
// r must train cfg on a training set of samples samples.
func Measure(ctx context.Context, r Runner, cfg Config, samples int, opt Options) (Result, error) {
	if err := opt.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{Backend: r.Name(), Device: r.Device()}
	if opt.Warmup > 0 {
		if err := r.Reset(); err != nil {
			return res, err
		}
		for e := 0; e < opt.Warmup; e++ {
			if err := r.Epoch(ctx); err != nil {
				return res, fmt.Errorf("%s: warm-up: %w", r.Name(), err)
			}
		}
	}
	for run := 0; run < opt.Runs; run++ {
		if err := r.Reset(); err != nil {
			return res, err
		}
		start := time.Now()
		for e := 0; e < opt.Epochs; e++ {
			if err := r.Epoch(ctx); err != nil {
				return res, fmt.Errorf("%s: run %d: %w", r.Name(), run+1, err)
			}
		}
		elapsed := time.Since(start)
		res.RunsMs = append(res.RunsMs, float64(elapsed.Microseconds())/1000/float64(opt.Epochs))
	}
	res.MsPerEpoch = NewSpread(res.RunsMs)
	if res.MsPerEpoch.Median > 0 {
		res.SamplesPerSecond = float64(samples) / (res.MsPerEpoch.Median / 1000)
		res.GFLOPS = res.SamplesPerSecond * cfg.Spec.FLOPsPerSample() / 1e9
	}
	losses, err := r.Losses()
	if err != nil {
		return res, err
	}
	res.TrainLoss = meanLoss(losses, cfg.Batch, samples)
	if math.IsNaN(res.TrainLoss) || math.IsInf(res.TrainLoss, 0) {
		return res, fmt.Errorf("%s: training diverged (mean loss of the last epoch %v): lower the learning rate (now %g)", r.Name(), res.TrainLoss, cfg.LR)
	}
	if res.TestAccuracy, err = r.TestAccuracy(); err != nil {
		return res, err
	}
	return res, nil
}

// meanLoss weights the step losses of an epoch of samples samples by their
// batch sizes: batch, but the last batch, which has the rest.
func meanLoss(losses []float32, batch, samples int) float64 {
	if len(losses) == 0 {
		return math.NaN()
	}
	var sum float64
	for i, l := range losses {
		rows := min(batch, samples-i*batch)
		sum += float64(l) * float64(rows)
	}
	return sum / float64(samples)
}

// SetSpeedups fills every row's SpeedupVsGorg with the gorgonia row's
// median time divided by the row's: how many times faster than gorgonia it
// trains. Without a gorgonia row they stay nil (null in JSON).
func SetSpeedups(results []Result) {
	var ref float64
	for _, r := range results {
		if r.Backend == Gorgonia {
			ref = r.MsPerEpoch.Median
		}
	}
	for i := range results {
		results[i].SpeedupVsGorg = nil
		if ref > 0 && results[i].MsPerEpoch.Median > 0 {
			s := ref / results[i].MsPerEpoch.Median
			results[i].SpeedupVsGorg = &s
		}
	}
}

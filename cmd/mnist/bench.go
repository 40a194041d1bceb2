package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/bench"
	"github.com/mnist-go/mnist/mnist"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "compare training speed: our backends against gorgonia and a naive Go baseline, on the real data",
		Description: "Trains the same network from the same initial weights on the same data order with every entry and\n" +
			"prints a table: ms per epoch (median, min and max of --runs runs after --warmup untimed epochs),\n" +
			"samples/s, effective GFLOP/s (the model's training FLOPs per sample × samples/s), the speed-up\n" +
			"against gorgonia and the test accuracy after a run. Every run starts from the initial weights, so\n" +
			"every run does the same work and the accuracy is that of --epochs epochs of training.\n\n" +
			"Entries: the registered backends (cpu, cuda), gorgonia (the network as a gorgonia.org/gorgonia\n" +
			"graph, float32, built once, TapeMachine, VanillaSolver) and naive (nn/naive's textbook loops).\n" +
			"By default every registered backend that opens here runs, and gorgonia; naive only when named in\n" +
			"--backends, since it takes about 10× as long as gorgonia.\n\n" +
			"A CUDA build cannot link gorgonia (its own cuda build tag needs cuDNN): there, pass the output of\n" +
			"the pure-Go build's `mnist bench --backends gorgonia --json` with --baseline; its gorgonia row is\n" +
			"added to the table, marked with the file it came from, and the speed-ups are computed against it.",
		Flags: []cli.Flag{dataDirFlag(),
			&cli.StringFlag{Name: "backends", Usage: "comma-separated entries to run, e.g. cpu,cuda,gorgonia,naive (default: every registered backend that opens here, and gorgonia)"},
			&cli.StringFlag{Name: "model", Value: "mlp", Usage: "architecture: mlp or cnn (plain SGD at --lr either way)"},
			&cli.StringFlag{Name: "hidden", Value: "64,32", Usage: "hidden layer widths of the mlp"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "samples per step"},
			&cli.Float64Flag{Name: "lr", Value: 0.005, Usage: "learning rate of plain SGD"},
			&cli.IntFlag{Name: "epochs", Value: 1, Usage: "epochs per timed run"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "timed runs per entry (the table gives their median, min and max)"},
			&cli.IntFlag{Name: "warmup", Value: 1, Usage: "untimed epochs per entry before the runs"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the initial weights and the shuffle"},
			&cli.StringFlag{Name: "baseline", Usage: "a `mnist bench --json` output whose gorgonia row gives the speed-ups when gorgonia does not run here (CUDA builds cannot link it)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of the table (progress goes to stderr either way)"},
		},
		Action: benchAction,
	}
}

// benchEntries resolves --backends: the named entries, checked, or by default
// every registered backend and gorgonia. explicit says whether they were named.
func benchEntries(c *cli.Context) (names []string, explicit bool, err error) {
	known := bench.Names()
	if !c.IsSet("backends") {
		return slices.DeleteFunc(known, func(n string) bool { return n == bench.Naive }), false, nil
	}
	for _, n := range strings.Split(c.String("backends"), ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			continue
		case !slices.Contains(known, n):
			return nil, true, usageErrorf("--backends: unknown entry %q: choose from %s", n, strings.Join(known, ", "))
		case slices.Contains(names, n):
			return nil, true, usageErrorf("--backends: %s is named twice", n)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, true, usageErrorf("--backends is empty: name at least one of %s", strings.Join(known, ", "))
	}
	return names, true, nil
}

func benchAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	names, explicit, err := benchEntries(c)
	if err != nil {
		return err
	}
	// The model flags, checked before the data is loaded (the spec itself
	// waits for the data's image size).
	if _, err := specFromModelFlags(c, 28, 28, mnist.DigitClasses); err != nil {
		return err
	}
	opt := bench.Options{Warmup: c.Int("warmup"), Runs: c.Int("runs"), Epochs: c.Int("epochs")}
	if err := opt.Validate(); err != nil {
		return usageErrorf("%v (see --warmup, --runs and --epochs)", err)
	}
	if !(c.Float64("lr") > 0) {
		return usageErrorf("--lr %g: the learning rate must be positive", c.Float64("lr"))
	}
	if c.Int("batch") < 1 {
		return usageErrorf("--batch %d: must be at least 1", c.Int("batch"))
	}
	dir := c.String("data-dir")
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		return err
	}
	spec, err := specFromModelFlags(c, train.Rows, train.Cols, train.Classes)
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Spec:  spec,
		Batch: c.Int("batch"),
		LR:    float32(c.Float64("lr")),
		Seed:  c.Uint64("seed"),
	}
	if cfg.Batch > train.Len() {
		return usageErrorf("--batch %d is larger than the training set (%d samples in %s)", cfg.Batch, train.Len(), dir)
	}

	if explicit {
		// Fail before any timing when a named backend cannot run here.
		for _, name := range names {
			if err := bench.Check(name); err != nil {
				return err
			}
		}
	}
	log := c.App.ErrWriter
	report := &bench.Report{
		Date: time.Now().Format(time.RFC3339), Machine: bench.ThisMachine(), Data: dir,
		TrainSamples: train.Len(), TestSamples: test.Len(),
		Model: cfg.Spec.String(), Params: cfg.Spec.NumParams(), FLOPsPerSample: cfg.Spec.FLOPsPerSample(),
		Batch: cfg.Batch, LR: c.Float64("lr"), Epochs: opt.Epochs, Runs: opt.Runs, Warmup: opt.Warmup,
	}
	baseline, err := readBaseline(c.String("baseline"), report)
	if err != nil {
		return err
	}
	for _, name := range names {
		r, err := bench.Open(name, cfg, train, test)
		if err != nil {
			if explicit {
				return err
			}
			fmt.Fprintf(log, "bench: skipping %s: %v\n", name, err)
			report.Skipped = append(report.Skipped, bench.Skip{Backend: name, Reason: err.Error()})
			continue
		}
		fmt.Fprintf(log, "bench: %s on %s: %s of warm-up, %d runs of %s…\n", name, r.Device(), count(opt.Warmup, "epoch"), opt.Runs, count(opt.Epochs, "epoch"))
		res, err := bench.Measure(c.Context, r, cfg, train.Len(), opt)
		if cerr := r.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", name, cerr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "bench: %s: %.1f ms per epoch (median; min %.1f, max %.1f), test accuracy %.2f%%\n",
			name, res.MsPerEpoch.Median, res.MsPerEpoch.Min, res.MsPerEpoch.Max, 100*res.TestAccuracy)
		report.Results = append(report.Results, res)
	}
	if len(report.Results) == 0 {
		return errors.New("no entry could run here")
	}
	if baseline != nil {
		if _, ran := report.Row(bench.Gorgonia); ran {
			fmt.Fprintf(log, "bench: gorgonia ran here: its row from --baseline %s is not used\n", baseline.Source)
		} else {
			report.Results = append(report.Results, *baseline)
		}
	}
	bench.SetSpeedups(report.Results)
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteTable(c.App.Writer)
}

// readBaseline returns the gorgonia row of the report at path (nil for no
// path), after checking that it timed the same workload as report.
func readBaseline(path string, report *bench.Report) (*bench.Result, error) {
	if path == "" {
		return nil, nil
	}
	base, err := bench.ReadReport(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	row, ok := base.Row(bench.Gorgonia)
	if !ok {
		return nil, fmt.Errorf("--baseline %s has no gorgonia row: make it with `mnist bench --backends gorgonia --json` from the pure-Go build", path)
	}
	if err := report.SameWorkload(base); err != nil {
		return nil, fmt.Errorf("--baseline %s timed another workload (%v): rerun it with the same --hidden, --batch and --lr on the same data", path, err)
	}
	if !(row.MsPerEpoch.Median > 0) {
		return nil, fmt.Errorf("--baseline %s: the gorgonia row has no time per epoch", path)
	}
	row.Source = path
	return &row, nil
}

// count writes n units, in the plural unless n is 1.
func count(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

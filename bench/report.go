package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unicode/utf8"
)

// Report is a whole comparison, as `mnist bench --json` prints it.
type Report struct {
	Date           string   `json:"date"` // RFC 3339
	Machine        Machine  `json:"machine"`
	Data           string   `json:"data"` // where the training and test sets came from
	TrainSamples   int      `json:"train_samples"`
	TestSamples    int      `json:"test_samples"`
	Model          string   `json:"model"`
	Params         int      `json:"params"`
	FLOPsPerSample float64  `json:"flops_per_sample"` // training FLOPs, nn.Spec.FLOPsPerSample
	Batch          int      `json:"batch"`
	LR             float64  `json:"lr"`
	Epochs         int      `json:"epochs"` // per run
	Runs           int      `json:"runs"`
	Warmup         int      `json:"warmup_epochs"`
	Results        []Result `json:"results"`
	Skipped        []Skip   `json:"skipped,omitempty"`
}

// Skip records an entry that could not run here, and why.
type Skip struct {
	Backend string `json:"backend"`
	Reason  string `json:"reason"`
}

// Machine describes the host that ran a comparison.
type Machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"` // logical CPUs the process may use
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// ThisMachine describes the host: the CPU model from /proc/cpuinfo where
// there is one, else the architecture.
func ThisMachine() Machine {
	return Machine{
		CPU:        cpuModel(),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

// ReadReport reads a report that `mnist bench --json` wrote.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not the output of `mnist bench --json`: %v", path, err)
	}
	return &r, nil
}

// Row returns the result of entry name.
func (r *Report) Row(name string) (Result, bool) {
	for _, res := range r.Results {
		if res.Backend == name {
			return res, true
		}
	}
	return Result{}, false
}

// SameWorkload reports how o's workload differs from r's (model, batch,
// learning rate, training set size), or nil when they match and their
// times per epoch compare.
func (r *Report) SameWorkload(o *Report) error {
	var diffs []string
	if r.Model != o.Model {
		diffs = append(diffs, fmt.Sprintf("model %s, not %s", o.Model, r.Model))
	}
	if r.Batch != o.Batch {
		diffs = append(diffs, fmt.Sprintf("batch %d, not %d", o.Batch, r.Batch))
	}
	if r.LR != o.LR {
		diffs = append(diffs, fmt.Sprintf("lr %g, not %g", o.LR, r.LR))
	}
	if r.TrainSamples != o.TrainSamples {
		diffs = append(diffs, fmt.Sprintf("%d training samples, not %d", o.TrainSamples, r.TrainSamples))
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, ", "))
	}
	return nil
}

// WriteTable prints the report for people: a line on the workload, one row
// per entry, then the entries that could not run.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s (%d parameters, %.0f training FLOPs per sample), batch %d, plain SGD lr %g, %d train / %d test samples from %s\n",
		r.Model, r.Params, r.FLOPsPerSample, r.Batch, r.LR, r.TrainSamples, r.TestSamples, r.Data)
	fmt.Fprintf(w, "%s, %d CPUs, GOMAXPROCS %d, %s; %s of warm-up, then the median of %d runs of %s each\n\n",
		r.Machine.CPU, r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.Go, plural(r.Warmup, "epoch"), r.Runs, plural(r.Epochs, "epoch"))
	rows := [][]string{{"backend", "ms/epoch", "min", "max", "samples/s", "GFLOP/s", "vs gorgonia", "test acc", "device"}}
	for _, res := range r.Results {
		speedup := "-"
		if res.SpeedupVsGorg != nil {
			speedup = fmt.Sprintf("%.2f×", *res.SpeedupVsGorg)
		}
		device := res.Device
		if res.Source != "" {
			device += " [from " + res.Source + "]"
		}
		rows = append(rows, []string{
			res.Backend,
			fmt.Sprintf("%.1f", res.MsPerEpoch.Median),
			fmt.Sprintf("%.1f", res.MsPerEpoch.Min),
			fmt.Sprintf("%.1f", res.MsPerEpoch.Max),
			fmt.Sprintf("%.0f", res.SamplesPerSecond),
			fmt.Sprintf("%.2f", res.GFLOPS),
			speedup,
			fmt.Sprintf("%.2f%%", 100*res.TestAccuracy),
			device,
		})
	}
	// The first and last columns are text, left-aligned; the rest are numbers.
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			switch {
			case i == 0:
				b.WriteString(cell + pad)
			case i == len(row)-1:
				b.WriteString("  " + cell)
			default:
				b.WriteString("  " + pad + cell)
			}
		}
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Backend, s.Reason)
	}
	return nil
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mnist-go/mnist/nn"
)

func TestNewSpread(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{5}, Spread{5, 5, 5}},
		{[]float64{3, 1, 2}, Spread{2, 1, 3}},
		{[]float64{4, 1, 3, 2}, Spread{2.5, 1, 4}},
		{[]float64{7, 7, 1, 100, 7}, Spread{7, 1, 100}},
	} {
		in := append([]float64(nil), tc.in...)
		if got := NewSpread(in); got != tc.want {
			t.Errorf("NewSpread(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
		for i := range in { // the input is not reordered
			if in[i] != tc.in[i] {
				t.Errorf("NewSpread reordered its input: %v", in)
			}
		}
	}
}

func TestMeanLoss(t *testing.T) {
	// 100 samples in batches of 30: 30, 30, 30, 10.
	got := meanLoss([]float32{1, 2, 3, 4}, 30, 100)
	want := (30*1 + 30*2 + 30*3 + 10*4) / 100.0
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("meanLoss = %g, want %g", got, want)
	}
	if !math.IsNaN(meanLoss(nil, 30, 100)) {
		t.Error("meanLoss of no losses is not NaN")
	}
}

func TestSetSpeedups(t *testing.T) {
	rs := []Result{
		{Backend: "cpu", MsPerEpoch: Spread{Median: 100}},
		{Backend: Gorgonia, MsPerEpoch: Spread{Median: 1500}},
		{Backend: Naive, MsPerEpoch: Spread{Median: 15000}},
	}
	SetSpeedups(rs)
	for i, want := range []float64{15, 1, 0.1} {
		if rs[i].SpeedupVsGorg == nil || math.Abs(*rs[i].SpeedupVsGorg-want) > 1e-12 {
			t.Errorf("%s: speed-up %v, want %g", rs[i].Backend, rs[i].SpeedupVsGorg, want)
		}
	}
	rs = rs[:1]
	SetSpeedups(rs)
	if rs[0].SpeedupVsGorg != nil {
		t.Errorf("speed-up %g without a gorgonia row, want none", *rs[0].SpeedupVsGorg)
	}
}

// fakeRunner records what Measure asks of it; every epoch takes sleep.
type fakeRunner struct {
	calls   []string
	sleep   time.Duration
	loss    float32
	epochOK int // epochs that succeed before Epoch fails; -1 for all
}

func (f *fakeRunner) Name() string   { return "fake" }
func (f *fakeRunner) Device() string { return "test double" }
func (f *fakeRunner) Step() error    { return errors.New("not used") }
func (f *fakeRunner) Epoch(ctx context.Context) error {
	if f.epochOK == 0 {
		return errors.New("device lost")
	}
	f.epochOK--
	f.calls = append(f.calls, "epoch")
	time.Sleep(f.sleep)
	return ctx.Err()
}
func (f *fakeRunner) Sync() error { return nil }
func (f *fakeRunner) Losses() ([]float32, error) {
	return []float32{f.loss, f.loss, f.loss, f.loss}, nil
}
func (f *fakeRunner) TestAccuracy() (float64, error) {
	f.calls = append(f.calls, "eval")
	return 0.75, nil
}
func (f *fakeRunner) Params() ([]float32, error) { return nil, nil }
func (f *fakeRunner) Reset() error               { f.calls = append(f.calls, "reset"); return nil }
func (f *fakeRunner) Close() error               { return nil }

func TestMeasure(t *testing.T) {
	cfg := TutorialConfig(28, 28, nn.DefaultHidden)
	cfg.Batch = 30
	f := &fakeRunner{sleep: 2 * time.Millisecond, loss: 0.5, epochOK: -1}
	res, err := Measure(context.Background(), f, cfg, 100, Options{Warmup: 1, Runs: 3, Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := "reset epoch reset epoch epoch reset epoch epoch reset epoch epoch eval"
	if got := strings.Join(f.calls, " "); got != want {
		t.Errorf("calls:\n  %s\nwant\n  %s", got, want)
	}
	if len(res.RunsMs) != 3 {
		t.Fatalf("%d run times, want 3", len(res.RunsMs))
	}
	// Each epoch sleeps 2 ms: no run can be faster, and the spread is ordered.
	if s := res.MsPerEpoch; !(s.Min >= 2 && s.Min <= s.Median && s.Median <= s.Max) {
		t.Errorf("ms per epoch %+v: want 2 ≤ min ≤ median ≤ max", s)
	}
	if want := 100 / (res.MsPerEpoch.Median / 1000); math.Abs(res.SamplesPerSecond-want) > 1e-9*want {
		t.Errorf("samples/s %g, want %g", res.SamplesPerSecond, want)
	}
	if want := res.SamplesPerSecond * cfg.Spec.FLOPsPerSample() / 1e9; math.Abs(res.GFLOPS-want) > 1e-9*want {
		t.Errorf("GFLOP/s %g, want %g", res.GFLOPS, want)
	}
	if res.TestAccuracy != 0.75 || res.TrainLoss != 0.5 || res.Backend != "fake" || res.Device != "test double" {
		t.Errorf("result %+v", res)
	}

	if _, err := Measure(context.Background(), &fakeRunner{epochOK: 2}, cfg, 100, Options{Runs: 3, Epochs: 1}); err == nil || !strings.Contains(err.Error(), "run 3: device lost") {
		t.Errorf("failing third run: error %v, want one naming run 3", err)
	}
	if _, err := Measure(context.Background(), &fakeRunner{epochOK: -1, loss: float32(math.NaN())}, cfg, 100, Options{Runs: 1, Epochs: 1}); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("NaN loss: error %v, want divergence", err)
	}
	for _, bad := range []Options{{Runs: 0, Epochs: 1}, {Runs: 1, Epochs: 0}, {Warmup: -1, Runs: 1, Epochs: 1}} {
		if _, err := Measure(context.Background(), &fakeRunner{epochOK: -1}, cfg, 100, bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}

// TestReportJSON pins the field names that tutorial.py mirrors and scripts read.
func TestReportJSON(t *testing.T) {
	s := 12.5
	rep := Report{
		Model: "mlp-64-32", Batch: 64, LR: 0.005, Runs: 3, Epochs: 1,
		Results: []Result{
			{Backend: "cpu", Device: "x", MsPerEpoch: Spread{100, 90, 110}, SamplesPerSecond: 600000, GFLOPS: 128.9, SpeedupVsGorg: &s, TestAccuracy: 0.9},
			{Backend: "gorgonia", MsPerEpoch: Spread{1250, 1200, 1300}},
		},
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	row := got.Results[0]
	for _, key := range []string{"backend", "device", "ms_per_epoch", "samples_per_second", "gflops", "speedup_vs_gorgonia", "test_accuracy"} {
		if _, ok := row[key]; !ok {
			t.Errorf("result row lacks %q: %v", key, row)
		}
	}
	ms, _ := row["ms_per_epoch"].(map[string]any)
	if ms["median"] != 100.0 || ms["min"] != 90.0 || ms["max"] != 110.0 {
		t.Errorf("ms_per_epoch = %v", row["ms_per_epoch"])
	}
	if got.Results[1]["speedup_vs_gorgonia"] != nil {
		t.Errorf("unset speed-up is %v, want null", got.Results[1]["speedup_vs_gorgonia"])
	}
}

func TestWriteTable(t *testing.T) {
	s := 12.5
	rep := Report{
		Model: "mlp-64-32", Batch: 64, LR: 0.005, Runs: 3, Epochs: 1, Warmup: 1, Data: "data",
		Results: []Result{
			{Backend: "cpu", Device: "AMD EPYC (2 threads)", MsPerEpoch: Spread{100, 90, 110}, SamplesPerSecond: 600000, GFLOPS: 128.9, SpeedupVsGorg: &s, TestAccuracy: 0.9},
			{Backend: "gorgonia", Device: "gorgonia", MsPerEpoch: Spread{1250, 1200, 1300}, SamplesPerSecond: 48000, Source: "gorgonia.json"},
		},
		Skipped: []Skip{{Backend: "cuda", Reason: "built without CUDA support"}},
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"lr 0.005", "median of 3 runs of 1 epoch each", "12.50×", "90.00%", "AMD EPYC (2 threads)", "skipped cuda: built without CUDA support", "gorgonia [from gorgonia.json]"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Columns line up: every row of the table has its device at the same offset.
	lines := strings.Split(out, "\n")
	var header, cpu string
	for _, l := range lines {
		if strings.HasPrefix(l, "backend") {
			header = l
		}
		if strings.HasPrefix(l, "cpu ") {
			cpu = l
		}
	}
	if i, j := strings.Index(header, "device"), strings.Index(cpu, "AMD"); i < 0 || len([]rune(header[:i])) != len([]rune(cpu[:j])) {
		t.Errorf("device column not aligned:\n%s\n%s", header, cpu)
	}
}

func TestReadReport(t *testing.T) {
	rep := Report{Model: "mlp-64-32", Batch: 64, LR: 0.005, TrainSamples: 60000, Epochs: 1,
		Results: []Result{{Backend: "cpu"}, {Backend: Gorgonia, MsPerEpoch: Spread{1500, 1400, 1600}}}}
	path := t.TempDir() + "/bench.json"
	data, _ := json.Marshal(rep)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	row, ok := got.Row(Gorgonia)
	if !ok || row.MsPerEpoch.Median != 1500 {
		t.Errorf("gorgonia row %+v, %v", row, ok)
	}
	if _, ok := got.Row(Naive); ok {
		t.Error("found a naive row that is not there")
	}
	if err := rep.SameWorkload(got); err != nil {
		t.Errorf("same workload: %v", err)
	}
	other := *got
	other.Batch, other.LR, other.Epochs = 32, 0.01, 3 // epochs per run do not matter: times are per epoch
	if err := rep.SameWorkload(&other); err == nil || !strings.Contains(err.Error(), "batch 32, not 64") || !strings.Contains(err.Error(), "lr 0.01, not 0.005") || strings.Contains(err.Error(), "epoch") {
		t.Errorf("different workload: %v", err)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(path); err == nil || !strings.Contains(err.Error(), "mnist bench --json") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := ReadReport(path + ".missing"); err == nil {
		t.Error("a missing file was read")
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A `go test -json` stream with a pass, two skips for one reason, one for
// another, a failure and a package-level ok line.
const stream = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:12: TensorBoard reader not installed: pip install tensorboard\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:7: TensorBoard reader not installed: pip install tensorboard\n"}
{"Action":"skip","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestD","Output":"    d_test.go:9: no CUDA device\n"}
{"Action":"skip","Package":"p","Test":"TestD"}
{"Action":"output","Package":"p","Test":"TestE","Output":"    e_test.go:3: got 1, want 2\n"}
{"Action":"output","Package":"p","Test":"TestE","Output":"--- FAIL: TestE (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestE"}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}
{"Action":"fail","Package":"p"}
`

func TestFilterAndSummary(t *testing.T) {
	var out strings.Builder
	skips, failed, err := filter(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failed test was not reported as a failure")
	}
	got := out.String()
	for _, want := range []string{"e_test.go:3: got 1, want 2", "--- FAIL: TestE", "FAIL\tp\t0.01s"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, noise := range []string{"=== RUN", "TestA", "pip install", "PASS\n"} {
		if strings.Contains(got, noise) {
			t.Errorf("output has %q, which plain go test does not print:\n%s", noise, got)
		}
	}
	want := "skipped: 3 (2 TensorBoard reader not installed: pip install tensorboard; 1 no CUDA device)"
	if s := summary(skips); s != want {
		t.Errorf("summary %q, want %q", s, want)
	}
	if s := summary(nil); s != "skipped: none" {
		t.Errorf("summary of no skips: %q", s)
	}

	// Recorded by two invocations (unit, then race): each test counts once.
	path := filepath.Join(t.TempDir(), "skips")
	for range 2 {
		if err := appendRecord(path, skips); err != nil {
			t.Fatal(err)
		}
	}
	recorded, err := readRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(recorded); s != want {
		t.Errorf("summary of the record %q, want %q", s, want)
	}
}

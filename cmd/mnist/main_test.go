package main

// End-to-end tests of the mnist command. Two ways in:
//
//   - inproc runs the command in this process through run(ctx, args, stdout,
//     stderr): fast, and a test can cancel ctx with an interruption as the
//     signal handler would, at a point it chooses;
//   - bin runs the real binary, which TestMain builds once (go build), for
//     what needs a process: signals, exit statuses as the shell sees them,
//     files left behind by a killed process.
//
// Every run passes --backend cpu, an explicit --data-dir, --out and
// --logdir, so that nothing depends on the environment ($MNIST_DATA,
// $MNIST_BACKEND) and nothing is written into the package directory.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// binPath is the mnist binary TestMain built, or binErr says why there is
// none. sharedDir is a temporary directory that lives as long as the test
// binary, for fixtures that several tests share.
var (
	binPath   string
	binErr    error
	sharedDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mnist-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = filepath.Join(dir, "shared")
	if err := os.Mkdir(sharedDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, binErr = buildBinary(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds this package into dir with the go command.
func buildBinary(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build the binary: %w", err)
	}
	out := filepath.Join(dir, "mnist")
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, output)
	}
	return out, nil
}

// binary returns the built binary, or ends the test when there is none.
func binary(t *testing.T) string {
	t.Helper()
	if binErr != nil {
		t.Fatalf("the mnist binary could not be built: %v", binErr)
	}
	return binPath
}

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// inproc runs `mnist args...` in this process.
func inproc(ctx context.Context, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"mnist"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// mustInproc runs inproc and fails the test unless it exits 0.
func mustInproc(t *testing.T, args ...string) result {
	t.Helper()
	r := inproc(context.Background(), args...)
	if r.code != 0 {
		t.Fatalf("mnist %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// command prepares the binary with args, run in dir, in an environment
// without the variables that would change its flags' defaults.
func command(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = testEnv()
	return cmd
}

// testEnv is the environment without the variables that set flags' defaults.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MNIST_BACKEND=") && !strings.HasPrefix(kv, "MNIST_DATA=") {
			env = append(env, kv)
		}
	}
	return env
}

// bin runs the binary with args in dir and waits for it.
func bin(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := command(t, dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %s: %v", cmd, err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// synthetic writes a synthetic data set into a new temporary directory.
func synthetic(t *testing.T, nTrain, nTest, rows, cols int, seed uint64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fmt.Sprintf("synthetic-%d", seed))
	mnisttest.Synthetic(t, dir, nTrain, nTest, rows, cols, seed)
	return dir
}

// trainJSON is the part of `mnist train --json` the tests compare.
type trainJSON struct {
	Model        string    `json:"model"`
	Epochs       int       `json:"epochs"`
	TrainLoss    []float64 `json:"train_loss"`
	TestLoss     []float64 `json:"test_loss"`
	TestAccuracy []float64 `json:"test_accuracy"`
	Checkpoint   string    `json:"checkpoint"`
}

func parseTrainJSON(t *testing.T, r result) trainJSON {
	t.Helper()
	var j trainJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("train --json printed no JSON result (%v): %v", err, r)
	}
	if len(j.TrainLoss) != j.Epochs || len(j.TestLoss) != j.Epochs || len(j.TestAccuracy) != j.Epochs {
		t.Fatalf("train --json: %d epochs but %d, %d and %d results: %v", j.Epochs, len(j.TrainLoss), len(j.TestLoss), len(j.TestAccuracy), r)
	}
	return j
}

// sameHistory reports, for people, how two runs' per-epoch results differ
// (they must be bit-identical); "" when they do not.
func sameHistory(got, want trainJSON) string {
	var diffs []string
	for _, s := range []struct {
		name      string
		got, want []float64
	}{{"train_loss", got.TrainLoss, want.TrainLoss}, {"test_loss", got.TestLoss, want.TestLoss}, {"test_accuracy", got.TestAccuracy, want.TestAccuracy}} {
		if !slices.Equal(s.got, s.want) {
			diffs = append(diffs, fmt.Sprintf("%s %v, want %v", s.name, s.got, s.want))
		}
	}
	return strings.Join(diffs, "; ")
}

// sha256File returns the hex SHA-256 of a file's content.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checksums returns the SHA-256 of every file in dir, by name.
func checksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			sums[e.Name()] = sha256File(t, filepath.Join(dir, e.Name()))
		}
	}
	return sums
}

// isTempName reports whether name is a temporary file of internal/atomicfile
// (".<final name>.tmp-<random>") or of checkWritable (".mnist-write-test-*").
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.HasPrefix(name, ".mnist-write-test-"))
}

// listDir returns the names in dir (none when it does not exist).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// loadCheckpoint loads a checkpoint and fails the test when it is not complete.
func loadCheckpoint(t *testing.T, path string) *nn.Checkpoint {
	t.Helper()
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		t.Fatalf("checkpoint left behind is not loadable: %v", err)
	}
	return ck
}

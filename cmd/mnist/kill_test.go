//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// killRun is the run the process tests interrupt: 8 epochs of 47 steps on a
// small synthetic set, a checkpoint after every epoch, about a second on two
// cores. The reference is the same run, uninterrupted.
type killRun struct {
	data      string   // the data set
	args      []string // the train command line but --out
	model     []byte   // the reference's model file
	json      trainJSON
	runtime   time.Duration // from the first line on stderr to exit
	refDir    string        // holds the reference's model and last checkpoint
	checkName string        // base name of the checkpoint
}

var killFix struct {
	once sync.Once
	run  *killRun
}

// killReference returns the shared reference run, made on first use.
func killReference(t *testing.T) *killRun {
	t.Helper()
	binary(t)
	killFix.once.Do(func() {
		data := filepath.Join(sharedDir, "kill-data")
		mnisttest.Synthetic(t, data, 3000, 300, 28, 28, 3)
		k := &killRun{data: data, refDir: filepath.Join(sharedDir, "kill-reference"), checkName: "m.ckpt.safetensors",
			args: []string{"--data-dir", data, "train", "--backend", "cpu", "--epochs", "8", "--checkpoint-every", "1", "--logdir", "none", "--json"}}
		if err := os.Mkdir(k.refDir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := start(t, sharedDir, append(k.args, "--out", filepath.Join(k.refDir, "m.safetensors"))...)
		p.waitOutput(t)
		began := time.Now()
		r := p.wait()
		k.runtime = time.Since(began)
		if r.code != 0 {
			t.Fatalf("the reference run failed: %v", r)
		}
		k.json = parseTrainJSON(t, r)
		var err error
		if k.model, err = os.ReadFile(filepath.Join(k.refDir, "m.safetensors")); err != nil {
			t.Fatal(err)
		}
		killFix.run = k
	})
	if killFix.run == nil {
		t.Fatal("the reference run failed in an earlier test")
	}
	return killFix.run
}

// proc is a running mnist process whose output the test can watch.
type proc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{} // closed when the process has ended and its output is in
}

// lockedBuffer is a bytes.Buffer that the process's output copier writes
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: command(t, dir, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() { // the test failed before waiting
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor waits until stderr contains s (or fails the test after a minute,
// or as soon as the process has ended without printing it).
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on stderr after a minute:\n%s", s, p.stderr.String())
		}
		if p.exited() {
			t.Fatalf("the process ended without printing %q:\n%s", s, p.stderr.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitOutput waits for the first line on stderr: by then main has installed
// its signal handler (which it does before anything else).
func (p *proc) waitOutput(t *testing.T) { p.waitFor(t, "\n") }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) wait() result {
	<-p.done
	return result{p.cmd.ProcessState.ExitCode(), p.stdout.String(), p.stderr.String()}
}

// signalled returns the signal that ended the process, if one did.
func (p *proc) signalled() (syscall.Signal, bool) {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return s.String()
}

var interruptedAt = regexp.MustCompile(`interrupted at epoch (\d+), step (\d+) of (\d+): checkpoint saved to (\S+)`)

// checkInterrupted checks the message of a run stopped by a first signal:
// where it stopped, and the command that resumes it, which must match the
// checkpoint's recorded position.
func checkInterrupted(t *testing.T, k *killRun, r result, checkpoint string) {
	t.Helper()
	m := interruptedAt.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no \"interrupted at epoch …: checkpoint saved to …\" message:\n%s", r.stderr)
	}
	if m[4] != checkpoint {
		t.Errorf("the message names checkpoint %s, want %s", m[4], checkpoint)
	}
	hint := fmt.Sprintf("resume with: mnist train --resume %s --data-dir %s", checkpoint, k.data)
	if !strings.Contains(r.stderr, hint) {
		t.Errorf("stderr does not say %q:\n%s", hint, r.stderr)
	}
	ck := loadCheckpoint(t, checkpoint)
	epoch, _ := strconv.Atoi(m[1])
	step, _ := strconv.Atoi(m[2])
	if pos := ck.State.Position; pos.Epoch != epoch-1 || pos.Step != step {
		t.Errorf("the message says epoch %d step %d, the checkpoint holds epoch %d step %d (0-based epoch)", epoch, step, pos.Epoch, pos.Step)
	}
}

// resumeAndCompare resumes from checkpoint to the end and checks that the
// result is bit-identical to the uninterrupted reference: every epoch's
// losses and accuracy, and the model file.
func resumeAndCompare(t *testing.T, k *killRun, dir, checkpoint string) {
	t.Helper()
	// The command the hint gives, with the test's output options.
	r := bin(t, dir, "--data-dir", k.data, "train", "--resume", checkpoint, "--backend", "cpu", "--logdir", "none", "--json")
	if r.code != 0 {
		t.Fatalf("resume: %v", r)
	}
	compareWithReference(t, k, r, filepath.Join(filepath.Dir(checkpoint), "m.safetensors"))
}

func compareWithReference(t *testing.T, k *killRun, r result, model string) {
	t.Helper()
	if d := sameHistory(parseTrainJSON(t, r), k.json); d != "" {
		t.Errorf("the per-epoch results differ from the uninterrupted run: %s", d)
	}
	got, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, k.model) {
		t.Errorf("%s differs from the uninterrupted run's model file", model)
	}
}

// TestKillLoop interrupts real training processes at random moments, with
// SIGINT (clean stop: exit status 130, a checkpoint and a resume hint) or
// SIGKILL (no chance to clean up), at least 20 times. After each: every
// file at a final name in the output directory is complete and loadable
// (a model file is even bit-identical to the reference's), SIGINT leaves no
// temporary file, and resuming from the checkpoint reproduces the
// uninterrupted run bit for bit. $MNIST_KILL_SEED replays the choices of
// signals and delays (the timing of the processes varies anyway).
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill loop runs about 50 training processes")
	}
	k := killReference(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MNIST_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("$MNIST_KILL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (MNIST_KILL_SEED=%d replays the choices); the uninterrupted run takes %v", seed, seed, k.runtime.Round(time.Millisecond))
	rng := rand.New(rand.NewPCG(seed, 0))
	span := k.runtime

	const want, maxRuns = 20, 40
	var interrupted, resumed, completed, noCheckpoint, leftTemp int
	for i := 0; interrupted < want; i++ {
		if i == maxRuns {
			t.Fatalf("only %d of %d runs were interrupted before they finished: the delays are too long for this machine", interrupted, maxRuns)
		}
		sig := syscall.SIGINT
		if rng.IntN(2) == 1 {
			sig = syscall.SIGKILL
		}
		delay := time.Duration(rng.Float64() * 0.95 * float64(span))
		dir := filepath.Join(t.TempDir(), "out")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		checkpoint := filepath.Join(dir, k.checkName)

		p := start(t, dir, append(k.args, "--out", filepath.Join(dir, "m.safetensors"))...)
		p.waitOutput(t)
		began := time.Now()
		time.Sleep(delay)
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		r := p.wait()
		elapsed := time.Since(began)
		got, bySignal := p.signalled()
		outcome := fmt.Sprintf("exit status %d", r.code)
		if bySignal {
			outcome = "killed by " + signalName(got)
		}
		if m := interruptedAt.FindStringSubmatch(r.stderr); m != nil {
			outcome += fmt.Sprintf(" at epoch %s step %s", m[1], m[2])
		}
		names := listDir(t, dir)
		t.Logf("run %2d: %-7s after %4dms → %s; left %q", i+1, signalName(sig), delay.Milliseconds(), outcome, names)

		switch {
		case r.code == 0: // finished before the signal came
			completed++
			// The reference was timed on a busier machine: aim the
			// delays at the runs' real length.
			span = min(span, elapsed)
			compareWithReference(t, k, r, filepath.Join(dir, "m.safetensors"))
			continue
		case sig == syscall.SIGINT && r.code == 130 && strings.Contains(r.stderr, "interrupted before the first step"):
			// Stopped during start-up: no step taken, nothing written (issue 16).
		case sig == syscall.SIGINT && r.code == 130:
			checkInterrupted(t, k, r, checkpoint)
		case sig == syscall.SIGKILL && bySignal && got == syscall.SIGKILL:
		default:
			t.Fatalf("run %d: %v, want exit status 130 for SIGINT or death by SIGKILL\n%v", i+1, outcome, r)
		}
		interrupted++

		for _, name := range names {
			path := filepath.Join(dir, name)
			switch {
			case name == k.checkName:
				loadCheckpoint(t, path)
			case name == "m.safetensors":
				if b, _ := os.ReadFile(path); !bytes.Equal(b, k.model) {
					t.Errorf("run %d: %s is not the complete model file", i+1, path)
				}
			case isTempName(name) && sig == syscall.SIGKILL:
				// A write in progress when the process died: allowed (the
				// final name is untouched), reported.
				leftTemp++
				t.Logf("run %d: SIGKILL left the temporary file %s", i+1, name)
			default:
				t.Errorf("run %d: unexpected file %s left behind by %s", i+1, name, signalName(sig))
			}
		}
		if _, err := os.Stat(checkpoint); err != nil {
			noCheckpoint++ // killed before the first epoch ended: nothing to resume
			continue
		}
		resumeAndCompare(t, k, dir, checkpoint)
		resumed++
		if t.Failed() {
			t.Fatalf("stopping after run %d (seed %d)", i+1, seed)
		}
	}
	t.Logf("%d runs interrupted (%d resumed, %d stopped before their first checkpoint), %d finished before the signal; %d temporary files left by SIGKILL",
		interrupted, resumed, noCheckpoint, completed, leftTemp)
	if resumed < want/4 {
		t.Errorf("only %d runs had a checkpoint to resume from: the loop did not test resuming", resumed)
	}
}

// TestSIGTERM stops a run with SIGTERM after its second epoch: exit status
// 143, a checkpoint and a resume hint, and the resumed run matches the
// uninterrupted one.
func TestSIGTERM(t *testing.T) {
	k := killReference(t)
	dir := t.TempDir()
	checkpoint := filepath.Join(dir, k.checkName)
	p := start(t, dir, append(k.args, "--out", filepath.Join(dir, "m.safetensors"))...)
	p.waitFor(t, "epoch 2/8")
	p.cmd.Process.Signal(syscall.SIGTERM)
	r := p.wait()
	if r.code != 143 {
		t.Fatalf("exit status %d, want 143\n%v", r.code, r)
	}
	checkInterrupted(t, k, r, checkpoint)
	if names := listDir(t, dir); len(names) != 1 || names[0] != k.checkName {
		t.Errorf("left %q, want only the checkpoint", names)
	}
	resumeAndCompare(t, k, dir, checkpoint)
}

// TestSecondSIGINT sends a second SIGINT while the process is stopping
// after the first: it must exit at once with status 130, and the files
// already at the output paths (a model and a checkpoint from an earlier run)
// must be untouched, with no temporary file left. --checkpoint-every 0: the
// run itself writes nothing before it ends. The second signal is sent once
// the first has been handled (signals sent back to back may be merged into
// one); with 1500-sample batches the step the process finishes before it
// writes its checkpoint lasts tens of milliseconds, so the second signal
// nearly always comes first. When it does not (the process saved its
// checkpoint and exited normally), the attempt is repeated.
func TestSecondSIGINT(t *testing.T) {
	k := killReference(t)
	for attempt := 1; attempt <= 5; attempt++ {
		dir := t.TempDir()
		copyFile(t, filepath.Join(k.refDir, "m.safetensors"), filepath.Join(dir, "m.safetensors"))
		copyFile(t, filepath.Join(k.refDir, k.checkName), filepath.Join(dir, k.checkName))
		before := checksums(t, dir)

		p := start(t, dir, "--data-dir", k.data, "train", "--backend", "cpu", "--epochs", "1000", "--batch", "1500",
			"--checkpoint-every", "0", "--logdir", "none", "--json", "--out", filepath.Join(dir, "m.safetensors"), "--force")
		p.waitFor(t, "epoch 1/1000")
		p.cmd.Process.Signal(syscall.SIGINT)
		p.waitFor(t, "send it again to exit at once")
		p.cmd.Process.Signal(syscall.SIGINT)
		r := p.wait()
		if r.code != 130 {
			t.Fatalf("exit status %d, want 130\n%v", r.code, r)
		}
		if strings.Contains(r.stderr, "checkpoint saved") {
			t.Logf("attempt %d: the process had saved its checkpoint before the second signal came; again", attempt)
			continue
		}
		after := checksums(t, dir)
		for name, sum := range before {
			if after[name] != sum {
				t.Errorf("%s changed", name)
			}
		}
		if names := listDir(t, dir); len(names) != len(before) {
			t.Errorf("left %q, want only the two files that were there", names)
		}
		return
	}
	t.Fatal("in 5 attempts the second signal never reached the process before it had saved its checkpoint")
}

// TestResumeHintWorks interrupts a run whose paths hold a space and a quote,
// then runs the resume hint it printed, verbatim, through the shell (with
// the test's binary for "mnist"): the hint must quote what needs quoting and
// finish the run.
func TestResumeHintWorks(t *testing.T) {
	bin := binary(t)
	root := filepath.Join(t.TempDir(), "it's a dir")
	data := filepath.Join(root, "my data")
	mnisttest.Synthetic(t, data, 300, 50, 28, 28, 1)
	out := filepath.Join(root, "out put", "m.safetensors")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stdout := &cancelOn{trigger: "epoch 1/2", cancel: cancel, sig: syscall.SIGINT} // after the first epoch
	var stderr bytes.Buffer
	if code := run(ctx, []string{"mnist", "--data-dir", data, "train", "--backend", "cpu", "--epochs", "2", "--logdir", "none", "--out", out}, stdout, &stderr); code != 130 {
		t.Fatalf("exit status %d, want 130\n%s", code, stderr.String())
	}
	_, hint, ok := strings.Cut(stderr.String(), "resume with: ")
	if !ok {
		t.Fatalf("no resume hint:\n%s", stderr.String())
	}
	hint = strings.TrimSpace(hint)
	if !strings.HasPrefix(hint, "mnist ") {
		t.Fatalf("the hint %q does not start with mnist", hint)
	}
	sh := exec.Command("/bin/sh", "-c", "exec \"$0\" "+strings.TrimPrefix(hint, "mnist ")+" --backend cpu --logdir none", bin)
	sh.Dir, sh.Env = t.TempDir(), testEnv()
	if output, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the hint %s failed: %v\n%s", hint, err, output)
	}
	if _, _, err := nn.LoadModel(out); err != nil {
		t.Errorf("the resumed run did not save the model where the first would have: %v", err)
	}
}

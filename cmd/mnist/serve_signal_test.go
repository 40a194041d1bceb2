package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mnist-go/mnist/nn"
)

// TestServeExitStatus stops `mnist serve` with each signal: it shuts down
// gracefully and exits with the shell's status for the signal, as the README
// says (130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP).
func TestServeExitStatus(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	spec := nn.MLP(28, 28, []int{8}, 10)
	if err := nn.SaveModel(model, nn.InitParams(spec, 1), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		p := start(t, dir, "serve", "--model", model, "--addr", "127.0.0.1:0")
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(p.stdout.String(), "Ctrl-C to stop") {
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("serve did not start:\n%v", p.wait())
			}
			time.Sleep(time.Millisecond)
		}
		p.cmd.Process.Signal(sig)
		r := p.wait()
		if want := 128 + int(sig); r.code != want || !strings.Contains(r.stdout, "stopped") {
			t.Errorf("serve after %v: %v, want exit status %d after \"stopped\"", sig, r, want)
		}
	}
}

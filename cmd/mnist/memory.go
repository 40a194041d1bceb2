package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mnist-go/mnist/nn"
)

// memAvailable returns the memory the kernel says a new process can use
// without swapping (MemAvailable in /proc/meminfo), or 0 where that is
// unknown (other systems): then nothing is checked against it.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// checkTrainingMemory refuses, before anything is allocated, a run on the
// host whose model and batch need more memory than the machine has
// available, naming the flags that size it.
func checkTrainingMemory(spec nn.Spec, batch int, avail int64) error {
	if avail <= 0 {
		return nil
	}
	need := spec.TrainingBytes(max(batch, spec.EvalBatch()))
	if need <= avail {
		return nil
	}
	fix := "a smaller --batch or narrower --hidden layers"
	if spec.Model == "cnn" {
		fix = "a smaller --batch"
	}
	return usageErrorf("training a %s (%d parameters) with --batch %d needs about %s of memory, more than the %s available here: use %s",
		spec, spec.NumParams(), batch, gib(need), gib(avail), fix)
}

// gib writes a byte count in GiB (or MiB below one GiB) for messages.
func gib(n int64) string {
	if n < 1<<30 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

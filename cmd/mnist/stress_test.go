//go:build stress

package main

// The attacks of issue 16, repeated against the real binary and a real
// server, with the peak memory (maximum resident set) of each process:
// `make stress`. Not part of `make test`: it allocates hundreds of MiB on
// purpose and takes about a minute.

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
	"github.com/mnist-go/mnist/nn/tfevents"
)

// Limits of the "done when".
const (
	maxSingleRSS = 300 << 20
	maxServerRSS = 600 << 20
)

// peakRSS is a finished process's maximum resident set, in bytes.
//
// Linux counts in a child's maximum the memory of the process it was
// forked from, up to its exec: a child of this test, which holds hundreds
// of MB of images, would report at least that. So each attack runs under
// a launcher (this test binary started afresh, see launchFromInit), whose
// own few MB are the floor of the figures.
func peakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // kilobytes on Linux
	}
	return 0
}

// launchEnv marks a run of this test binary as a launcher: it runs the
// command in its arguments, writes the command's peak RSS in bytes to the
// file named by the variable, and exits with the command's status.
const launchEnv = "MNIST_STRESS_LAUNCH_RSS_FILE"

func init() {
	if path := os.Getenv(launchEnv); path != "" {
		launchFromInit(path)
	}
}

func launchFromInit(rssFile string) {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, launchEnv+"=") })
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP) // passed on to the command
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for sig := range sigs {
			cmd.Process.Signal(sig)
		}
	}()
	cmd.Wait()
	os.WriteFile(rssFile, []byte(fmt.Sprint(peakRSS(cmd.ProcessState))), 0o644)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(cmd.ProcessState.ExitCode())
}

// launched prepares bin with args to run under a launcher; rss reads the
// command's peak RSS once it has ended.
func launched(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, rss func() int64) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rss")
	cmd = exec.Command(self, append([]string{bin}, args...)...)
	cmd.Env = append(testEnv(), launchEnv+"="+file)
	return cmd, func() int64 {
		b, _ := os.ReadFile(file)
		var n int64
		fmt.Sscan(string(b), &n)
		return n
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tallStrip is the 11 KB PNG of 1×4,000,000 pixels, a stroke along it.
func tallStrip() image.Image {
	img := image.NewGray(image.Rect(0, 0, 1, 4_000_000))
	for y := 1_000_000; y < 3_000_000; y++ {
		img.Pix[y] = 255
	}
	return img
}

// deepRGBA is a 16-bit RGBA image of side×side pixels with a bar across
// its middle, transparent where there is no ink when clear is set.
func deepRGBA(side int, clear bool) image.Image {
	img := image.NewRGBA64(image.Rect(0, 0, side, side))
	paper := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if clear {
		paper = make([]byte, 8)
	}
	for i := 0; i < len(img.Pix); i += 8 {
		copy(img.Pix[i:], paper)
	}
	for y := side / 4; y < 3*side/4; y++ {
		for x := side/2 - side/40; x < side/2+side/40; x++ {
			img.SetRGBA64(x, y, color.RGBA64{0, 0, 0, 0xffff})
		}
	}
	return img
}

func TestStress(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data := synthetic(t, 300, 100, 28, 28, 1)
	good := filepath.Join(dir, "good.safetensors")
	mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "2", "--quiet", "--logdir", "none", "--out", good)
	craftFile(t, good, filepath.Join(dir, "hidden.safetensors"), func(md map[string]string) {
		replaceIn(t, md, "mnist_go", `"Hidden":[64,32]`, `"Hidden":[1099511627776,32]`)
	})
	craftFile(t, good, filepath.Join(dir, "rows.safetensors"), func(md map[string]string) {
		replaceIn(t, md, "mnist_go", `"Rows":28`, `"Rows":1000000000`)
	})
	craftFile(t, strings.TrimSuffix(good, ".safetensors")+".ckpt.safetensors", filepath.Join(dir, "step.ckpt.safetensors"), func(md map[string]string) {
		replaceIn(t, md, "checkpoint", `"step":0`, `"step":-1`)
	})
	writePNG(t, filepath.Join(dir, "strip.png"), tallStrip())
	writePNG(t, filepath.Join(dir, "deep.png"), deepRGBA(2000, false))
	writePNG(t, filepath.Join(dir, "deep16.png"), deepRGBA(4000, true))
	os.WriteFile(filepath.Join(dir, "huge.png"), pngHeaderBytes(8192*4, 8192*4), 0o644)
	os.WriteFile(filepath.Join(dir, "8k.png"), pngHeaderBytes(8192, 8192), 0o644)
	long := filepath.Join(dir, "run-200k")
	writeLongRun(t, long, 200_000)

	type attack struct {
		name string
		args []string
	}
	attacks := []attack{
		{"model claiming a hidden width of 2^40 (eval)", []string{"--data-dir", data, "eval", "--backend", "cpu", "--model", filepath.Join(dir, "hidden.safetensors")}},
		{"model claiming 1e9 rows (predict)", []string{"predict", "--model", filepath.Join(dir, "rows.safetensors"), filepath.Join(dir, "strip.png")}},
		{"model /dev/zero (summary)", []string{"summary", "--model", "/dev/zero"}},
		{"1×4,000,000 PNG of 11 KB (predict)", []string{"predict", "--model", good, filepath.Join(dir, "strip.png")}},
		{"16-bit RGBA 2000×2000 PNG (predict)", []string{"predict", "--model", good, filepath.Join(dir, "deep.png")}},
		{"16-bit RGBA 4000×4000 PNG with alpha (predict)", []string{"predict", "--model", good, filepath.Join(dir, "deep16.png")}},
		{"PNG header of 32768×32768 (predict)", []string{"predict", "--model", good, filepath.Join(dir, "huge.png")}},
		{"PNG header of 8192×8192 (predict)", []string{"predict", "--model", good, filepath.Join(dir, "8k.png")}},
		{"train --hidden 65536,65536", []string{"--data-dir", data, "train", "--backend", "cpu", "--hidden", "65536,65536", "--out", filepath.Join(dir, "x.safetensors")}},
		{"resume at step -1", []string{"--data-dir", data, "train", "--backend", "cpu", "--resume", filepath.Join(dir, "step.ckpt.safetensors"), "--out", filepath.Join(dir, "z.safetensors")}},
		{"plot --width 100000", []string{"plot", "--width", "100000", "--out", filepath.Join(dir, "w.png"), long}},
		{"plot of 200,000 points", []string{"plot", "--out", filepath.Join(dir, "long.png"), long}},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-46s %6s %9s %8s  %s\n", "attack", "exit", "peak RSS", "seconds", "message")
	for _, a := range attacks {
		cmd, peak := launched(t, bin, a.args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr, cmd.Stdout = &stderr, io.Discard
		start := time.Now()
		cmd.Run()
		secs := time.Since(start).Seconds()
		rss := peak()
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		fmt.Fprintf(&report, "%-46s %6d %6d MB %8.2f  %.110s\n", a.name, cmd.ProcessState.ExitCode(), rss>>20, secs, msg)
		if rss > maxSingleRSS {
			t.Errorf("%s: peak RSS %d MB, over %d MB", a.name, rss>>20, maxSingleRSS>>20)
		}
		if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "fatal error") {
			t.Errorf("%s: %s", a.name, stderr.String())
		}
	}

	// The server under 32 concurrent hostile requests, 4 rounds.
	srv, srvPeak := launched(t, bin, "serve", "--model", good, "--addr", "127.0.0.1:0")
	var out lockedBuffer
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "open "); ok {
			url, _, _ = strings.Cut(rest, " ")
		}
	}
	if url == "" {
		t.Fatalf("serve did not start: %s", out.String())
	}
	bodies := map[string][]byte{}
	for _, name := range []string{"strip.png", "deep.png", "huge.png", "8k.png"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		bodies[name] = b
	}
	bodies["2 MiB body"] = bytes.Repeat([]byte{0x89}, 2<<20)
	statuses := map[string]map[int]int{}
	var latencies []time.Duration
	var mu sync.Mutex
	start := time.Now()
	for round := range 4 {
		var wg sync.WaitGroup
		for i := range 32 {
			names := []string{"strip.png", "deep.png", "huge.png", "8k.png", "2 MiB body"}
			name := names[(i+round)%len(names)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", url+"api/predict", bytes.NewReader(bodies[name]))
				req.Header.Set("Content-Type", "image/png")
				if i%8 == 7 {
					req.Host = "rebind.attacker.example"
				}
				code, began := 0, time.Now()
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				latencies = append(latencies, time.Since(began))
				if statuses[name] == nil {
					statuses[name] = map[int]int{}
				}
				statuses[name][code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	secs := time.Since(start).Seconds()
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	rss := srvPeak()
	slices.Sort(latencies)
	pct := func(q float64) time.Duration {
		return latencies[int(q*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	fmt.Fprintf(&report, "\nserve under 4 rounds of 32 concurrent hostile requests: %.2f s, exit %d, peak RSS %d MB, latency p50 %v p99 %v max %v\n",
		secs, srv.ProcessState.ExitCode(), rss>>20, pct(0.5), pct(0.99), pct(1))
	for name, s := range statuses {
		fmt.Fprintf(&report, "  %-12s statuses %v\n", name, s)
	}
	if rss > maxServerRSS {
		t.Errorf("serve: peak RSS %d MB, over %d MB", rss>>20, maxServerRSS>>20)
	}
	t.Logf("\n%s", report.String())
}

// pngHeaderBytes is a PNG signature and IHDR declaring w×h 8-bit grey pixels, and no data.
func pngHeaderBytes(w, h int) []byte {
	var buf bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	png.Encode(&buf, img)
	b := buf.Bytes()
	// IHDR data starts at byte 16: width, height (big endian); fix the CRC.
	put := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, uint32(w))
	put(20, uint32(h))
	put(29, crc32.ChecksumIEEE(b[12:29]))
	return b
}

// writeLongRun writes a run directory whose event file holds n epochs of scalars.
func writeLongRun(t *testing.T, dir string, n int) {
	t.Helper()
	w, err := tfevents.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v := 1 / float64(i+1)
		w.Scalar(plots.TagTrainLoss, int64(i), v)
		w.Scalar(plots.TagTestLoss, int64(i), v)
		w.Scalar(plots.TagTestAccuracy, int64(i), 1-v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

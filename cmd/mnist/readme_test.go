package main

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist/mnisttest"
)

// readmeCommands returns the `mnist …` lines of the README's ```sh blocks,
// in order, exactly as written (comments included: the shell drops them),
// and the other lines of those blocks (make, git, …), which this test does
// not run.
func readmeCommands(t *testing.T) (commands, others []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inSh := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inSh = !inSh && strings.TrimPrefix(line, "```") == "sh"
		case inSh && strings.HasPrefix(line, "mnist "):
			commands = append(commands, line)
		case inSh && strings.TrimSpace(line) != "":
			others = append(others, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return commands, others
}

// TestReadmeCommands runs every `mnist` command of the README's shell
// blocks, exactly as written and in the README's order, in one working
// directory whose ./data holds a small synthetic data set (what `mnist data`
// would have fetched) and the files the README asks the reader to bring
// (readmeFixtures), with the built binary first on the PATH as `mnist`
// (what `make install` does): each must exit 0 (`mnist serve` must start
// and stop cleanly on Ctrl-C), so that the README cannot drift from the
// program. The make and git lines are not run here: `make run` and `make
// install` are the Makefile's.
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("the README's commands train several models (about a minute): not under -short")
	}
	commands, others := readmeCommands(t)
	if len(commands) < 10 {
		t.Fatalf("found only %d mnist commands in the README's sh blocks: %q", len(commands), commands)
	}
	t.Logf("not run here: %q", others)
	work, binDir := t.TempDir(), t.TempDir()
	if err := os.Symlink(binary(t), filepath.Join(binDir, "mnist")); err != nil {
		t.Fatal(err)
	}
	mnisttest.Synthetic(t, filepath.Join(work, "data"), 256, 64, 28, 28, 1)
	readmeFixtures(t, work)
	env := append(testEnv(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, line := range commands {
		start := time.Now()
		if strings.HasPrefix(line, "mnist serve") {
			runServeLine(t, work, env, line)
			t.Logf("%s  (started, answered Ctrl-C; %.1f s)", line, time.Since(start).Seconds())
			continue
		}
		cmd := exec.Command("/bin/sh", "-c", line)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		t.Logf("%s  (%.1f s)", line, time.Since(start).Seconds())
		if err != nil {
			t.Errorf("the README's\n  %s\nfailed: %v\n%s", line, err, out)
		}
	}
}

// readmeFixtures puts into dir what the README's examples ask the reader to
// bring: EMNIST Letters (26 classes labelled from 1) as emnist-letters/, its
// class names as letters.txt, and an image of one's own, scan.png.
func readmeFixtures(t *testing.T, dir string) {
	t.Helper()
	mnisttest.SyntheticClasses(t, filepath.Join(dir, "emnist-letters"), 520, 104, 28, 28, 26, 1, 2)
	var names strings.Builder
	for c := 'a'; c <= 'z'; c++ {
		names.WriteString(string(c) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "letters.txt"), []byte(names.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// A dark stroke on light paper, larger than 28×28, as a phone would take.
	img := image.NewGray(image.Rect(0, 0, 120, 90))
	for y := 0; y < 90; y++ {
		for x := 0; x < 120; x++ {
			img.SetGray(x, y, color.Gray{Y: 235})
			if dx, dy := float64(x-60), float64(y-45); math.Abs(math.Hypot(dx, dy*1.3)-28) < 5 {
				img.SetGray(x, y, color.Gray{Y: 20})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scan.png"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runServeLine starts the README's `mnist serve …` line, waits for it to
// say where it serves, and stops it with SIGINT: it must exit 130.
func runServeLine(t *testing.T, dir string, env []string, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exec "+line+" --addr 127.0.0.1:0")
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	sc := bufio.NewScanner(pr)
	serving := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "open http://") {
			serving = true
			break
		}
	}
	if serving {
		cmd.Process.Signal(syscall.SIGINT)
	}
	go func() { // drain the rest
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	if !serving {
		t.Errorf("the README's\n  %s\ndid not start serving: %v\n%s", line, err, out.String())
		return
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("the README's\n  %s\nexited %d after Ctrl-C, want 130\n%s", line, code, out.String())
	}
}

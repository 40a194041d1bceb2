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
#                       .gpu/bench.test (stripped, -tags cuda), and the MNIST
#                       files in .gpu/data; carry .gpu to the device
#   make gpu-check      run on the GPU machine: gpu/gpu-check.sh
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
kernels: $(KERNEL_OUT)

$(KERNEL_OUT) &: $(KERNEL_SRCS) kernels/params.h kernels/build.sh
	kernels/build.sh kernels

kernels-check:
	@command -v $(NVCC) >/dev/null || { echo "kernels-check: no nvcc: run make cuda-toolkit" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && status=0 && \
	kernels/build.sh $$tmp || status=1; \
	for f in $(KERNEL_OUT); do \
		if ! cmp -s $$tmp/$$(basename $$f) $$f; then \
			echo "$$f is stale: run make kernels and commit it" >&2; status=1; fi; \
	done; [ $$status = 0 ] && echo "kernels-check: $(KERNEL_OUT) match their sources"; exit $$status

gpu-bins:
	@test "$(HAVE_CUDA)" = yes || { echo "gpu-bins: needs nvcc and cuda.h: run make cuda-toolkit" >&2; exit 1; }
	mkdir -p $(GPU_DIR)
	CGO_ENABLED=1 $(GO) build -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/mnist-cuda ./cmd/mnist
	CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/gpu.test ./gpu
	@if [ -d bench ] && ls bench/*_test.go >/dev/null 2>&1; then \
		echo "CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/bench.test ./bench"; \
		CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_DIR)/bench.test ./bench; fi
	cp gpu/gpu-check.sh $(GPU_DIR)/
	@if [ -f $(DATA)/train-images-idx3-ubyte.gz ]; then mkdir -p $(GPU_DIR)/data && cp $(DATA)/*-ubyte.gz $(GPU_DIR)/data/; \
	else echo "gpu-bins: no MNIST files in $(DATA) (make data): the GPU run's data benchmarks will skip"; fi
	@du -sh $(GPU_DIR)
	@test $$(du -sm $(GPU_DIR) | cut -f1) -lt 64 || { echo "gpu-bins: $(GPU_DIR) is 64 MiB or more: over the device tool's carry limit" >&2; exit 1; }

gpu-check:
	bash gpu/gpu-check.sh

cuda-toolkit:
	.ci/install-deps cuda

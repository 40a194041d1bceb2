# gpu/cuda.mk: CUDA targets, included by the top-level Makefile.
#
#   make kernels        regenerate kernels/*.ptx from kernels/*.cu (needs nvcc)
#   make kernels-check  regenerate into a temp dir, fail if the committed PTX
#                       differs, assemble with ptxas for sm_80 and sm_90 and
#                       print registers and spills per kernel
#   make gpu-bins       build, here, what `make gpu-check` runs on a GPU
#                       machine without Go: .gpu/mnist-cuda, .gpu/gpu.test,
#                       .gpu/bench.test (stripped, -tags cuda), and the MNIST
#                       files in .gpu/data; carry .gpu to the device
#   make gpu-check      run on the GPU machine: gpu/gpu-check.sh
#   make cuda-toolkit   install Debian's CUDA toolkit (nvcc, ptxas, cuda.h)

GO ?= go
NVCC ?= nvcc
PTXAS ?= ptxas
# A fixed virtual architecture: the driver JIT-compiles the PTX for newer GPUs.
CUDA_ARCH ?= compute_80
NVCC_FLAGS ?= -ptx -arch=$(CUDA_ARCH) -O3 -std=c++17
PTXAS_ARCHS ?= sm_80 sm_90
GPU_DIR ?= .gpu
KERNEL_SRCS := $(wildcard kernels/*.cu)
KERNEL_PTX := $(KERNEL_SRCS:.cu=.ptx)
# CUDA builds need nvcc's cuda.h and libcuda at link time.
HAVE_CUDA := $(shell command -v $(NVCC) >/dev/null 2>&1 && test -f /usr/include/cuda.h && echo yes)

.PHONY: kernels kernels-check gpu-bins gpu-check cuda-toolkit

kernels: $(KERNEL_PTX)

kernels/%.ptx: kernels/%.cu kernels/params.h
	$(NVCC) $(NVCC_FLAGS) $< -o $@

kernels-check:
	@command -v $(NVCC) >/dev/null || { echo "kernels-check: no nvcc: run make cuda-toolkit" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && status=0 && \
	for src in $(KERNEL_SRCS); do \
		base=$$(basename $$src .cu); \
		$(NVCC) $(NVCC_FLAGS) $$src -o $$tmp/$$base.ptx || exit 1; \
		if ! cmp -s $$tmp/$$base.ptx kernels/$$base.ptx; then \
			echo "kernels/$$base.ptx is stale: run make kernels and commit it" >&2; status=1; \
		fi; \
		for arch in $(PTXAS_ARCHS); do \
			$(PTXAS) -arch=$$arch -v $$tmp/$$base.ptx -o /dev/null 2>$$tmp/log || { cat $$tmp/log >&2; exit 1; }; \
			awk -v arch=$$arch '/Compiling entry function/ { gsub(/[^A-Za-z0-9_]/, "", $$7); k = $$7 } \
				/spill stores/ { spills = $$5 " B spill stores, " $$9 " B spill loads" } \
				/Used [0-9]+ registers/ { printf "  %-6s %-20s %3d registers, %s\n", arch, k, $$5, spills }' $$tmp/log; \
			if grep -Eq '[1-9][0-9]* bytes spill' $$tmp/log; then echo "$$base.ptx spills registers on $$arch" >&2; status=1; fi; \
		done; \
	done; exit $$status

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

#!/usr/bin/env bash
# gpu-check.sh runs, on a GPU machine without Go, what `make gpu-bins` built
# into .gpu/: the gpu package's tests on the GPU (kernel checks against the
# naive reference, a short CPU-vs-GPU training comparison, recordings), the
# GPU benchmarks, `mnist bench` (cuda against our cpu backend on the same
# host), the default training runs, PyTorch's tutorial on the same GPU when
# torch is installed, and writes a report to $OUT (or ./gpu-report).
# Run it from the repository root: bash gpu/gpu-check.sh (or make gpu-check).
# The step timeouts add up to under nine minutes, one call of the device tool.
set -uo pipefail
BIN=${GPU_DIR:-.gpu}
REPORT=${OUT:-gpu-report}
mkdir -p "$REPORT"
status=0
log() { echo "== $*" | tee -a "$REPORT/summary.txt"; }
: >"$REPORT/summary.txt"

log "date: $(date -u +%FT%TZ)"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv >"$REPORT/nvidia-smi.txt" 2>&1
	nvidia-smi >>"$REPORT/nvidia-smi.txt" 2>&1
	log "gpu: $(sed -n 2p "$REPORT/nvidia-smi.txt")"
else
	log "nvidia-smi: not found"
fi

run() { # name timeout-seconds command...
	local name=$1 limit=$2
	shift 2
	local start=$(date +%s)
	timeout "$limit" "$@" >"$REPORT/$name.txt" 2>&1
	local rc=$?
	log "$name: exit $rc in $(($(date +%s) - start)) s"
	[ $rc -eq 0 ] || status=1
	return 0
}

if [ -x "$BIN/gpu.test" ]; then
	# The tests compare with the reference on the GPU; Skip lines mean no device answered.
	run gpu-tests 150 "$BIN/gpu.test" -test.v -test.run 'TestCUDA|TestOutOfMemory|TestParamLayout|TestPlanGemm'
	grep -E '^(--- |ok|FAIL|PASS)|SKIP|no GPU' "$REPORT/gpu-tests.txt" | head -40 >>"$REPORT/summary.txt"
	run gpu-bench 60 "$BIN/gpu.test" -test.run '^$' -test.bench . -test.benchtime 200x
	grep -E '^Benchmark' "$REPORT/gpu-bench.txt" >>"$REPORT/summary.txt"
else
	log "missing $BIN/gpu.test: run make gpu-bins on the build machine"
	status=1
fi
# The benchmarks on the real data (epochs; the cnn's wall time to 99.0% test
# accuracy, BenchmarkTimeToAccuracy) need the MNIST files: $MNIST_DATA, or
# data/ in the working directory, or the copy make gpu-bins puts in .gpu/data.
# Without them they skip, saying why.
if [ -z "${MNIST_DATA:-}" ]; then
	for d in data "$BIN/data"; do
		if [ -f "$d/train-images-idx3-ubyte.gz" ]; then export MNIST_DATA=$(cd "$d" && pwd); break; fi
	done
fi
log "data: ${MNIST_DATA:-none}"
if [ -x "$BIN/bench.test" ]; then
	run bench 120 "$BIN/bench.test" -test.run '^$' -test.bench 'cuda' -test.benchtime 3x
	grep -E '^Benchmark' "$REPORT/bench.txt" >>"$REPORT/summary.txt"
fi
if [ -x "$BIN/mnist-cuda" ]; then
	M="$BIN/mnist-cuda"
	run mnist-probe 20 "$M" probe-gpu
	if [ -n "${MNIST_DATA:-}" ]; then
		# Our two backends on this host, same weights and batches (gorgonia
		# cannot be linked into a CUDA build: its figures come from the pure-Go
		# build on the development machine).
		run mnist-bench 60 "$M" --data-dir "$MNIST_DATA" bench --backends cuda,cpu --runs 5
		grep -E '^(backend|cuda|cpu) ' "$REPORT/mnist-bench.txt" >>"$REPORT/summary.txt"
		# The README's main job on the GPU: the default recipe, accuracy per epoch.
		run mnist-train 45 "$M" --data-dir "$MNIST_DATA" train --backend cuda --out "$REPORT/model.safetensors"
		grep -E '^(backend|epoch|test accuracy)' "$REPORT/mnist-train.txt" >>"$REPORT/summary.txt"
	fi
fi
# PyTorch's tutorial on the same GPU and files.
if [ -n "${MNIST_DATA:-}" ] && command -v python3 >/dev/null && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
	run pytorch 60 python3 bench/pytorch/tutorial.py --device cuda --data-dir "$MNIST_DATA" --runs 3
	grep -E '^tutorial.py: (dataloader|resident):' "$REPORT/pytorch.txt" >>"$REPORT/summary.txt"
else
	log "pytorch: skipped (no python3 with torch and CUDA, or no data)"
fi
log "status: $status"
cat "$REPORT/summary.txt"
exit $status

#!/usr/bin/env bash
# gpu-check.sh runs, on a GPU machine without Go, what `make gpu-bins` built
# into .gpu/: the gpu package's tests on the GPU (kernel checks against the
# naive reference, a short CPU-vs-GPU training comparison, recordings), the
# GPU benchmarks, and writes a report to $OUT (or ./gpu-report).
# Run it from the repository root: bash gpu/gpu-check.sh (or make gpu-check).
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
	run gpu-tests 300 "$BIN/gpu.test" -test.v -test.run 'TestCUDA|TestOutOfMemory|TestParamLayout|TestPlanGemm'
	grep -E '^(--- |ok|FAIL|PASS)|SKIP|no GPU' "$REPORT/gpu-tests.txt" | head -40 >>"$REPORT/summary.txt"
	run gpu-bench 240 "$BIN/gpu.test" -test.run '^$' -test.bench . -test.benchtime 200x
	grep -E '^Benchmark' "$REPORT/gpu-bench.txt" >>"$REPORT/summary.txt"
else
	log "missing $BIN/gpu.test: run make gpu-bins on the build machine"
	status=1
fi
if [ -x "$BIN/bench.test" ]; then
	run bench 240 "$BIN/bench.test" -test.run '^$' -test.bench 'cuda' -test.benchtime 3x
	grep -E '^Benchmark' "$REPORT/bench.txt" >>"$REPORT/summary.txt"
fi
if [ -x "$BIN/mnist-cuda" ]; then
	run mnist-probe 60 "$BIN/mnist-cuda" probe-gpu
fi
log "status: $status"
cat "$REPORT/summary.txt"
exit $status

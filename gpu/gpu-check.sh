#!/usr/bin/env bash
# gpu-check.sh: everything this project needs to know from a GPU, in one run
# on a GPU machine without Go, from what `make gpu-bins` put in .gpu/.
# Run it from the repository root: bash gpu/gpu-check.sh (make gpu-check).
#
# Steps, each under its own time limit (they add up to at most 360 s, which
# the script checks before it starts; it stops early rather than overrun):
#   device        nvidia-smi: GPU, compute capability, memory, driver
#   probe         mnist-cuda probe-gpu: our context, modules (fatbin), JIT log
#   tests-*       the gpu package's kernel tests and the nn conformance suite
#                 on the GPU, four groups, each in a process of its own so a
#                 sticky fault in one cannot hide the others' results
#                 (tests-misc also the bench harness's runner against the reference)
#   tests-pdl     the fused MLP step's tests again with MNIST_CUDA_PDL=2
#                 (programmatic dependent launch, gpu.PDLEnv): the same bits
#   memcheck,     compute-sanitizer on one short training run of each model
#   racecheck     (MLP and CNN), when the tool is there
#   mlp-default   the default recipe (momentum + cosine), cuda, 3 epochs
#   mlp-cpu       the same on our cpu backend, for the loss curves
#   mlp-tutorial  the PyTorch tutorial's recipe (--preset tutorial), 3 epochs
#   mlp-pdl1,     the tutorial recipe with MNIST_CUDA_PDL=1 and 2
#   mlp-pdl2
#   mlp-adam      Adam with the cosine schedule (--optimizer adam), 3 epochs
#   mlp-kernels   bench/cuda/mlpstep.cu (no Go): an epoch of the fused MLP
#                 step's kernels replayed as one graph, and each kernel alone,
#                 as the Go path replays them, and with dependent launches
#   cnn-99        BenchmarkTimeToAccuracy/cuda/cnn: seconds to 99.0% test accuracy
#   pytorch       bench/pytorch/tutorial.py on the same GPU and files
#   formats       gpu/check_outputs.py: TensorBoard's own reader on the cuda and
#                 cpu run directories (loss curves compared), and
#                 safetensors.torch.load_file on the saved model (evaluated)
#
# Output, in $OUT (or ./gpu-report): report.md for people, report.json for
# programs, log.txt with every step's raw output. Three files, no more.
#
# GPU_CHECK_DRY=1 (make gpu-check-dry) runs the same script on a machine
# without a GPU: the tests run on the CPU emulator of the kernels, the
# training steps on the cpu backend for one epoch, and what needs a GPU
# (nvidia-smi, compute-sanitizer, the CNN timing, PyTorch on CUDA) is
# reported as skipped; each step gets 4 times its limit. It proves the
# script and its report, not the GPU.
set -uo pipefail
BIN=${GPU_DIR:-.gpu}
REPORT=${OUT:-gpu-report}
DRY=${GPU_CHECK_DRY:-0}
export GPU_CHECK_DRY=$DRY
mkdir -p "$REPORT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$REPORT/log.txt
STEPS=$WORK/steps.tsv # name, status, seconds, limit, exit code, detail
: >"$LOG"
: >"$STEPS"
START=$(date +%s)

# Time limits in seconds, by step.
declare -A LIMIT=(
	[device]=5 [probe]=10
	[tests-ops]=15 [tests-training]=25 [tests-conformance]=30 [tests-misc]=15 [tests-pdl]=10
	[memcheck]=20 [racecheck]=30
	[mlp-default]=30 [mlp-cpu]=20 [mlp-tutorial]=25 [mlp-pdl1]=10 [mlp-pdl2]=10 [mlp-adam]=15 [mlp-kernels]=10
	[cnn-99]=30 [pytorch]=35 [formats]=15
)
ORDER=(device probe tests-ops tests-training tests-conformance tests-misc tests-pdl memcheck racecheck
	mlp-default mlp-cpu mlp-tutorial mlp-pdl1 mlp-pdl2 mlp-adam mlp-kernels cnn-99 pytorch formats)
total=0
for s in "${ORDER[@]}"; do total=$((total + LIMIT[$s])); done
if [ $total -gt 360 ]; then
	echo "gpu-check.sh: the step limits add up to $total s, over 360 s: fix LIMIT" >&2
	exit 2
fi

# record NAME STATUS SECONDS EXIT DETAIL
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${LIMIT[$1]}" "$4" "$5" >>"$STEPS"; echo "== $1: $2 ($3 s): $5"; }
skip() { record "$1" skip 0 - "$2"; printf '\n===== %s: skipped: %s\n' "$1" "$2" >>"$LOG"; }

# run NAME COMMAND...: runs under the step's limit; output in $WORK/NAME.log
# and folded into log.txt. Sets RC.
run() {
	local name=$1
	shift
	local t0=$(date +%s) limit=${LIMIT[$name]}
	# The dry run proves the script, not the timings: the emulator is far
	# slower than a GPU, and a development machine is shared.
	[ "$DRY" = 1 ] && limit=$((limit * 4))
	timeout --kill-after=2 "$limit" "$@" >"$WORK/$name.log" 2>&1
	RC=$?
	SECS=$(($(date +%s) - t0))
	{ printf '\n===== %s (limit %s s, exit %s, %s s): %s\n' "$name" "$limit" "$RC" "$SECS" "$*"; cat "$WORK/$name.log"; } >>"$LOG"
}

# verdict NAME DETAIL: pass, fail or timeout from RC.
verdict() {
	local status=pass
	[ "$RC" -eq 0 ] || status=fail
	[ "$RC" -eq 124 ] || [ "$RC" -eq 137 ] && status=timeout
	record "$1" $status "$SECS" "$RC" "$2"
}

# gotest NAME ARGS...: a go test binary run; skip when every test skipped.
gotest() {
	local name=$1
	shift
	run "$name" "$@"
	local f=$WORK/$name.log
	local pass=$(grep -cE '^ *--- PASS' "$f") fail=$(grep -cE '^ *--- FAIL' "$f") skips=$(grep -cE '^ *--- SKIP' "$f")
	if [ "$RC" -eq 0 ] && [ "$pass" -eq 0 ] && [ "$skips" -gt 0 ]; then
		record "$name" skip "$SECS" "$RC" "$(grep -m1 -E '^\s+\S+_test\.go:[0-9]+: .*(skip|cannot|no GPU|no CUDA)' "$f" | sed 's/^ *//' | cut -c1-200)"
	elif [ "$fail" -gt 0 ]; then
		verdict "$name" "$pass passed, $fail failed, $skips skipped; first failure: $(grep -m1 -E '^ *--- FAIL' "$f" | sed 's/^ *--- FAIL: //') $(grep -m1 -E '^\s+\S+\.go:[0-9]+: ' "$f" | sed 's/^ *//' | cut -c1-160)"
	else
		verdict "$name" "$pass passed, $fail failed, $skips skipped"
	fi
}

# Data: $MNIST_DATA, else data/, else the copy make gpu-bins made in .gpu/data.
if [ -z "${MNIST_DATA:-}" ]; then
	for d in data "$BIN/data"; do
		if [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; then MNIST_DATA=$(cd "$d" && pwd); break; fi
	done
fi
export MNIST_DATA=${MNIST_DATA:-}
M=$BIN/mnist-cuda
# The Python that has PyTorch (on the GPU machine, plain python3): $PYTHON,
# else the first of python3 and /usr/bin/python3 that imports torch.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
	PY=python3
	for p in python3 /usr/bin/python3; do
		if command -v $p >/dev/null && $p -c 'import torch' 2>/dev/null; then PY=$p; break; fi
	done
fi
CUDA=cuda
EPOCHS=3
if [ "$DRY" = 1 ]; then CUDA=cpu EPOCHS=1; fi

# --- device
if command -v nvidia-smi >/dev/null; then
	run device nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.sm --format=csv,noheader
	verdict device "$(head -1 "$WORK/device.log")"
else
	skip device "nvidia-smi not found"
fi

# --- probe
if [ -x "$M" ]; then
	run probe "$M" probe-gpu
	if [ "$DRY" = 1 ] && [ "$RC" -ne 0 ]; then
		record probe skip "$SECS" "$RC" "no GPU (dry run): $(tail -1 "$WORK/probe.log" | cut -c1-200)"
	else
		verdict probe "$(tail -1 "$WORK/probe.log" | cut -c1-200)"
	fi
else
	skip probe "missing $M: run make gpu-bins on the build machine"
fi

# --- the kernel tests and the conformance suite, one process per group
T=$BIN/gpu.test
if [ -x "$T" ]; then
	gotest tests-ops "$T" -test.v -test.run 'TestCUDA/^(Gemm|GemmBetaZero|SplitK|SplitKReplay|SoftmaxLastBlock|Elementwise|SoftmaxCrossEntropy|BadLabel|ColumnSumsArgmax|Gather|Optimisers)$'
	gotest tests-training "$T" -test.v -test.run 'TestCUDA/^(Training|CNNTraining|RecordReplay|RecordRejectsHostOps|ReplayEveryRecipe|MLPStep|MLPStepBadData|MLPStepChained|DownloadAll|StepProfile)$'
	gotest tests-conformance "$T" -test.v -test.run 'TestCUDA/^Conformance$'
	# and the bench harness's runner on the cuda backend: same losses as
	# the reference, and a Reset that restores the start exactly.
	export GPU_TEST=$T BENCH_TEST=$BIN/bench.test
	gotest tests-misc bash -c '"$GPU_TEST" -test.v -test.run "^(TestOutOfMemory|TestParamLayout|TestPlanGemm|TestNoDeviceIsAnError)$" &&
		"$BENCH_TEST" -test.v -test.run "^(TestEntriesAgree|TestBackendRunnerMatchesTrainer)$"'
	# The fused MLP step's tests with programmatic dependent launch (on an
	# H100/H200; elsewhere the kernels only reorder their loads).
	MNIST_CUDA_PDL=2 gotest tests-pdl "$T" -test.v -test.run 'TestCUDA/^(ReplayEveryRecipe|MLPStep|MLPStepBadData|MLPStepChained)$'
	# One short training run of each model under compute-sanitizer: the
	# op-by-op MLP, the CNN, and one recipe of the fused MLP step.
	if [ "$DRY" != 1 ] && command -v compute-sanitizer >/dev/null; then
		for tool in memcheck racecheck; do
			run $tool compute-sanitizer --tool $tool --error-exitcode 9 --print-limit 20 "$T" -test.v -test.run 'TestCUDA/^(Training|CNNTraining|MLPStep|MLPStepChained)$/^(tutorial-like)$/^(adam-cosine)$'
			verdict $tool "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Error:' "$WORK/$tool.log" | head -2 | tr '\n' ' ' | cut -c1-200)"
		done
	else
		skip memcheck "no compute-sanitizer (or dry run)"
		skip racecheck "no compute-sanitizer (or dry run)"
	fi
else
	for s in tests-ops tests-training tests-conformance tests-misc tests-pdl memcheck racecheck; do skip $s "missing $T: run make gpu-bins"; done
fi

# --- training runs with the CLI: the default recipe on cuda and cpu, the tutorial's on cuda
# train NAME BACKEND ARGS...: figures from --json in $WORK/NAME.json
train() {
	local name=$1 backend=$2
	shift 2
	run "$name" "$M" --data-dir "$MNIST_DATA" train --backend "$backend" --epochs "$EPOCHS" --json --quiet \
		--out "$WORK/$name.safetensors" --logdir "$WORK/runs/$name" "$@"
	# The JSON object is the whole of stdout; progress went to stderr.
	$PY - "$WORK/$name.log" >"$WORK/$name.json" 2>/dev/null <<'EOF' || echo '{}' >"$WORK/$name.json"
import json, sys
text = open(sys.argv[1]).read()
start = text.find("{\n")
obj, _ = json.JSONDecoder().raw_decode(text[start:])
print(json.dumps(obj))
EOF
	verdict "$name" "$($PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
ms = ", ".join("%.1f" % (1000 * s) for s in r.get("epoch_seconds", []))
acc = ", ".join("%.2f%%" % (100 * a) for a in r.get("test_accuracy", []))
print("%s on %s: ms per epoch %s; test accuracy %s" % (r.get("backend", "?"), r.get("device", "?"), ms, acc))' "$WORK/$name.json" 2>&1 | cut -c1-300)"
}
if [ -x "$M" ] && [ -n "$MNIST_DATA" ]; then
	train mlp-default $CUDA
	train mlp-cpu cpu
	train mlp-tutorial $CUDA --preset tutorial
	MNIST_CUDA_PDL=1 train mlp-pdl1 $CUDA --preset tutorial
	MNIST_CUDA_PDL=2 train mlp-pdl2 $CUDA --preset tutorial
	train mlp-adam $CUDA --optimizer adam
else
	for s in mlp-default mlp-cpu mlp-tutorial mlp-pdl1 mlp-pdl2 mlp-adam; do skip $s "no $M or no MNIST data (MNIST_DATA, data/ or $BIN/data)"; done
fi

# --- the fused MLP step's kernels alone (no Go, no data: synthetic images)
if [ "$DRY" = 1 ]; then
	skip mlp-kernels "needs a GPU"
elif [ -x "$BIN/mlpstep" ]; then
	run mlp-kernels "$BIN/mlpstep" 5
	verdict mlp-kernels "$(grep -E '^(step|chained|chunked|rows alone|update alone|update preparing|first alone|same weights)' "$WORK/mlp-kernels.log" |
		awk '!/ms per epoch/ { printf "%s%s", (n++ ? "; " : ""), $0; next }
			{ for (i = 1; i <= NF; i++) if ($(i+1) == "µs" && $(i+3) == "step") v = $i; sub(/ +[0-9.]+ ms per epoch.*/, ""); printf "%s%s %s µs", (n++ ? "; " : ""), $0, v }')"
else
	skip mlp-kernels "no $BIN/mlpstep: run make gpu-bins (needs nvcc)"
fi

# --- the CNN's time to 99.0%
if [ -x "$BIN/bench.test" ] && [ -n "$MNIST_DATA" ]; then
	run cnn-99 "$BIN/bench.test" -test.v -test.run '^$' -test.bench '^BenchmarkTimeToAccuracy$/^cuda/cnn$' -test.benchtime 1x
	line=$(grep -E '^BenchmarkTimeToAccuracy.* ns/op' "$WORK/cnn-99.log" | head -1)
	if [ -n "$line" ]; then
		verdict cnn-99 "$(echo "$line" | awk '{ printf "%.3f s to 99.0%%; %s", $3 / 1e9, substr($0, index($0, $4)) }')"
	elif [ "$RC" -eq 0 ] && grep -qE '^ *--- SKIP' "$WORK/cnn-99.log"; then
		record cnn-99 skip "$SECS" "$RC" "$(grep -m1 -E '^\s+\S+_test\.go:[0-9]+: ' "$WORK/cnn-99.log" | sed 's/^ *//' | cut -c1-200)"
	else
		[ "$RC" -ne 0 ] || RC=1 # no benchmark line is a failure even when the binary exits 0
		verdict cnn-99 "no benchmark result: $(grep -m1 -E 'FAIL|panic|\.go:[0-9]+: ' "$WORK/cnn-99.log" | sed 's/^ *//' | cut -c1-200)"
	fi
else
	skip cnn-99 "no $BIN/bench.test or no MNIST data"
fi

# --- PyTorch on the same GPU and files
if [ -n "$MNIST_DATA" ] && $PY -c 'import torch' 2>/dev/null; then
	if $PY -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		run pytorch $PY bench/pytorch/tutorial.py --device cuda --data-dir "$MNIST_DATA" --modes resident,dataloader --runs 2 --warmup 1
	elif [ "$DRY" = 1 ]; then
		run pytorch $PY bench/pytorch/tutorial.py --device cpu --data-dir "$MNIST_DATA" --modes resident --runs 1 --warmup 0
	else
		RC=1 SECS=0
		echo "PyTorch sees no CUDA device" >"$WORK/pytorch.log"
	fi
	verdict pytorch "$(grep -E '^tutorial.py: (dataloader|resident):' "$WORK/pytorch.log" | sed 's/^tutorial.py: //' | tr '\n' ';' | cut -c1-300)"
else
	skip pytorch "no python3 with torch ($PY), or no MNIST data"
fi

# --- our files, read by their formats' own libraries
if [ -d "$WORK/runs/mlp-default" ] && [ -d "$WORK/runs/mlp-cpu" ]; then
	run formats $PY gpu/check_outputs.py --runs "$WORK/runs/mlp-default" "$WORK/runs/mlp-cpu" \
		--model "$WORK/mlp-default.safetensors" --data-dir "$MNIST_DATA"
	tail -1 "$WORK/formats.log" >"$WORK/formats.json"
	if [ "$RC" -eq 0 ] && ! grep -q ': pass:' "$WORK/formats.log"; then
		record formats skip "$SECS" "$RC" "$(grep '^check ' "$WORK/formats.log" | sed 's/^check //' | tr '\n' ';' | cut -c1-300)"
	else
		verdict formats "$(grep '^check ' "$WORK/formats.log" | sed 's/^check //' | tr '\n' ';' | cut -c1-300)"
	fi
else
	skip formats "no training runs to read (mlp-default, mlp-cpu), or no python3"
fi

# --- the report
ELAPSED=$(($(date +%s) - START))
$PY - "$STEPS" "$WORK" "$REPORT" "$DRY" "$ELAPSED" "$total" <<'EOF'
import json, os, sys
steps_file, work, report, dry, elapsed, total = sys.argv[1:7]
steps = []
for line in open(steps_file):
    name, status, secs, limit, code, detail = line.rstrip("\n").split("\t", 5)
    steps.append({"name": name, "status": status, "seconds": int(secs), "limit_s": int(limit),
                  "exit": None if code == "-" else int(code), "detail": detail})
def load(name):
    try:
        return json.load(open(os.path.join(work, name)))
    except Exception:
        return None
figures = {"training": {n: load(n + ".json") for n in ("mlp-default", "mlp-cpu", "mlp-tutorial", "mlp-pdl1", "mlp-pdl2", "mlp-adam")},
           "formats": load("formats.json")}
try:
    text = open(os.path.join(work, "pytorch.log")).read()
    figures["pytorch"] = json.JSONDecoder().raw_decode(text[text.index("{\n"):])[0]
except Exception:
    figures["pytorch"] = None
failed = [s["name"] for s in steps if s["status"] in ("fail", "timeout")]
# On a GPU machine a skipped step means the GPU (or the data) was not there:
# only the tools that may be missing there are optional.
if dry != "1":
    failed += [s["name"] + " (skipped)" for s in steps
               if s["status"] == "skip" and s["name"] not in ("memcheck", "racecheck", "formats")]
out = {"dry_run": dry == "1", "elapsed_s": int(elapsed), "limits_sum_s": int(total),
       "status": "fail" if failed else "pass", "failed": failed, "steps": steps, "figures": figures}
with open(os.path.join(report, "report.json"), "w") as f:
    json.dump(out, f, indent=1)
md = ["# gpu-check" + (" (dry run: no GPU, the emulator and the cpu backend stand in)" if dry == "1" else ""), "",
      f"Status: **{out['status']}**" + (f" (failed: {', '.join(failed)})" if failed else "") +
      f"; {elapsed} s in all (limits add up to {total} s).", "",
      "| step | status | s | limit | detail |", "| --- | --- | --- | --- | --- |"]
for s in steps:
    md.append(f"| {s['name']} | {s['status']} | {s['seconds']} | {s['limit_s']} | {s['detail'].replace('|', '/')} |")
md += ["", "Every step's raw output is in log.txt; the figures, parsed, in report.json."]
with open(os.path.join(report, "report.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
sys.exit(1 if failed else 0)
EOF
status=$?
n=$(find "$REPORT" -type f | wc -l)
if [ "$n" -gt 6 ]; then echo "gpu-check.sh: $n files in $REPORT, more than 6" >&2; status=1; fi
exit $status

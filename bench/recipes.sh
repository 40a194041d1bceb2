#!/usr/bin/env bash
# recipes.sh reproduces the figures of the --preset recipes (bench/RESULTS.md,
# "Recipes"): it trains every preset named on the command line (default:
# mlp-best cnn-best) with seeds 1, 2 and 3, one run after the other, and
# prints one markdown table row per run with the final test accuracy, the
# wall and user CPU time of the whole command (evaluations included) and
# the load average at its start, then each preset's mean.
#
#   bench/recipes.sh [preset...]     env: MNIST (binary, default bin/mnist),
#                                    MNIST_DATA (default data), BACKEND (default cpu),
#                                    SEEDS (default "1 2 3")
set -euo pipefail

mnist=${MNIST:-bin/mnist}
data=${MNIST_DATA:-data}
backend=${BACKEND:-cpu}
seeds=${SEEDS:-1 2 3}
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(mlp-best cnn-best)
[ -x "$mnist" ] || { echo "recipes.sh: $mnist is not an executable: run make build (or set MNIST)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| preset | seed | epochs | test accuracy | wall s | user s | load at start |"
echo "|---|---:|---:|---:|---:|---:|---|"
for p in "${presets[@]}"; do
	sum=0 n=0
	for s in $seeds; do
		load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)
		TIMEFORMAT='%R %U'
		{ time "$mnist" --data-dir "$data" train --backend "$backend" --preset "$p" --seed "$s" --json --quiet \
			--logdir none --checkpoint-every 0 --out "$tmp/$p-$s.safetensors" >"$tmp/out.json" 2>"$tmp/err" ||
			{ cat "$tmp/err" >&2; exit 1; }; } 2>"$tmp/time"
		read -r wall user <"$tmp/time"
		read -r epochs acc < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["epochs"], "%.2f" % (100*r["test_accuracy"][-1]))' "$tmp/out.json")
		printf '| %s | %s | %s | %s%% | %s | %s | %s |\n' "$p" "$s" "$epochs" "$acc" "$wall" "$user" "$load"
		sum=$(python3 -c "print($sum + $acc)") n=$((n + 1))
	done
	printf '| **%s** | mean | | **%.2f%%** | | | |\n' "$p" "$(python3 -c "print($sum / $n)")"
done

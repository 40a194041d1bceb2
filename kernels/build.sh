#!/usr/bin/env bash
# kernels/build.sh OUTDIR [SRC.cu...] compiles each kernel source (all of
# kernels/*.cu by default) into OUTDIR/NAME.ptx and OUTDIR/NAME.fatbin and
# prints ptxas's registers and spills per kernel and architecture. Run it
# from the repository root (make kernels, make kernels-check do).
#
#   NAME.ptx     PTX for compute_80 with line information (-lineinfo); the
#                source path in it is made relative (kernels/NAME.cu) and
#                its time stamp fixed, so the output is the same in every
#                checkout
#   NAME.fatbin  machine code (SASS) for sm_80 and sm_90, each assembled by
#                ptxas from PTX for its own architecture (sm_80's from the
#                file above; sm_90's from PTX made the same way for
#                compute_90, which may use Hopper's instructions: mlp.cu's
#                griddepcontrol) with line information, plus the compute_80
#                PTX for the driver to JIT-compile on newer GPUs; compressed
#
# It fails when a kernel spills registers on any architecture.
#
# kernels/build.sh --same A.fatbin B.fatbin exits 0 when the two fatbins hold
# the same machine code and PTX (cuobjdump extracts them): fatbinary's
# container bytes differ from one run to the next for the same images.
set -euo pipefail
if [ "${1:-}" = --same ]; then
	d=$(mktemp -d)
	trap 'rm -rf "$d"' EXIT
	mkdir "$d/a" "$d/b"
	a=$(realpath "$2") b=$(realpath "$3")
	(cd "$d/a" && ${CUOBJDUMP:-cuobjdump} -xelf all -xptx all "$a" >/dev/null) || exit 1
	(cd "$d/b" && ${CUOBJDUMP:-cuobjdump} -xelf all -xptx all "$b" >/dev/null) || exit 1
	na=$(basename "$a" .fatbin) nb=$(basename "$b" .fatbin)
	[ "$(ls "$d/a" | sed "s/^$na\.//")" = "$(ls "$d/b" | sed "s/^$nb\.//")" ] || exit 1
	for f in "$d/a"/*; do
		cmp -s "$f" "$d/b/$nb.${f##*/$na.}" || exit 1
	done
	exit 0
fi
NVCC=${NVCC:-nvcc}
PTXAS=${PTXAS:-ptxas}
FATBINARY=${FATBINARY:-fatbinary}
ARCHS=${SASS_ARCHS:-80 90}
out=$1
shift
srcs=("$@")
[ ${#srcs[@]} -gt 0 ] || srcs=(kernels/*.cu)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# nvcc names a source's internal symbols after a hash of its absolute path
# (_ZN…_INTERNAL_<hash>_…, in the PTX's line tables), so the sources are
# compiled from one fixed place, whatever the checkout's: the PTX is the same
# in every clone (CI's included). A lock keeps two builds from sharing it.
fixed=${KERNEL_BUILD_DIR:-/tmp/mnist-go-kernels}
exec 9>"$fixed.lock"
flock 9
rm -rf "$fixed"
mkdir -p "$fixed/kernels"
cp kernels/*.cu kernels/*.h "$fixed/kernels/"
status=0
# ptx SRC ARCH DST: SRC's PTX for compute_ARCH with line information, with
# relative source paths and a fixed time stamp and size (1, 1; 0 would
# make ptxas stat the file) on every .file, so that ptxas writes no file's
# modification time into the line tables: the output depends on the
# sources alone.
ptx() {
	(cd "$fixed" && "$NVCC" -ptx -arch=compute_$2 -O3 -std=c++17 -lineinfo "$fixed/kernels/$1.cu" -o "$tmp/$1.raw.ptx")
	sed -e "s|\"$fixed/kernels/|\"kernels/|" -e 's|^\(\s*\.file\s\+[0-9]\+\s\+"[^"]*"\)\s*$|\1, 1, 1|' \
		"$tmp/$1.raw.ptx" >"$3"
}
for src in "${srcs[@]}"; do
	base=$(basename "$src" .cu)
	ptx "$base" 80 "$out/$base.ptx"
	images=()
	for arch in $ARCHS; do
		from=$out/$base.ptx
		if [ "$arch" != 80 ]; then
			from=$tmp/$base.compute_$arch.ptx
			ptx "$base" "$arch" "$from"
		fi
		"$PTXAS" -arch=sm_$arch -O3 -lineinfo -v "$from" -o "$tmp/$base.sm_$arch.cubin" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
		awk -v arch=sm_$arch '/Compiling entry function/ { gsub(/[^A-Za-z0-9_]/, "", $7); k = $7 }
			/spill stores/ { spills = $5 " B spill stores, " $9 " B spill loads" }
			/Used [0-9]+ registers/ { printf "  %-6s %-22s %3d registers, %s\n", arch, k, $5, spills }' "$tmp/log"
		if grep -Eq '[1-9][0-9]* bytes spill' "$tmp/log"; then echo "$base: spills registers on sm_$arch" >&2; status=1; fi
		images+=("--image=profile=sm_$arch,file=$tmp/$base.sm_$arch.cubin")
	done
	"$FATBINARY" --create="$out/$base.fatbin" -64 --compress-all "${images[@]}" "--image=profile=compute_80,file=$out/$base.ptx"
done
exit $status

#!/bin/sh
# navit.sh — the NaViT packing benchmark of issue 5 (docs/NAVIT.md, "Measurements"):
#
#   one packed sequence of 8 images of 64 to 256 tokens (GRIDS below, 1020 of NaViT-B/16's
#   T = 1024 tokens) through models/navit_b16.vit compiled twice by vitc: with the default
#   pipeline (packing-mask-elimination: segment-aware attention, cost Σ nᵢ²) and with the
#   same pipeline without that pass (the masked attention over all T tokens, cost T²); and
#   PyTorch's scaled_dot_product_attention on the same attention shapes (12 layers of
#   [1, 12, T, 64]) with the boolean block-diagonal mask, and image by image.
#
#   sh bench/navit.sh [BUILD_DIR] [THREADS] [RUNS]      (defaults: build-release, 1, 5)
#
# BUILD_DIR holds a Release build of vitc (the runtime inside each .so is built with it).
# Per variant: vit_run's median of RUNS (bench/timing.h), each kernel's median time from
# the runtime's profile (VIT_PROFILE=FILE) summed by kind — the attention kernels apart —,
# the peak resident set after vit_open and after the runs; then bench/navit_report.py
# prints the table and the target: attention with the mask eliminated ≥ 0.8 · (Σnᵢ)²/Σnᵢ²
# times faster than with the pass disabled, at a lower peak memory. Work files go to
# $OUT (default /tmp/vitc_bench_navit). NOPASS overrides the pipeline without the pass.
set -e
BUILD=${1:-build-release}
THREADS=${2:-1}
RUNS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/vitc_bench_navit}
VITC="$BUILD/tools/vitc"
PYTHON=${PYTHON:-python3}
GRIDS=${GRIDS:-8x8,8x9,8x12,10x10,8x16,12x12,10x16,16x16}
NOPASS=${NOPASS:-moe-dispatch-lowering,canonicalize,attention-fusion,cse,dce}
mkdir -p "$OUT"
[ -x "$VITC" ] || { echo "navit.sh: no $VITC: build vitc first (cmake -DCMAKE_BUILD_TYPE=Release)" >&2; exit 1; }
PIN=""
if command -v taskset > /dev/null && [ "$THREADS" -le "$(nproc)" ]; then
  PIN="taskset -c 0-$((THREADS - 1))"
fi

cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-function -I"$SRC/runtime" -I"$SRC/bench" \
   "$SRC/bench/navit.c" -o "$OUT/navit" -ldl -lm

if [ ! -f "$OUT/navit_b16.safetensors" ]; then
  "$VITC" init "$SRC/models/navit_b16.vit" -o "$OUT/navit_b16.safetensors" > /dev/null
fi
echo "compiling navit_b16 with the default pipeline and without packing-mask-elimination ($NOPASS)" >&2
/usr/bin/time -f "%e s" "$VITC" compile "$SRC/models/navit_b16.vit" -o "$OUT/navit_pass.so" 2> "$OUT/compile_pass.txt"
/usr/bin/time -f "%e s" "$VITC" compile "$SRC/models/navit_b16.vit" --passes="$NOPASS" -o "$OUT/navit_nopass.so" \
  2> "$OUT/compile_nopass.txt"

: > "$OUT/results.txt"
for v in pass nopass; do
  rm -f "$OUT/profile_$v.txt"
  echo "running vitc ($v)" >&2
  VIT_PROFILE="$OUT/profile_$v.txt" OMP_NUM_THREADS=$THREADS $PIN "$OUT/navit" "$OUT/navit_$v.so" \
    "$OUT/navit_b16.safetensors" "$THREADS" "$RUNS" "$GRIDS" --save "$OUT/logits_$v.f32" | sed "s/^/$v /" \
    >> "$OUT/results.txt"
done

# the tokens of each image: "8x8,8x9" -> "64,72"
NS=$(echo "$GRIDS" | tr ',' '\n' | awk -Fx '{ printf "%s%d", (NR > 1 ? "," : ""), $1 * $2 }')
if "$PYTHON" -c "import torch" 2> /dev/null; then
  for mode in masked segments; do
    echo "running PyTorch ($mode)" >&2
    OMP_NUM_THREADS=$THREADS $PIN "$PYTHON" "$SRC/bench/navit.py" "$THREADS" "$RUNS" 1024 12 64 12 "$NS" "$mode" \
      >> "$OUT/results.txt"
  done
else
  echo "navit.sh: no PyTorch ($PYTHON -c 'import torch' fails): its rows are left out" >&2
fi
"$PYTHON" "$SRC/bench/navit_report.py" "$OUT" "$NS" "$THREADS" "$RUNS"

#!/bin/sh
# moe.sh — the MoE layer benchmark of issue 6 (docs/MOE.md):
#
#   V-MoE's MoE layer, E = 8 experts, k = 2, D = 768, hidden 3072, one group of 8 x 197
#   tokens, capacity factor 1.05 (C = 416), compiled by vitc, against the same tokens through
#   dense GEMMs of the same FLOPs (one MLP over the k x 1576 = 3152 rows the experts do
#   useful work on) and of the FLOPs the experts execute (E x C = 3328 rows, capacity slack
#   included), each as a model of its own compiled by vitc and timed round-robin in one
#   process (bench/moe.c), median of ROUNDS; then PyTorch's dense-all-experts and
#   gather/scatter versions (bench/moe.py) against PyTorch's own dense MLP. moe_per_expert is
#   the same layer with one 2-D matmul per expert instead of one batched over the experts (a
#   cross-check: both now read the expert weights packed in panels, one set per expert).
#
#   sh bench/moe.sh [BUILD_DIR] [THREADS] [ROUNDS]     (defaults: build, 1, 5)
#
# Environment: BASE_VITC=PATH also compiles the MoE layer with another vitc (say, a build of
# an earlier commit) and times it in the same rounds as moe_base (before/after);
# MOE_NO_TORCH=1 skips the PyTorch peers.
#
# The models are written to $OUT (default /tmp/vitc_bench_moe): moe.vit and dense_*.vit,
# whose "images" are token rows (f32[N, 197, 768, 1]) so that they run through the vitrt.h
# ABI and the runtime's thread pool like any model. VIT_PROFILE=1 in the environment makes
# the runtime print the time of each kernel of each model when it closes.
set -e
BUILD=${1:-build}
THREADS=${2:-1}
ROUNDS=${3:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/vitc_bench_moe}
VITC="$BUILD/tools/vitc"
mkdir -p "$OUT"

cat > "$OUT/moe.vit" <<'EOF'
import "prelude_moe.vit"
# the MoE layer of V-MoE B/16: 8 experts, top-2, C = 416 for one group of 8 x 197 tokens
model moe_layer {
  input image: f32[8, 197, 768, 1]
  x = reshape(image, [8, 197, 768])
  output tokens = moe_mlp(x, 8, 3072, "moe", k = 2, capacity_factor = 1.05, group_size = 1576)
}
EOF
# The same layer written with one 2-D matmul per expert (a slice of each expert weight) and a
# concat: what the batched expert GEMM reaches when its parameter B is pre-packed into panels
# as 2-D weights are (ir/plan_pack.c packs B only when it is the same for every batch index).
cat > "$OUT/moe_per_expert.vit" <<'EOF'
import "prelude_moe.vit"
model moe_layer {
  input image: f32[8, 197, 768, 1]
  x = reshape(image, [8, 197, 768])
  router = param("moe/Router/dense/kernel", [768, 8])
  w1 = param("moe/Mlp/Dense_0/kernel", [8, 768, 3072])
  b1 = param("moe/Mlp/Dense_0/bias", [8, 3072], init = "zeros")
  w2 = param("moe/Mlp/Dense_1/kernel", [8, 3072, 768])
  b2 = param("moe/Mlp/Dense_1/bias", [8, 768], init = "zeros")
  gates = softmax(x @ router, -1)
  route = moe_route(reshape(gates, [1, 1576, 8]), k = 2, capacity = 416)
  rows = maximum(transpose(reshape(route[:, 3152:], [1, 8, 416]), [1, 0, 2]), 0)
  xd = take(reshape(x, [1576, 768]), reshape(rows, [8, 416]), axis = 0)
  ys = []
  for e in 0 .. 8 {
    h = gelu(xd[e] @ w1[e] + b1[e], approximate = "tanh")
    ys = ys + [reshape(h @ w2[e] + b2[e], [1, 416, 768])]
  }
  output tokens = moe_combine(concat(ys, axis = 0), route, gates, k = 2, capacity = 416)
}
EOF
for rows in 16 8x416; do
  case $rows in
    16) shape="16, 197"; name=dense_useful ;;
    8x416) shape="8, 416"; name=dense_executed ;;
  esac
  cat > "$OUT/$name.vit" <<EOF
import "prelude_moe.vit"
# a dense MLP over [$shape] token rows
model $name {
  input image: f32[$shape, 768, 1]
  x = reshape(image, [$shape, 768])
  output tokens = flax_mlp(x, 3072, "mlp")
}
EOF
done

for m in moe dense_useful dense_executed; do
  "$VITC" init "$OUT/$m.vit" -o "$OUT/$m.safetensors" > /dev/null
  "$VITC" compile -O2 "$OUT/$m.vit" -o "$OUT/$m.so"
done
"$VITC" compile -O2 "$OUT/moe_per_expert.vit" -o "$OUT/moe_per_expert.so"
BASE=
if [ -n "$BASE_VITC" ]; then
  "$BASE_VITC" compile -O2 "$OUT/moe.vit" -o "$OUT/moe_base.so"
  BASE="moe_base=$OUT/moe_base.so:$OUT/moe.safetensors"
fi
cc -O2 -o "$OUT/moe_bench" "$SRC/bench/moe.c" -ldl

echo "# MoE layer (E 8, k 2, D 768, hidden 3072, 8 x 197 tokens, C 416); $THREADS thread(s), $ROUNDS rounds;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# vitc: model LABEL /OTHER=median over rounds of time/OTHER's time in the same round, then median min max ms;"
echo "#   dense_useful: the dense MLP on k x T = 3152 rows; dense_executed: on E x C = 3328 rows (what the experts run)"
"$OUT/moe_bench" "$THREADS" "$ROUNDS" "dense_useful=$OUT/dense_useful.so:$OUT/dense_useful.safetensors" \
    "dense_executed=$OUT/dense_executed.so:$OUT/dense_executed.safetensors" \
    "moe=$OUT/moe.so:$OUT/moe.safetensors" "moe_per_expert=$OUT/moe_per_expert.so:$OUT/moe.safetensors" $BASE
if [ -n "$MOE_NO_TORCH" ]; then
  echo "# PyTorch peers skipped (MOE_NO_TORCH)"
elif python3 -c "import torch" 2> /dev/null; then
  echo "# PyTorch $(python3 -c 'import torch; print(torch.__version__)'): ratio = time / its dense MLP on 3152 rows"
  python3 "$SRC/bench/moe.py" --threads "$THREADS" --runs "$ROUNDS"
else
  echo "# PyTorch not installed: peers skipped"
fi

#!/usr/bin/env bash
# bench/opencl.sh — the OpenCL backend on PoCL against the LLVM (CPU) backend, in one run.
#
#   bash bench/opencl.sh [--quick] [--wait-idle SECONDS]
#
# Builds vitc (Release, in build-bench/opencl/vitc; or uses $VITC) and bench/'s vitc_time and
# peak harnesses, compiles every model twice — `vitc compile` (LLVM) and `vitc compile
# --target=opencl` (PoCL's CPU device, binaries built ahead of time) — and measures, with 1
# and 2 threads (taskset to the first CPUs; VIT_NUM_THREADS for the CPU path and
# POCL_MAX_PTHREAD_COUNT for PoCL):
#
#   - the GEMMs of ViT-B/16 at batch 1 (one-matmul models as bench/run.sh writes them):
#     whole vit_run calls (vitc_time --gemm: x copied in, y out) and the GEMM kernel alone
#     (VIT_PROFILE's median per call), GFLOP/s and the ratio OpenCL / LLVM (throughput:
#     LLVM time ÷ OpenCL time; the aim is ≥ 0.8);
#   - ViT-S/16 and ViT-B/16 at batch 1 (`vitc init` weights): latency per image, and the
#     sum of the GEMM kernels' medians (VIT_PROFILE).
#
# The machine is shared and noisy: every measurement is repeated in BENCH_ROUNDS rounds
# (default 5, 3 with --quick) that alternate the two paths, each round a vitc_time median of
# BENCH_RUNS samples (default 3); the table gives the median over the rounds and the spread
# (min–max) of the ratio, and the load average at the start and the end. --wait-idle S
# waits up to S seconds for the 1-minute load average to fall below 1 first. The table is
# printed and written to build-bench/opencl/results.md. Never part of CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_OUT:-$ROOT/build-bench}/opencl
QUICK=0 WAIT=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --wait-idle) WAIT=${2:?--wait-idle needs seconds}; shift ;;
    *) echo "usage: bash bench/opencl.sh [--quick] [--wait-idle SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
ROUNDS=${BENCH_ROUNDS:-5}
[ "$QUICK" = 1 ] && ROUNDS=${BENCH_ROUNDS:-3}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-"1 2"}
mkdir -p "$OUT/bin" "$OUT/models"
log() { echo "== $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -g | awk '{a[NR] = $1} END {print NR ? a[int((NR + 1) / 2)] : "nan"}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f–%.2f", lo, hi}'; }

# ---- build ---------------------------------------------------------------------------------
if [ -z "${VITC:-}" ]; then
  log "build vitc (Release) in $OUT/vitc"
  cmake -S "$ROOT" -B "$OUT/vitc" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$OUT/vitc" -j2 --target vitc >/dev/null
  VITC=$OUT/vitc/tools/vitc
fi
make -s -C "$ROOT/bench" OUT="$OUT/bin" "$OUT/bin/vitc_time" "$OUT/bin/peak" >/dev/null
DEVICE=$(clinfo 2>/dev/null | awk -F'  +' '/^  Device Name/ && !d {print $3; d = 1}')
PLATFORM=$(clinfo 2>/dev/null | awk -F'  +' '/^  Platform Version/ && !d {print $3; d = 1}')

# ---- models --------------------------------------------------------------------------------
compile_both() { # .vit file, output stem
  "$VITC" compile "$1" -o "$2_llvm.so"
  "$VITC" compile --target=opencl "$1" -o "$2_ocl.so"
}
SHAPES="197,768,2304 197,768,768 197,768,3072 197,3072,768"
log "compile the GEMMs and the models, LLVM and OpenCL"
for s in $SHAPES; do
  IFS=, read -r m k n <<<"$s"
  g=$OUT/models/gemm_${m}_${k}_${n}
  cat >"$g.vit" <<EOF
# bench/: one GEMM of ViT-B/16, y[M, N] = x[M, K] @ W with W stored [N, K] as timm stores a Linear
model gemm_${m}_${k}_${n} {
  input x: f32[1, $m, $k, 1]
  output y = reshape(x, [$m, $k]) @ param("w.weight", [$k, $n], layout = [1, 0])
}
EOF
  "$VITC" init "$g.vit" -o "$g.safetensors" >/dev/null
  compile_both "$g.vit" "$g"
done
MODELS="vit_s16 vit_b16"
for mdl in $MODELS; do
  "$VITC" init "$ROOT/models/$mdl.vit" -o "$OUT/models/$mdl.safetensors" --seed 0 >/dev/null
  compile_both "$ROOT/models/$mdl.vit" "$OUT/models/$mdl"
done

# ---- measure ---------------------------------------------------------------------------------
if [ "$WAIT" -gt 0 ]; then
  log "waiting up to $WAIT s for a 1-minute load average below 1 (now $(load))"
  end=$((SECONDS + WAIT))
  while [ "$SECONDS" -lt "$end" ] && awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 1) }'; do
    sleep 10
  done
fi
LOAD0=$(load)
cpus() { [ "$1" = 1 ] && echo 0 || echo "0-$(($1 - 1))"; }
# run PATH THREADS SO WEIGHTS [--gemm]: one vitc_time median (ms per call of one image)
run() {
  local path=$1 t=$2 so=$3 w=$4
  shift 4
  if [ "$path" = llvm ]; then
    VIT_NUM_THREADS=$t taskset -c "$(cpus "$t")" "$OUT/bin/vitc_time" "$so" "$w" "$t" "$RUNS" 1 "$@"
  else
    POCL_MAX_PTHREAD_COUNT=$t taskset -c "$(cpus "$t")" "$OUT/bin/vitc_time" "$so" "$w" "$t" "$RUNS" 1 "$@"
  fi
}
# prof PATH THREADS SO WEIGHTS: the sum of the medians of the GEMM kernels run per image
prof() {
  local path=$1 t=$2 so=$3 w=$4
  VIT_PROFILE=1 run "$path" "$t" "$so" "$w" 2>&1 >/dev/null |
    awk '$3 > 1 && $9 == "gemm" {s += $4} END {printf "%.3f\n", s}'
}
RAW=$OUT/raw.txt
: >"$RAW"
log "FMA peak"
PEAK=$(for t in $THREADS; do "$OUT/bin/peak" "$t" 5; done | awk '{printf "%s%s %s threads %.0f GFLOP/s", (NR > 1 ? ", " : ""), $2, $3, $4}')
for r in $(seq "$ROUNDS"); do
  log "round $r of $ROUNDS (load $(load))"
  for t in $THREADS; do
    for path in llvm ocl; do
      [ $((r % 2)) = 0 ] && path=$([ "$path" = llvm ] && echo ocl || echo llvm) # alternate the order
      for s in $SHAPES; do
        g=$OUT/models/gemm_${s//,/_}
        ms=$(run "$path" "$t" "${g}_$path.so" "$g.safetensors" --gemm | awk '{print $7}')
        km=$(prof "$path" "$t" "${g}_$path.so" "$g.safetensors")
        echo "gemm $s $t $path $ms $km" >>"$RAW"
      done
      for mdl in $MODELS; do
        so=$OUT/models/${mdl}_$path.so w=$OUT/models/$mdl.safetensors
        ms=$(run "$path" "$t" "$so" "$w" | awk '{print $4}')
        km=$(prof "$path" "$t" "$so" "$w")
        echo "model $mdl $t $path $ms $km" >>"$RAW"
      done
    done
  done
done
LOAD1=$(load)
PEAK1=$(for t in $THREADS; do "$OUT/bin/peak" "$t" 5; done | awk '{printf "%s%s %s threads %.0f GFLOP/s", (NR > 1 ? ", " : ""), $2, $3, $4}')

# ---- report ----------------------------------------------------------------------------------
get() { # kind item threads path column(5: whole, 6: kernels)
  awk -v k="$1" -v i="$2" -v t="$3" -v p="$4" -v c="$5" '$1 == k && $2 == i && $3 == t && $4 == p {print $c}' "$RAW"
}
ratios() { # kind item threads column: per round, LLVM ms / OpenCL ms
  paste <(get "$1" "$2" "$3" llvm "$4") <(get "$1" "$2" "$3" ocl "$4") | awk '{printf "%.3f\n", $1 / $2}'
}
REPORT=$OUT/results.md
{
  echo "# bench/opencl.sh — OpenCL on PoCL vs the LLVM backend"
  echo
  echo "- $(date '+%Y-%m-%d %H:%M %Z'); device: $DEVICE ($PLATFORM)"
  echo "- FMA peak: $PEAK at the start, $PEAK1 at the end (where the 2-thread peak is near the 1-thread"
  echo "  one, the second CPU was busy with other work then, and the 2-thread rows say less)"
  echo "- load average (1, 5, 15 min): $LOAD0 at the start, $LOAD1 at the end; $ROUNDS rounds × $RUNS samples"
  echo "- ratio = LLVM time / OpenCL time (OpenCL's throughput relative to LLVM's; aim ≥ 0.8), median over"
  echo "  the rounds, and its spread; 'kernel' = the GEMM kernels alone (VIT_PROFILE medians), 'call' = vit_run"
  echo
  echo "| GEMM M×K×N | threads | LLVM call ms | OpenCL call ms | LLVM kernel GFLOP/s | OpenCL kernel GFLOP/s | kernel ratio (spread) | call ratio |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for t in $THREADS; do
    for s in $SHAPES; do
      IFS=, read -r m k n <<<"$s"
      fl=$(awk -v m="$m" -v k="$k" -v n="$n" 'BEGIN {print 2 * m * k * n / 1e6}')
      lc=$(get gemm "$s" "$t" llvm 5 | median) oc=$(get gemm "$s" "$t" ocl 5 | median)
      lk=$(get gemm "$s" "$t" llvm 6 | median) okm=$(get gemm "$s" "$t" ocl 6 | median)
      kr=$(ratios gemm "$s" "$t" 6 | median) ks=$(ratios gemm "$s" "$t" 6 | minmax)
      cr=$(ratios gemm "$s" "$t" 5 | median)
      awk -v s="${m}×${k}×${n}" -v t="$t" -v lc="$lc" -v oc="$oc" -v lk="$lk" -v ok="$okm" -v fl="$fl" \
          -v kr="$kr" -v ks="$ks" -v cr="$cr" \
          'BEGIN {printf "| %s | %d | %.2f | %.2f | %.1f | %.1f | %.2f (%s) | %.2f |\n", s, t, lc, oc, fl / lk, fl / ok, kr, ks, cr}'
    done
  done
  echo
  echo "| model (batch 1) | threads | LLVM ms/image | OpenCL ms/image | ratio (spread) | LLVM GEMMs ms | OpenCL GEMMs ms | GEMM ratio (spread) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for t in $THREADS; do
    for mdl in $MODELS; do
      lc=$(get model "$mdl" "$t" llvm 5 | median) oc=$(get model "$mdl" "$t" ocl 5 | median)
      lk=$(get model "$mdl" "$t" llvm 6 | median) okm=$(get model "$mdl" "$t" ocl 6 | median)
      awk -v s="$mdl" -v t="$t" -v lc="$lc" -v oc="$oc" -v lk="$lk" -v ok="$okm" \
          -v r="$(ratios model "$mdl" "$t" 5 | median)" -v rs="$(ratios model "$mdl" "$t" 5 | minmax)" \
          -v kr="$(ratios model "$mdl" "$t" 6 | median)" -v ks="$(ratios model "$mdl" "$t" 6 | minmax)" \
          'BEGIN {printf "| %s | %d | %.1f | %.1f | %.2f (%s) | %.1f | %.1f | %.2f (%s) |\n", s, t, lc, oc, r, rs, lk, ok, kr, ks}'
    done
  done
} >"$REPORT"
cat "$REPORT"

#!/usr/bin/env bash
# bench/run.sh — vitc against the best peers on this machine, in one command.
#
#   bash bench/run.sh [--quick] [--no-install] [--commit REV] [--wait-idle SECONDS]
#
# Installs the peers (Debian: OpenBLAS (OpenMP build), oneDNN; pip: torch, timm, onnx,
# onnxruntime, ...), builds vitc (Release) and the harnesses in build-bench/, then measures in
# one run: the FMA peak, the GEMM micro-kernel's ceiling, the GEMMs of ViT-B/16 (OpenBLAS, oneDNN, vitc) and the whole ViT-B/16
# (vitc, PyTorch eager and torch.compile, ONNX Runtime) at batch 1, 8 and 32 on 1 and 2 threads, the logits'
# agreement and vitc's peak resident memory; prints one table and writes it into
# bench/README.md. --quick: batch 1 only (M = 197 GEMMs), 5 runs, no torch.compile, and the
# table goes to build-bench/results.md instead of the README. --commit REV: build vitc from that
# commit (`git archive`, in build-bench/src) instead of the working tree, which others may be
# editing. --wait-idle S: before measuring, wait up to S seconds for the 1-minute load average
# to fall below 1 (the machine is shared). Benchmarks are never part of CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_OUT:-$ROOT/build-bench}
QUICK=0 INSTALL=1 COMMIT= WAIT=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    --commit) COMMIT=${2:?--commit needs a revision}; shift ;;
    --wait-idle) WAIT=${2:?--wait-idle needs seconds}; shift ;;
    *) echo "usage: bash bench/run.sh [--quick] [--no-install] [--commit REV] [--wait-idle SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
RUNS=${BENCH_RUNS:-7}
[ "$QUICK" = 1 ] && RUNS=${BENCH_RUNS:-5}
[ "$RUNS" -ge 5 ] || { echo "run.sh: BENCH_RUNS must be >= 5" >&2; exit 2; }
PY=${PYTHON:-python3}
VITC_FLAGS=${BENCH_VITC_FLAGS:-}   # e.g. "-O3": extra `vitc compile` options
mkdir -p "$OUT/bin" "$OUT/gemm" "$OUT/logits"
RES=$OUT/results.txt
: >"$RES"
log() { echo "== $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---- 1. install ------------------------------------------------------------------------
if [ "$INSTALL" = 1 ]; then
  log "install"
  bash "$ROOT/scripts/setup.sh" >/dev/null
  export DEBIAN_FRONTEND=noninteractive
  # libopenblas-openmp-dev: the OpenMP build (the pthread build fights with OpenMP pools)
  pkgs=(libopenblas-openmp-dev libopenblas-dev libdnnl-dev time util-linux)
  missing=$(for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || echo "$p"; done)
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  [ -z "$missing" ] || $SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 $missing >/dev/null
  # PyPI's only Linux x86-64 torch wheel is the CUDA build; it runs on the CPU as it is.
  $PY -m pip install -q torch timm safetensors numpy onnx onnxscript onnxruntime 2>&1 |
    grep -v -e 'Running pip as the' -e '^$' >&2 || true
fi

# ---- 2. build ----------------------------------------------------------------------------
echo "# measured from $(date '+%Y-%m-%d %H:%M %Z')" >>"$RES"
SRC=$ROOT
if [ -n "$COMMIT" ]; then
  SRC=$OUT/src
  rm -rf "$SRC" && mkdir -p "$SRC"
  git -C "$ROOT" archive "$COMMIT" | tar -x -C "$SRC"
  echo "# vitc built from commit $(git -C "$ROOT" rev-parse --short "$COMMIT")" >>"$RES"
else
  echo "# vitc built from the working tree at commit $(git -C "$ROOT" rev-parse --short HEAD)" >>"$RES"
fi
log "build vitc (Release, $SRC) and the harnesses in $OUT"
rm -f "$OUT/vitc/CMakeCache.txt"   # the source folder may differ from the last run's
cmake -S "$SRC" -B "$OUT/vitc" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/vitc" --target vitc -j2 >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
VITC=$OUT/vitc/tools/vitc
make -s -C "$ROOT/bench" OUT="$OUT/bin"
B=$OUT/bin

# One measurement: run the command; keep its result lines, each with the 1-minute load average
# at its end; a failure is a "fail" line, and the run goes on.
measure() {
  local rc=0 line
  "$@" >"$OUT/last.out" 2>"$OUT/last.err" || rc=$?
  while IFS= read -r line; do
    case $line in
      '#'*) grep -qxF -- "$line" "$RES" || echo "$line" ;;   # versions: once
      *) echo "$line load=$(load1)" ;;
    esac
  done <"$OUT/last.out" | tee -a "$RES" >&2
  [ "$rc" = 0 ] || echo "fail $* : $(grep -v '^\s*$' "$OUT/last.err" | tail -3 | tr '\n' ' ')" | tee -a "$RES" >&2
}
cpus() { seq -s, 0 $(($1 - 1)); }   # the first N CPUs
THREADS="1 2"
[ "$(nproc)" -ge 2 ] || THREADS=1

# ---- 3. models and weights -------------------------------------------------------------------
log "vitc compile / init"
W=$OUT/vit_b16.safetensors
"$VITC" init "$SRC/models/vit_b16.vit" -o "$W" --seed 0 >/dev/null
if ! "$VITC" compile $VITC_FLAGS "$SRC/models/vit_b16.vit" -o "$OUT/vit_b16.so" 2>"$OUT/last.err"; then
  echo "fail vitc compile models/vit_b16.vit : $(tail -3 "$OUT/last.err" | tr '\n' ' ')" | tee -a "$RES" >&2
  rm -f "$OUT/vit_b16.so"
fi
# The GEMMs of ViT-B/16 (M,K,N; M = 197 tokens per image, 196 patches for the patch embedding).
SHAPES="197,768,2304 197,768,768 197,768,3072 197,3072,768 196,768,768"
[ "$QUICK" = 1 ] || SHAPES="$SHAPES 1576,768,2304 1576,768,768 1576,768,3072 1576,3072,768 1568,768,768"
for s in $SHAPES; do
  IFS=, read -r m k n <<<"$s"
  g=$OUT/gemm/gemm_${m}_${k}_${n}
  cat >"$g.vit" <<EOF
# bench/: one GEMM of ViT-B/16, y[M, N] = x[M, K] @ W with W stored [N, K] as timm stores a Linear
model gemm_${m}_${k}_${n} {
  input x: f32[1, $m, $k, 1]
  output y = reshape(x, [$m, $k]) @ param("w.weight", [$k, $n], layout = [1, 0])
}
EOF
  "$VITC" init "$g.vit" -o "$g.safetensors" >/dev/null
  "$VITC" compile $VITC_FLAGS "$g.vit" -o "$g.so" 2>"$OUT/last.err" ||
    { echo "fail vitc compile $g.vit : $(tail -3 "$OUT/last.err" | tr '\n' ' ')" | tee -a "$RES" >&2; rm -f "$g.so"; }
done

# ---- 4. measure ---------------------------------------------------------------------------
if [ "$WAIT" -gt 0 ]; then
  log "waiting up to $WAIT s for a 1-minute load average below 1 (now $(load1))"
  end=$((SECONDS + WAIT))
  while [ "$SECONDS" -lt "$end" ] && awk -v l="$(load1)" 'BEGIN { exit !(l >= 1) }'; do sleep 10; done
  echo "# load average when the measurements began: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES" >&2
fi
log "FMA peak (start)"
for t in $THREADS; do measure "$B/peak" "$t" "$RUNS"; done
log "the GEMM micro-kernel's loop alone (its ceiling, % of the FMA loop)"
measure taskset -c 0 "$B/ukernel" "$RUNS"

log "GEMMs"
# Round-robin, so that the peers of a row share the machine's load: RUNS rounds, each running
# every shape in OpenBLAS, oneDNN and vitc one after the other, one process and one sample each
# (after its own warm-up call); report.py takes the median over the rounds.
for t in $THREADS; do
  for r in $(seq "$RUNS"); do
    for s in $SHAPES; do
      for lib in openblas dnnl; do
        OMP_NUM_THREADS=$t measure taskset -c "$(cpus "$t")" "$B/gemm_peers" "$lib" "$t" 1 "$s"
      done
      g=$OUT/gemm/gemm_${s//,/_}
      if [ -f "$g.so" ]; then
        measure taskset -c "$(cpus "$t")" "$B/vitc_time" "$g.so" "$g.safetensors" "$t" 1 1 --gemm
      fi
    done
  done
done

log "ViT-B/16"
IN=$OUT/logits/input.f32
rm -f "$OUT/vit_b16.onnx" "$OUT/vit_b16.onnx.data"   # exported anew from this run's weights
$PY "$ROOT/bench/peers.py" input "$IN" --images 32
rm -f "$OUT"/logits/*_b*.f32
BATCHES="1 8 32"; [ "$QUICK" = 1 ] && BATCHES=1   # 32: issue 4's throughput batch
LAST=${BATCHES##* }
for t in $THREADS; do
  c=$(cpus "$t")
  if [ -f "$OUT/vit_b16.so" ]; then
    for b in $BATCHES; do
      save=(); [ "$b" = "$LAST" ] && save=(--save "$OUT/logits/vitc_b$b.f32")
      measure taskset -c "$c" "$B/vitc_time" "$OUT/vit_b16.so" "$W" "$t" "$RUNS" "$b" --input "$IN" "${save[@]}"
    done
  fi
  OMP_NUM_THREADS=$t measure taskset -c "$c" $PY "$ROOT/bench/peers.py" torch "$W" "$IN" --threads "$t" \
    --runs "$RUNS" --batches "${BATCHES// /,}" --save "$OUT/logits"
  [ "$QUICK" = 1 ] || OMP_NUM_THREADS=$t measure taskset -c "$c" $PY "$ROOT/bench/peers.py" torch "$W" "$IN" \
    --threads "$t" --runs "$RUNS" --batches "${BATCHES// /,}" --save "$OUT/logits" --compile
  OMP_NUM_THREADS=$t measure taskset -c "$c" $PY "$ROOT/bench/peers.py" ort "$W" "$IN" "$OUT/vit_b16.onnx" \
    --threads "$t" --runs "$RUNS" --batches "${BATCHES// /,}" --save "$OUT/logits"
done
$PY "$ROOT/bench/peers.py" compare "$OUT/logits" | tee -a "$RES" >&2

log "ViT-B/16 by operation (vitc bench, batch 1)"
# vitc's own profile: the time of every kernel, summed by operation over the 12 blocks
# ("op T NAME KIND ms/run %time kernels GFLOP/s %peak", %peak of vitc bench's own FMA loop)
if [ -f "$OUT/vit_b16.so" ]; then
  for t in $THREADS; do
    if taskset -c "$(cpus "$t")" "$VITC" bench "$OUT/vit_b16.so" --weights "$W" --threads "$t" --repeat "$RUNS" \
        --top 0 >"$OUT/last.out" 2>"$OUT/last.err"; then
      awk -v t="$t" -v ld="$(load1)" '/^by operation/ { on = 1; next } on && NF == 0 { on = 0 }
        on { $1 = $1; print "op " t " " $0 " load=" ld }' "$OUT/last.out" | tee -a "$RES" >&2
    else
      echo "fail vitc bench --threads $t : $(tail -3 "$OUT/last.err" | tr '\n' ' ')" | tee -a "$RES" >&2
    fi
  done
fi

log "peak resident memory of a ViT-B/16 run through the .so"
if [ -f "$OUT/vit_b16.so" ]; then
  for b in $BATCHES; do
    /usr/bin/time -o "$OUT/time.txt" -f %M "$B/vitc_time" "$OUT/vit_b16.so" "$W" 1 1 "$b" --input "$IN" --mem \
      >"$OUT/last.out" 2>"$OUT/last.err" || { echo "fail rss batch $b: $(tail -2 "$OUT/last.err" | tr '\n' ' ')"; continue; }
    echo "rss vitc $b $(tail -1 "$OUT/time.txt") $(stat -c %s "$W") $(grep '^mem' "$OUT/last.out" | cut -d' ' -f3-)" |
      tee -a "$RES" >&2
  done
fi

log "FMA peak (end)"
for t in $THREADS; do measure "$B/peak" "$t" "$RUNS"; done

# ---- 5. report -------------------------------------------------------------------------------
DEST=$ROOT/bench/README.md
[ "$QUICK" = 1 ] && DEST=$OUT/results.md
$PY "$ROOT/bench/report.py" "$RES" "$DEST" --vitc "$VITC" --runs "$RUNS" $([ "$QUICK" = 1 ] && echo --quick)

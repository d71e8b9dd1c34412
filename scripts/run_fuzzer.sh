#!/bin/sh
# run_fuzzer.sh — runs one libFuzzer target for a while over a copy of its seed corpus.
#
#   scripts/run_fuzzer.sh BINARY SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
#
# WORK_DIR is emptied and filled with a copy of SEED_DIR (which may not exist yet), so the
# inputs libFuzzer adds never touch the source tree; crash, leak and timeout reproducers
# go to WORK_DIR/artifacts/. Exits non-zero when libFuzzer finds a problem.
# Reproduce a finding with: BINARY WORK_DIR/artifacts/crash-...
set -eu
if [ $# -lt 4 ]; then
    echo "usage: $0 BINARY SEED_DIR WORK_DIR SECONDS [flags...]" >&2
    exit 2
fi
bin=$1 seed=$2 work=$3 secs=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$seed" ]; then
    cp -R "$seed/." "$work/corpus/"
else
    echo "note: no seed corpus at $seed; starting from nothing"
fi
echo "fuzzing $(basename "$bin") for ${secs}s over $(ls "$work/corpus" | wc -l) seed inputs"
status=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: $(basename "$bin") exited with $status; reproducers:"
    ls -l "$work/artifacts/" || true
fi
exit "$status"

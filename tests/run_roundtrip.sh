#!/bin/sh
# run_roundtrip.sh — print → parse → print is identity.
#
#   tests/run_roundtrip.sh VITC WORKDIR FILE...
#
# For each FILE (a .vit model or a .vir graph): `vitc dump FILE > a.vir`, then
# `vitc dump a.vir > b.vir`, and a.vir and b.vir must be byte-identical. A .vir that vitc
# rejects is skipped (the lit suite holds deliberately bad IR); a .vit must compile,
# except a file that declares no `model` (the prelude: only defs). Ends with
# 'N passed, N failed' (', N skipped').
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 VITC WORKDIR FILE..." >&2
    exit 2
fi
vitc=$1
work=$2
shift 2
mkdir -p "$work" || exit 2
passed=0 failed=0 skipped=0
for f in "$@"; do
    base=$(basename "$f")
    a="$work/$base.a.vir"
    b="$work/$base.b.vir"
    case "$f" in
    *.vit)
        if ! grep -Eq '^[[:space:]]*model[[:space:]]' "$f"; then
            skipped=$((skipped + 1))
            continue
        fi
        if ! "$vitc" dump "$f" >"$a"; then
            echo "FAIL: $f: vitc dump failed"
            failed=$((failed + 1))
            continue
        fi
        ;;
    *)
        if ! "$vitc" dump "$f" >"$a" 2>/dev/null; then
            skipped=$((skipped + 1))
            continue
        fi
        ;;
    esac
    if ! "$vitc" dump "$a" >"$b"; then
        echo "FAIL: $f: vitc dump of its own output ($a) failed"
        failed=$((failed + 1))
    elif ! cmp -s "$a" "$b"; then
        echo "FAIL: $f: printing the parsed output changes it:"
        diff -u "$a" "$b" | head -n 40
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/usr/bin/env python3
"""run_errors.py — the expected-diagnostics tests.

For each tests/errors/NAME.vit, runs `vitc dump NAME.vit` in tests/errors/ and requires
exit status 1 and a stderr byte-identical to NAME.err (a missing .err is a failure).
Prints a unified diff for every mismatch and ends with 'N passed, N failed'.

  tests/run_errors.py --vitc build/tools/vitc            # check all
  tests/run_errors.py --vitc build/tools/vitc bad_shape  # check some (names or paths)
  tests/run_errors.py --vitc build/tools/vitc --update   # rewrite the .err files from vitc
"""
import argparse
import difflib
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ERRORS = os.path.join(HERE, "errors")
TIMEOUT_S = 60


def select(names):
    if not names:
        return sorted(glob.glob(os.path.join(ERRORS, "*.vit")))
    out = []
    for n in names:
        base = os.path.basename(n)
        if not base.endswith(".vit"):
            base += ".vit"
        path = os.path.join(ERRORS, base)
        if not os.path.exists(path):
            sys.exit("run_errors: no such test: %s" % path)
        out.append(path)
    return out


def run_one(vitc, path, update):
    """Returns None when the test passes, else a message."""
    name = os.path.basename(path)
    golden = path[:-len(".vit")] + ".err"
    try:
        p = subprocess.run([vitc, "dump", name], cwd=ERRORS, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIMEOUT_S
    problems = []
    if p.returncode != 1:
        problems.append("exit status %d, expected 1" % p.returncode)
    if update:
        if p.returncode == 1:
            old = open(golden, "rb").read() if os.path.exists(golden) else None
            if old != p.stderr:
                with open(golden, "wb") as f:
                    f.write(p.stderr)
                print("updated %s" % os.path.relpath(golden))
        return "; ".join(problems) or None
    if not os.path.exists(golden):
        problems.append("missing %s (create it with --update)" % os.path.relpath(golden))
    else:
        want = open(golden, "rb").read()
        if want != p.stderr:
            diff = difflib.unified_diff(
                want.decode("utf-8", "replace").splitlines(True),
                p.stderr.decode("utf-8", "replace").splitlines(True),
                fromfile=os.path.relpath(golden), tofile="stderr of vitc dump " + name)
            text = "".join(diff)
            if not text:  # differ only in bytes that decode alike
                text = "stderr differs from %s in its bytes\n" % os.path.relpath(golden)
            problems.append("stderr differs from the golden file:\n" + text)
    return "\n".join(problems) or None


def main():
    ap = argparse.ArgumentParser(description="Checks vitc's diagnostics against tests/errors/*.err.")
    ap.add_argument("--vitc", default=os.path.join(os.path.dirname(HERE), "build", "tools", "vitc"))
    ap.add_argument("--update", action="store_true", help="rewrite the .err files from vitc's output")
    ap.add_argument("names", nargs="*", help="tests to run (default: all)")
    args = ap.parse_args()
    vitc = os.path.abspath(args.vitc)
    if not (os.path.isfile(vitc) and os.access(vitc, os.X_OK)):
        sys.exit("run_errors: vitc not found at %s (pass --vitc)" % vitc)
    tests = select(args.names)
    passed = failed = 0
    for path in tests:
        msg = run_one(vitc, path, args.update)
        if msg is None:
            passed += 1
        else:
            failed += 1
            print("FAIL: %s: %s" % (os.path.relpath(path), msg))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""show_reference.py — timm's logits for the committed test images, and how close vitc came.

  show_reference.py [HEAD ...]                 timm's top-1 class and logits per image
                                               (HEAD: cls, gap, map; default all three)
  show_reference.py HEAD --compare OUT.safetensors
                                               also vitc's `logits` from OUT (written by
                                               `vitc run --save-outputs`): per image both
                                               top-1 classes, then max |vitc - timm|; exits 1
                                               above --tolerance (default 1e-4)

Standard library only (CI has neither numpy nor torch).
"""
import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = {"F32": ("f", 4), "F64": ("d", 8)}


def read_tensor(path, name):
    """(shape, flat tuple of floats) of tensor `name` (F32 or F64) in a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    if name not in header:
        raise SystemExit("%s: no tensor named '%s'" % (path, name))
    info = header[name]
    if info["dtype"] not in FORMATS:
        raise SystemExit("%s: %s is %s, not F32 or F64" % (path, name, info["dtype"]))
    code, size = FORMATS[info["dtype"]]
    begin, end = info["data_offsets"]
    return info["shape"], struct.unpack_from("<%d%s" % ((end - begin) // size, code), data, 8 + n + begin)


def top1(row):
    return max(range(len(row)), key=lambda c: row[c])


def main():
    ap = argparse.ArgumentParser(description="timm's logits for the test images, and vitc's distance to them")
    ap.add_argument("heads", nargs="*", default=["cls", "gap", "map"])
    ap.add_argument("--compare", metavar="OUT.safetensors")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    if args.compare and len(args.heads) != 1:
        ap.error("--compare needs exactly one HEAD")
    status = 0
    for head in args.heads:
        shape, want = read_tensor(os.path.join(HERE, "vit_test_%s_io.safetensors" % head), "logits")
        n, k = shape
        got = None
        if args.compare:
            gshape, got = read_tensor(args.compare, "logits")
            if gshape != shape:
                print("vit_test_%s: vitc's logits have shape %s, timm's %s" % (head, gshape, shape))
                return 1
        print("vit_test_%s:" % head)
        for i in range(n):
            row = want[i * k:(i + 1) * k]
            line = "  img%d.png: timm class %d (logit %.4f)" % (i, top1(row), row[top1(row)])
            if got:
                grow = got[i * k:(i + 1) * k]
                line += ", vitc class %d (logit %.4f)" % (top1(grow), grow[top1(grow)])
            else:
                line += "  logits " + " ".join("%.4f" % v for v in row)
            print(line)
        if got:
            delta = max(abs(a - b) if a == a and b == b else float("inf") for a, b in zip(got, want))
            verdict = "ok" if delta <= args.tolerance else "TOO FAR"
            print("  max |vitc - timm| = %.3g over %d logits (tolerance %g): %s" %
                  (delta, len(want), args.tolerance, verdict))
            if delta > args.tolerance:
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

"""navit_report.py — the table of bench/navit.sh from its work folder.

    python3 bench/navit_report.py OUT NS THREADS RUNS

OUT/results.txt holds the harnesses' lines ("pass navit ...", "pass mem ...", "torch MODE
..."); OUT/profile_{pass,nopass}.txt the runtime's kernel samples (rt_profile.c format);
OUT/logits_{pass,nopass}.f32 the outputs of the two .so files. The attention of a vitc
variant is the sum over its attention kernels (kind names with "attention" or "segment":
the masked flash attention without the pass, the segment-aware kernels with it) of each
kernel's median time per forward pass.
"""
import os
import struct
import sys
from collections import defaultdict


def profile(path):
    """{kind: ms per forward} from the medians of every non-once kernel, and their count."""
    kinds, count = defaultdict(float), defaultdict(int)
    meta = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w or w[0] == "#":
                continue
            if w[0] == "kernel":
                meta[int(w[1])] = (int(w[2]), w[8])  # once, the kind name (the label: "kN KIND FILE:LINE")
            elif w[0] == "samples":
                k = int(w[1])
                once, kind = meta[k]
                s = sorted(float(x) for x in w[2:])
                if once or not s:
                    continue
                n = len(s)
                med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
                kinds[kind] += med * 1e3
                count[kind] += 1
    return kinds, count


def is_attention(kind):
    return "attention" in kind or "segment" in kind or kind.startswith("seg")


def main():
    out, ns, threads, runs = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], sys.argv[3], sys.argv[4]
    res = defaultdict(dict)
    torch_rows = {}
    with open(os.path.join(out, "results.txt")) as f:
        for line in f:
            w = line.split()
            if len(w) >= 7 and w[1] == "navit":
                res[w[0]]["time"] = (float(w[5]), float(w[6]), float(w[7]))
                res[w[0]]["tokens"] = int(w[4])
            elif len(w) == 5 and w[1] == "mem":
                res[w[0]]["mem"] = (int(w[2]), int(w[3]), int(w[4]))
            elif w and w[0] == "torch":
                torch_rows[w[1]] = (float(w[3]), float(w[4]), float(w[5]), int(w[6]), int(w[7]))
    s1, s2 = sum(ns), sum(n * n for n in ns)
    ideal = s1 * s1 / s2
    load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    print(f"NaViT-B/16, one packed sequence of {len(ns)} images: tokens {ns} = {s1} of T = 1024; "
          f"{threads} thread(s), medians of {runs}; 1-minute load average at the end: {load}")
    print(f"(Σnᵢ)²/Σnᵢ² = {s1}²/{s2} = {ideal:.2f}; target: attention ≥ 0.8 × that = {0.8 * ideal:.2f}× faster "
          f"with the mask eliminated\n")
    prof = {}
    for v in ("pass", "nopass"):
        p = os.path.join(out, f"profile_{v}.txt")
        if os.path.exists(p):
            prof[v] = profile(p)
    print("| variant | vit_run ms [min–max] | attention kernels ms | other kernels ms | peak RSS after open → "
          "after runs (MiB) | Δ peak (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    att = {}
    names = {"pass": "vitc, mask eliminated (default)", "nopass": "vitc, pass disabled"}
    for v in ("pass", "nopass"):
        if v not in res or "time" not in res[v]:
            continue
        t = res[v]["time"]
        kinds, _ = prof.get(v, ({}, {}))
        a = sum(ms for k, ms in kinds.items() if is_attention(k))
        o = sum(ms for k, ms in kinds.items() if not is_attention(k))
        att[v] = a
        m = res[v].get("mem", (0, 0, 0))
        print(f"| {names[v]} | {t[0]:.1f} [{t[1]:.1f}–{t[2]:.1f}] | {a:.1f} | {o:.1f} | {m[0] / 1024:.0f} → "
              f"{m[1] / 1024:.0f} | {(m[1] - m[0]) / 1024:.1f} |")
    tn = {"masked": "PyTorch SDPA, boolean mask over T", "segments": "PyTorch SDPA, image by image"}
    for mode in ("masked", "segments"):
        if mode in torch_rows:
            t = torch_rows[mode]
            print(f"| {tn[mode]} (attention only) | | {t[0]:.1f} [{t[1]:.1f}–{t[2]:.1f}] | | {t[4] / 1024:.0f} → "
                  f"{t[3] / 1024:.0f} | {(t[3] - t[4]) / 1024:.1f} |")
    print()
    for v in ("pass", "nopass"):
        if v in prof:
            kinds, count = prof[v]
            row = ", ".join(f"{k} {ms:.1f} ({count[k]})" for k, ms in sorted(kinds.items(), key=lambda x: -x[1]))
            print(f"{names[v]}: ms by kernel kind (kernels): {row}")
    if "pass" in att and "nopass" in att and att["pass"] > 0:
        r = att["nopass"] / att["pass"]
        mem_ok = res["pass"].get("mem", (0, 0))[1] < res["nopass"].get("mem", (0, 0))[1]
        print(f"\nattention speed-up with the mask eliminated: {r:.2f}× (target ≥ {0.8 * ideal:.2f}×: "
              f"{'met' if r >= 0.8 * ideal else 'NOT met'}); peak RSS lower: {'yes' if mem_ok else 'NO'}")
    lp, ln = (os.path.join(out, f"logits_{v}.f32") for v in ("pass", "nopass"))
    if os.path.exists(lp) and os.path.exists(ln):
        a, b = (open(p, "rb").read() for p in (lp, ln))
        fa, fb = (struct.unpack(f"{len(x) // 4}f", x) for x in (a, b))
        d = max(abs(x - y) for x, y in zip(fa, fb)) if fa else float("nan")
        print(f"logits, mask eliminated vs pass disabled: max |diff| = {d:.3g} over {len(fa)} values")
    if "masked" in torch_rows and "segments" in torch_rows:
        print(f"PyTorch: image by image is {torch_rows['masked'][0] / torch_rows['segments'][0]:.2f}× faster than "
              f"the masked SDPA")


if __name__ == "__main__":
    main()

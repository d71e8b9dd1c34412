"""report.py — bench/run.sh's results as one table, with the machine described.

    python3 report.py RESULTS DEST [--vitc VITC] [--runs R] [--quick]

Reads the lines run.sh collected (see bench/README.md, "What the numbers mean"), prints the
report and writes it into DEST: between the markers `<!-- results:begin -->` and
`<!-- results:end -->` when DEST has them (bench/README.md), else as the whole file.
"""
import argparse
import os
import platform
import re
import statistics
import subprocess

# ViT-B/16 at 224, per image: the GEMMs, the attention products and the patch embedding,
# 2 FLOP per multiply-add (what `vitc dump --stats` counts as matmul FLOPs).
T, D, MLP, L, H = 197, 768, 3072, 12, 12
VIT_B16_FLOP = (L * (2 * T * D * 3 * D + 2 * T * D * D + 2 * 2 * T * D * MLP + 2 * 2 * H * T * T * (D // H))
                + 2 * 196 * D * D + 2 * D * 1000)
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return ""


def parse(path):
    r = {"peak": {}, "gemm": {}, "model": {}, "agree": [], "rss": [], "fail": [], "notes": [], "op": {}, "ukernel": []}
    for raw in open(path):
        line = raw.strip()
        load = None
        m = re.search(r" load=(\S+)$", line)
        if m:
            load, line = float(m.group(1)), line[: m.start()]
        f = line.split()
        if not f:
            continue
        if f[0] == "#":
            r["notes"].append(line[2:])
        elif f[0] == "peak":
            r["peak"].setdefault(int(f[2]), []).append((float(f[3]), float(f[4]), float(f[5]), load, f[1]))
        elif f[0] == "ukernel":  # ukernel WHERE K MEDIAN MIN MAX (% of the FMA loop)
            r["ukernel"].append((f[1], int(f[2])) + tuple(float(x) for x in f[3:6]))
        elif f[0] == "gemm":
            lib, t, mm, k, n = f[1], int(f[2]), int(f[3]), int(f[4]), int(f[5])
            r["gemm"].setdefault((mm, k, n, t, lib), []).append((float(f[6]), float(f[7]), float(f[8]), f[10], load))
        elif f[0] in ("vitc", "torch", "torch.compile", "ort"):
            r["model"].setdefault((int(f[1]), int(f[2]), f[0]), []).append((float(f[3]), float(f[4]), float(f[5]),
                                                                            "", load))
        elif f[0] == "agree":
            r["agree"].append(f[1:])
        elif f[0] == "rss":  # rss vitc BATCH MAXRSS_KB WEIGHTS_BYTES [VmHWM RssFile RssAnon]
            r["rss"].append((int(f[2]), int(f[3]), int(f[4])) + tuple(int(x) for x in f[6:8]))
        elif f[0] == "op" and len(f) >= 8:  # op T NAME... ms/run %time kernels GFLOP/s %peak
            r["op"].setdefault(int(f[1]), []).append((" ".join(f[2:-5]),) + tuple(float(x) for x in f[-5:]))
        elif f[0] == "fail":
            r["fail"].append(line[5:])
    # Several lines for one measurement (run.sh's rounds): the median of their medians, the
    # extremes of their extremes, the worst check, the largest load.
    for key, v in r["gemm"].items():
        med = statistics.median(x[0] for x in v)
        mm, k, n = key[:3]
        rel = max(float(x[3].split("=")[1]) for x in v)
        r["gemm"][key] = (med, min(x[1] for x in v), max(x[2] for x in v), 2.0 * mm * k * n / med * 1e-6,
                          f"maxrel={rel:.1e}", max((x[4] for x in v if x[4] is not None), default=None))
    for key, v in r["model"].items():
        r["model"][key] = (statistics.median(x[0] for x in v), min(x[1] for x in v), max(x[2] for x in v),
                           max((x[4] for x in v if x[4] is not None), default=None))
    return r


def peak_of(r, t):
    """The larger of the start and end medians: the conservative 100%."""
    return max(p[0] for p in r["peak"][t]) if t in r["peak"] else None


def machine(r, vitc):
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    flags = sh("grep -m1 flags /proc/cpuinfo").split()
    simd = " ".join(x for x in flags if re.match(r"(avx|fma|amx|f16c)", x))
    caches = "; ".join(sh(f"lscpu | grep -E '^{c} cache'").split(":", 1)[-1].strip() + f" {c}"
                       for c in ("L1d", "L2", "L3"))
    mem = sh("free -g | awk '/Mem:/{print $2}'")
    vers = []
    for mod in ("torch", "timm", "onnx", "onnxruntime", "numpy", "safetensors"):
        v = sh(f"python3 -c 'import {mod}; print({mod}.__version__)' 2>/dev/null")
        vers.append(f"{mod} {v or 'missing'}")
    torch_blas = sh("python3 -c \"import torch; c = torch.__config__.show(); "
                    "print('; '.join(l.strip(' -') for l in c.splitlines() if 'Math Kernel' in l or 'MKL-DNN' in l "
                    "or 'OpenMP' in l))\" 2>/dev/null")
    lines = [
        f"- CPU: {cpu}, {sh('nproc')} cores as seen by Linux ({platform.machine()}, kernel {platform.release()}), "
        f"{mem} GiB memory",
        f"- SIMD flags: {simd}",
        f"- caches: {caches}",
        f"- vitc built Release by "
        f"{sh('cc --version | head -1')}, LLVM {sh('llvm-config-15 --version')}",
    ]
    lines += [f"- {n}" for n in dict.fromkeys(r["notes"])]
    lines.append(f"- Python {platform.python_version()}: {', '.join(vers)}")
    if torch_blas:
        lines.append(f"- PyTorch's BLAS and threads: {torch_blas}")
    return lines


def cell_gemm(v, peak):
    if v is None:
        return "—"
    pct = f" {100 * v[3] / peak:.0f}%" if peak else ""
    m, k, n = v[6]
    flop = 2.0 * m * k * n
    bad = float(v[4].split("=")[1]) > 1e-4  # relative error of 64 entries against a double dot product
    return f"{v[3]:.0f} [{flop / v[2] * 1e-6:.0f}–{flop / v[1] * 1e-6:.0f}]{pct}" + (f" WRONG ({v[4]})" if bad else "")


def gemm_table(r):
    out = ["| M × K × N | threads | OpenBLAS | oneDNN | vitc | vitc / oneDNN | load |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    shapes = list(dict.fromkeys(k[:3] for k in r["gemm"]))  # in the order measured
    threads = sorted({k[3] for k in r["gemm"]})
    for t in threads:
        peak = peak_of(r, t)
        for s in shapes:
            row, loads = [], []
            for lib in ("openblas", "dnnl", "vitc"):
                v = r["gemm"].get(s + (t, lib))
                row.append(cell_gemm(v + (s,) if v else None, peak))
                if v and v[5] is not None:
                    loads.append(v[5])
            d, v = r["gemm"].get(s + (t, "dnnl")), r["gemm"].get(s + (t, "vitc"))
            ratio = f"{v[3] / d[3]:.2f}" if d and v else "—"
            what = {2304: "qkv", 3072: "fc1"}.get(s[2], "fc2" if s[1] == 3072 else
                                                 "patch" if s[0] % 196 == 0 else "proj")
            out.append(f"| {s[0]}×{s[1]}×{s[2]} ({what}) | {t} | {' | '.join(row)} | {ratio} | "
                       f"{max(loads) if loads else '—'} |")
    return out


def model_table(r):
    out = ["| threads | batch | peer | ms per image: median [min–max] | GFLOP/s | % of peak | load |",
           "| ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    names = {"vitc": "vitc (.so through vitrt.h)", "torch": "PyTorch eager", "torch.compile": "torch.compile",
             "ort": "ONNX Runtime"}
    for t, b, peer in sorted(r["model"], key=lambda k: (k[0], k[1], list(names).index(k[2]))):
        med, lo, hi, load = r["model"][(t, b, peer)]
        gf = VIT_B16_FLOP * b / (med * 1e-3) * 1e-9
        peak = peak_of(r, t)
        pct = f"{100 * gf / peak:.0f}%" if peak else "—"
        out.append(f"| {t} | {b} | {names[peer]} | {med / b:.1f} [{lo / b:.1f}–{hi / b:.1f}] | {gf:.0f} | {pct} | "
                   f"{load} |")
    return out


def must_show(r):
    """Issue 4's targets, checked on this run's numbers."""
    out = ["| target (issue 4) | this run | met |", "| --- | --- | --- |"]
    m = r["model"]
    for t, need in ((2, 80), (1, 85)):
        v = m.get((t, 1, "vitc"))
        peak = peak_of(r, t)
        if v and peak:
            pct = 100 * VIT_B16_FLOP / (v[0] * 1e-3) * 1e-9 / peak
            out.append(f"| ViT-B/16 batch 1, {t} thread{'s' * (t > 1)}: ≥ {need}% of peak | {pct:.0f}% | "
                       f"{'yes' if pct >= need else 'no'} |")
    v = m.get((2, 1, "vitc"))
    for peer, name in (("torch", "PyTorch"), ("torch.compile", "torch.compile"), ("ort", "ONNX Runtime")):
        p = m.get((2, 1, peer))
        if v and p:
            out.append(f"| ViT-B/16 batch 1, 2 threads: faster than {name} | {v[0]:.0f} vs {p[0]:.0f} ms | "
                       f"{'yes' if v[0] < p[0] else 'no'} |")
    for t, need in ((1, 1.0), (2, 0.9)):
        ratios = [(s, r["gemm"][s + (t, "vitc")][3] / r["gemm"][s + (t, "dnnl")][3])
                  for s in dict.fromkeys(k[:3] for k in r["gemm"])
                  if s + (t, "vitc") in r["gemm"] and s + (t, "dnnl") in r["gemm"]]
        if ratios:
            worst = min(ratios, key=lambda x: x[1])
            out.append(f"| GEMMs, {t} thread{'s' * (t > 1)}: ≥ {need:.0%} of oneDNN's GFLOP/s on every shape | "
                       f"worst {worst[1]:.2f} ({'×'.join(map(str, worst[0]))}) | {'yes' if worst[1] >= need else 'no'} |")
    for b, kb, wbytes, *_ in r["rss"][:1]:
        out.append(f"| peak RSS of a ViT-B/16 run ≤ weights + 64 MiB | {kb / 1024:.0f} MiB ≤ "
                   f"{(wbytes + 64 * 2**20) / 2**20:.0f} MiB | {'yes' if kb * 1024 <= wbytes + 64 * 2**20 else 'no'} |")
    return out


def op_table(r):
    ts = sorted(r["op"])
    head = " | ".join(f"{t} thread{'s' * (t > 1)}: ms per run | % of time | GFLOP/s | % of peak" for t in ts)
    out = [f"| operation | kernels | {head} |", "| --- | ---: |" + " ---: | ---: | ---: | ---: |" * len(ts)]
    rows = {t: {o[0]: o for o in r["op"][t]} for t in ts}
    for name, *rest in r["op"][ts[0]]:
        cells = []
        for t in ts:
            o = rows[t].get(name)
            cells.append(f"{o[1]:.2f} | {o[2]:.1f} | {o[4]:.0f} | {o[5]:.0f}%" if o else "— | — | — | —")
        out.append(f"| {name} | {rest[2]:.0f} | {' | '.join(cells)} |")
    return out


def build(r, a):
    out = [f"Measured by `bash bench/run.sh{' --quick' if a.quick else ''}`: medians of {a.runs} runs, "
           "[smallest–largest] as the spread, load = the 1-minute load average at the end of each measurement "
           "(the machine is shared: anything above ~0 means other work was running on these 2 cores)."]
    out += ["", "### Machine", ""] + machine(r, a.vitc)
    out += ["", "### FMA peak (fp32, the 100% of every % below)", "",
            "| threads | ISA | GFLOP/s at start: median [min–max] | at end | load at start / end | used as 100% |",
            "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for t, ps in sorted(r["peak"].items()):
        cells = [f"{p[0]:.0f} [{p[1]:.0f}–{p[2]:.0f}]" for p in ps] + ["—"] * (2 - len(ps))
        out.append(f"| {t} | {ps[0][4]} | {cells[0]} | {cells[1]} | {' / '.join(str(p[3]) for p in ps)} | "
                   f"{peak_of(r, t):.0f} |")
    if r["ukernel"]:
        out += ["", "### The GEMM micro-kernel's ceiling (`bench/ukernel`, 1 thread)", "",
                "vitc's 14 × 32 k loop alone, in assembly (2 loads of B, 14 broadcasts of A, 28 FMAs per k; no "
                "tiles, epilogue or prefetch), as % of an FMA loop timed just before it: no GEMM built on this "
                "micro-tile runs faster, so no model whose time is mostly GEMMs can reach a higher % of peak.", "",
                "| data | K | % of the FMA loop: median [min–max] |", "| --- | ---: | ---: |"]
        out += [f"| {'A and B in L1' if w == 'l1' else 'A and B from L2'} | {k} | {med:.0f}% [{lo:.0f}–{hi:.0f}] |"
                for w, k, med, lo, hi in r["ukernel"]]
    out += ["", "### Issue 4's targets", ""] + must_show(r)
    if r["gemm"]:
        out += ["", "### GEMMs of ViT-B/16 (fp32, C = A·Wᵀ, W stored [N, K])", "",
                "GFLOP/s of the median [of the slowest–fastest run], % of the FMA peak of the same thread count. "
                "vitc: a compiled one-matmul model timed through a whole vit_run (x read and y written in place, as "
                "vit_run does for contiguous f32 images).", ""]
        out += gemm_table(r)
    if r["model"]:
        out += ["", f"### ViT-B/16 at 224 ({VIT_B16_FLOP / 1e9:.2f} GFLOP per image)", ""] + model_table(r)
    if r["op"]:
        out += ["", "### ViT-B/16 by operation (`vitc bench`, batch 1)", "",
                "vitc's own profile of the same .so: each kernel's median time, summed over the 12 blocks by the "
                "operation its parameters name (docs/PERFORMANCE.md); % of peak against the FMA loop `vitc bench` "
                "measured in the same call.", ""] + op_table(r)
    if r["agree"]:
        out += ["", "### Agreement (the largest batch, the same input and weights)", "",
                "| | | max abs diff of logits | largest abs logit |", "| --- | --- | ---: | ---: |"]
        out += [f"| {f[0]} | {f[1]} | {f[2]} | {f[3] if len(f) > 3 else '—'} |" for f in r["agree"]]
    if r["rss"]:
        out += ["", "### Peak resident memory of a ViT-B/16 run through the .so (`/usr/bin/time -f %M`)", "",
                "The issue's bound is for batch 1; larger batches add their images' activations.", "",
                "| batch | peak RSS | weights file + 64 MiB | within | resident after the run: from files / anonymous |",
                "| ---: | ---: | ---: | --- | ---: |"]
        for b, kb, wbytes, *split in r["rss"]:
            lim = wbytes + 64 * 2**20
            parts = f"{split[0] / 1024:.0f} MiB / {split[1] / 1024:.0f} MiB" if len(split) == 2 else "—"
            out.append(f"| {b} | {kb / 1024:.0f} MiB | {lim / 2**20:.0f} MiB | {'yes' if kb * 1024 <= lim else 'no'} | "
                       f"{parts} |")
    if r["fail"]:
        out += ["", "### What failed in this run", ""] + [f"- `{f}`" for f in r["fail"]]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("dest")
    ap.add_argument("--vitc", default="vitc")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    text = build(parse(a.results), a)
    print(text)
    old = open(a.dest).read() if os.path.exists(a.dest) else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN) + len(BEGIN)] + "\n" + text + old[old.index(END):]
    else:
        new = text
    with open(a.dest, "w") as f:
        f.write(new)
    print(f"(written to {a.dest})")


if __name__ == "__main__":
    main()

"""peers.py — the whole ViT-B/16 in PyTorch (eager and torch.compile) and ONNX Runtime.

    python3 peers.py input   OUT/input.f32 [--images 32]
    python3 peers.py torch   WEIGHTS INPUT --threads N --runs R --batches 1,8,32 [--compile] [--save DIR]
    python3 peers.py ort     WEIGHTS INPUT ONNX --threads N --runs R --batches 1,8,32 [--save DIR]
    python3 peers.py compare DIR

The model is timm's vit_base_patch16_224 with exactly the tensors of WEIGHTS (the safetensors
file `vitc init models/vit_b16.vit` wrote, loaded strictly: every name and shape must match),
in eval mode under no_grad. INPUT holds raw f32 images, HWC, already normalised (what vit_run
takes); they are transposed to NCHW here. ONNX Runtime runs the model exported from that
same module (exported once to ONNX, batch dynamic), all graph optimisations on, intra-op
threads N, one inter-op thread.

Timing follows bench/timing.h: one warm-up call (two for torch.compile), then RUNS samples
(each of one call or more, to last at least 50 ms); one line per batch:

    NAME THREADS BATCH MEDIAN_MS MIN_MS MAX_MS          (milliseconds per call of BATCH images)

--save DIR writes the logits of the largest batch as DIR/NAME_bBATCH.f32; `compare` prints
the largest absolute difference between every pair of those files and the largest |logit|:

    agree NAME_A NAME_B MAX_ABS_DIFF MAX_ABS_LOGIT_OF_A
"""
import argparse
import contextlib
import itertools
import os
import statistics
import sys
import time

import numpy as np

MIN_SAMPLE_S = 0.05


def timed(fn, runs, warmups=1):
    t0 = time.perf_counter()
    for _ in range(warmups):
        out = fn()
    warm = (time.perf_counter() - t0) / warmups
    k = 1 if warm >= MIN_SAMPLE_S else int(MIN_SAMPLE_S / max(warm, 1e-6)) + 1
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(k):
            out = fn()
        samples.append((time.perf_counter() - t0) / k)
    return statistics.median(samples), min(samples), max(samples), out


def load_images(path, n):
    x = np.fromfile(path, dtype=np.float32)
    per = 224 * 224 * 3
    if x.size < n * per:
        sys.exit(f"peers.py: {path} holds {x.size // per} images, {n} wanted")
    return np.ascontiguousarray(x[: n * per].reshape(n, 224, 224, 3).transpose(0, 3, 1, 2))


def timm_model(weights):
    import timm
    import torch
    from safetensors.torch import load_file

    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    model.load_state_dict(load_file(weights), strict=True)
    return model.eval()


def report(name, threads, batch, t):
    print(f"{name} {threads} {batch} {t[0] * 1e3:.3f} {t[1] * 1e3:.3f} {t[2] * 1e3:.3f}", flush=True)


def run_torch(a):
    import torch

    torch.set_num_threads(a.threads)
    model = timm_model(a.weights)
    name = "torch"
    if a.compile:
        name = "torch.compile"
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # fold the weights in and pre-pack them for oneDNN (CPU inference)
        model = torch.compile(model)
    for b in a.batches:
        x = torch.from_numpy(load_images(a.input, b))
        with torch.no_grad():
            t = timed(lambda: model(x), a.runs, warmups=2 if a.compile else 1)
        report(name, a.threads, b, t)
        if a.save and b == max(a.batches):
            t[3].numpy().astype(np.float32).tofile(os.path.join(a.save, f"{name}_b{b}.f32"))


def run_ort(a):
    import onnxruntime as ort

    if not os.path.exists(a.onnx):
        import torch

        model = timm_model(a.weights)
        x = torch.from_numpy(load_images(a.input, 1))
        batch = torch.export.Dim("batch", min=1, max=64)
        with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress is no result
            torch.onnx.export(model, (x,), a.onnx, input_names=["image"], output_names=["logits"],
                              dynamic_shapes={"x": {0: batch}}, dynamo=True, external_data=True)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    for b in a.batches:
        x = load_images(a.input, b)
        t = timed(lambda: sess.run(None, {inp: x})[0], a.runs)
        report("ort", a.threads, b, t)
        if a.save and b == max(a.batches):
            t[3].astype(np.float32).tofile(os.path.join(a.save, f"ort_b{b}.f32"))


def compare(a):
    files = sorted(f for f in os.listdir(a.dir) if f.endswith(".f32") and not f.startswith("input"))
    logits = {f[:-4]: np.fromfile(os.path.join(a.dir, f), dtype=np.float32) for f in files}
    for (p, x), (q, y) in itertools.combinations(logits.items(), 2):
        if x.size != y.size:
            print(f"agree {p} {q} sizes-differ")
            continue
        print(f"agree {p} {q} {np.abs(x.astype(np.float64) - y).max():.3e} {np.abs(x).max():.3f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("input")
    p.add_argument("out")
    p.add_argument("--images", type=int, default=8)
    for cmd in ("torch", "ort"):
        p = sub.add_parser(cmd)
        p.add_argument("weights")
        p.add_argument("input")
        if cmd == "ort":
            p.add_argument("onnx")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--runs", type=int, default=7)
        p.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")], default=[1, 8])
        p.add_argument("--save")
        if cmd == "torch":
            p.add_argument("--compile", action="store_true")
    p = sub.add_parser("compare")
    p.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "input":
        rng = np.random.default_rng(0)
        rng.uniform(-1, 1, size=(a.images, 224, 224, 3)).astype(np.float32).tofile(a.out)
    elif a.cmd == "torch":
        run_torch(a)
    elif a.cmd == "ort":
        run_ort(a)
    else:
        compare(a)


if __name__ == "__main__":
    main()

"""navit.py — PyTorch's attention over one packed NaViT sequence, for bench/navit.sh.

    python3 bench/navit.py THREADS RUNS TOKENS HEADS HEAD_DIM LAYERS NS MODE

NS: the tokens of each image, "64,96,...". MODE:
  masked   F.scaled_dot_product_attention over all TOKENS with the boolean block-diagonal
           mask (same image and not padding), as lucidrains' NaViT and NaFlex run it;
  segments the same attention image by image (one SDPA per image slice, no mask): what
           packing-mask elimination computes.
Times LAYERS attention calls (q, k, v of [1, HEADS, TOKENS, HEAD_DIM], fixed noise) per
sample, one warm-up, the median of RUNS samples, and prints

    torch MODE THREADS MEDIAN_MS MIN_MS MAX_MS PEAK_KIB BASE_KIB

PEAK_KIB: this process's peak resident set after the runs; BASE_KIB: before the first
attention call (torch, q, k, v and the mask already allocated): the difference is what the
attention itself needed at its peak.
"""
import resource
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads, runs, tokens, heads, dh, layers = (int(a) for a in sys.argv[1:7])
    ns = [int(x) for x in sys.argv[7].split(",")]
    mode = sys.argv[8]
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, heads, tokens, dh, generator=g) for _ in range(3))
    seg = torch.full((tokens,), -1, dtype=torch.int32)
    starts, s = [], 0
    for i, n in enumerate(ns):
        seg[s:s + n] = i
        starts.append((s, n))
        s += n
    assert s <= tokens, "the images do not fit one sequence"
    mask = (seg[:, None] == seg[None, :]) & (seg[None, :] >= 0)

    def masked():
        out = None
        for _ in range(layers):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out

    def segments():
        out = torch.zeros_like(q)
        for _ in range(layers):
            for a, n in starts:
                out[:, :, a:a + n] = F.scaled_dot_product_attention(q[:, :, a:a + n], k[:, :, a:a + n],
                                                                     v[:, :, a:a + n])
        return out

    fn = {"masked": masked, "segments": segments}[mode]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.no_grad():
        ref = fn()
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples.sort()
    med = samples[runs // 2] if runs % 2 else 0.5 * (samples[runs // 2 - 1] + samples[runs // 2])
    # the two modes agree on the images' rows (padding rows are unspecified)
    if mode == "segments":
        with torch.no_grad():
            m = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        d = max(float((m[:, :, a:a + n] - ref[:, :, a:a + n]).abs().max()) for a, n in starts)
        print(f"# segments vs masked: max |diff| {d:.3g}", file=sys.stderr)
    print(f"torch {mode} {threads} {med * 1e3:.3f} {samples[0] * 1e3:.3f} {samples[-1] * 1e3:.3f} {peak} {base}")


if __name__ == "__main__":
    main()

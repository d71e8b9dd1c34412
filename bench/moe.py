"""moe.py — the MoE layer of bench/moe.sh in PyTorch: V-MoE's top-2 MoE of 8 MLP experts
(D 768, hidden 3072, tanh GELU) on 8 x 197 tokens, two ways, against a dense MLP of the
same useful FLOPs, all timed round-robin in one process (median of RUNS rounds):

  dense         one MLP on 2 x 1576 rows: the FLOPs of the top-2 layer's useful work
  dense_all     every expert on every token, weighted by its gate (einsum over E): 4x them
  gather        top-2 routing, then per expert: index_select of its tokens, its MLP,
                index_add_ of gate x output (dropless: capacity is not applied)

    python3 bench/moe.py --threads N --runs R
Prints `peer NAME MEDIAN_MS MIN_MS MAX_MS ratio=R` with R the median over rounds of the
time divided by dense's in the same round. Needs torch (CPU); not run by CI.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

T, D, H, E, K = 8 * 197, 768, 3072, 8, 2


def mlp(x, w1, b1, w2, b2):
    return F.gelu(x @ w1 + b1, approximate="tanh") @ w2 + b2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, D, generator=g)
    wr = torch.randn(D, E, generator=g) * D ** -0.5
    w1 = torch.randn(E, D, H, generator=g) * 0.02
    b1 = torch.zeros(E, H)
    w2 = torch.randn(E, H, D, generator=g) * 0.02
    b2 = torch.zeros(E, D)
    x2 = torch.cat([x, x])

    def dense():
        return mlp(x2, w1[0], b1[0], w2[0], b2[0])

    def dense_all():
        gates = torch.softmax(x @ wr, dim=-1)
        h = F.gelu(torch.einsum("td,edh->eth", x, w1) + b1[:, None], approximate="tanh")
        y = torch.einsum("eth,ehd->etd", h, w2) + b2[:, None]
        return torch.einsum("te,etd->td", gates, y)

    def gather():
        gates = torch.softmax(x @ wr, dim=-1)
        w, e = torch.topk(gates, K, dim=-1)
        out = torch.zeros_like(x)
        for j in range(E):
            tok, choice = (e == j).nonzero(as_tuple=True)
            y = mlp(x.index_select(0, tok), w1[j], b1[j], w2[j], b2[j])
            out.index_add_(0, tok, y * w[tok, choice, None])
        return out

    peers = [("dense", dense), ("dense_all", dense_all), ("gather", gather)]
    times = {n: [] for n, _ in peers}
    with torch.no_grad():
        for _, f in peers:
            f()
        for _ in range(a.runs):
            for n, f in peers:
                t0 = time.perf_counter()
                f()
                times[n].append(time.perf_counter() - t0)
    for n, _ in peers:
        t = times[n]
        r = statistics.median(t[i] / times["dense"][i] for i in range(a.runs))
        print(f"peer torch_{n} {1e3 * statistics.median(t):.2f} {1e3 * min(t):.2f} {1e3 * max(t):.2f} ratio={r:.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make_reference.py — independent reference vectors for vitc's MoE: V-MoE's routing written
again in PyTorch, following vmoe's JAX code line by line (vmoe/moe.py
`compute_capacity`, `_get_top_experts_per_item_common`, the einsum dispatcher;
vmoe/nn/routing.py; vmoe/nn/ensemble_routing.py; vmoe/nn/vit_moe.py and
vit_moe_ensemble.py), on two small models in which capacity binds:

  vmoe_test   models/vmoe_test.vit (and vmoe_test_bpr.vit, the same weights): 32x32 images,
              patch 8, D 32, 4 blocks, MoE (E 4, k 2) in blocks 1 and 3, groups of the 34
              tokens of 2 images, capacity factor 0.5 -> C 12, so 68 choices compete for 48
              slots per group and some are dropped; logits without and with BPR.
  e3_test     models/e3_test.vit: the same trunk, an E^3 ensemble of M 2 members with E 4
              experts (2 per member), k 1, MoE in block 3, groups of 68 tokens (2 images and
              their copies), capacity factor 1.0 -> C 20; log-mean-softmax of the members.

Files written (F32; names exactly vmoe's flax parameter paths joined by '/'):
  vmoe_test.safetensors, e3_test.safetensors   the parameters
  vmoe_test_io.safetensors   image (4, 32, 32, 3), logits (4, 10), logits_bpr (4, 10)
  e3_test_io.safetensors     image (4, 32, 32, 3), log_probs (4, 10)
and the counts of dropped (token, choice) pairs per MoE layer in each file's metadata.

Needs torch 2.x and safetensors; CI never runs it (the outputs are committed).
Usage: python3 tests/reference/moe/make_reference.py [--out DIR] [--check]
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

SEED = 4321
NIMG = 4
D, L, HEADS, MLP, P, CLASSES = 32, 4, 2, 64, 8, 10
TOKENS = (32 // P) ** 2 + 1  # 17


# ---- vmoe/moe.py ---------------------------------------------------------------------

def compute_capacity(num_tokens, num_experts, capacity_factor, multiple_of=4):
    capacity = int(math.ceil(num_tokens * capacity_factor / num_experts))
    assert capacity >= 1
    capacity += (-capacity) % multiple_of
    return capacity


def top_k(x, k):
    """jax.lax.top_k: descending, ties to the lower index (a stable descending sort)."""
    v, i = torch.sort(x, dim=-1, descending=True, stable=True)
    return v[..., :k], i[..., :k]


def top_experts_per_item_einsum(gates, k, capacity, batch_priority):
    """(S, E) gates -> combine_weights, dispatch_weights (S, E, C), as vmoe's
    _get_top_experts_per_item_einsum_dispatcher; also the number of dropped choices."""
    group_size, num_experts = gates.shape
    combine_weights, expert_index = top_k(gates, k)
    if batch_priority:
        perm = torch.argsort(-combine_weights[:, 0], stable=True)
        expert_index = expert_index[perm]
    expert_index = expert_index.transpose(0, 1).reshape(-1)                  # (K*S,)
    expert_one_hot = F.one_hot(expert_index, num_experts).to(torch.int64)    # (K*S, E)
    buffer_index = torch.cumsum(expert_one_hot, dim=0) * expert_one_hot - 1
    buffer_index = buffer_index.reshape(-1, group_size, num_experts).transpose(0, 1)  # (S, K, E)
    if batch_priority:
        inv_perm = torch.argsort(perm)
        buffer_index = buffer_index[inv_perm]
    dropped = int(((buffer_index >= capacity) & (buffer_index >= 0)).sum())
    buffer_idx = buffer_index.max(dim=1).values                             # (S, E)
    # jax.nn.one_hot ignores indices < 0 and >= C
    valid = (buffer_idx >= 0) & (buffer_idx < capacity)
    dispatch = F.one_hot(torch.where(valid, buffer_idx, 0), capacity).bool() & valid[..., None]
    combine = gates[..., None] * dispatch
    return combine, dispatch, dropped


# ---- layers (flax) -----------------------------------------------------------------

def layer_norm(x, p, name):
    return F.layer_norm(x, (x.shape[-1],), p[f"{name}/scale"], p[f"{name}/bias"], eps=1e-6)


def dense(x, p, name):
    return x @ p[f"{name}/kernel"] + p[f"{name}/bias"]


def gelu(x):
    return F.gelu(x, approximate="tanh")


def self_attention(x, p, name):
    def proj(n):
        return torch.einsum("bnd,dhk->bnhk", x, p[f"{name}/{n}/kernel"]) + p[f"{name}/{n}/bias"]
    q, k, v = proj("query"), proj("key"), proj("value")
    q = q / math.sqrt(q.shape[-1])
    w = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", q, k), dim=-1)
    o = torch.einsum("bhqk,bkhd->bqhd", w, v)
    return torch.einsum("bqhd,hdo->bqo", o, p[f"{name}/out/kernel"]) + p[f"{name}/out/bias"]


def mlp(x, p, name):
    return dense(gelu(dense(x, p, f"{name}/Dense_0")), p, f"{name}/Dense_1")


def moe(x, p, name, num_experts, k, group_size, capacity_factor, batch_priority, members, stats):
    """vmoe MlpMoeBlock (members == 1) or MlpMoeWithNoisyTopExpertsPerItemEnsembleRouter."""
    b, t, d = x.shape
    if members > 1:  # reshape_to_group_size_representation
        x = x.reshape(b // members, members, t, d).transpose(1, 2)
    x = x.reshape(-1, group_size, d)                                          # (G, S, D)
    g = x.shape[0]
    wr = p[f"{name}/Router/dense/kernel"]
    if members == 1:
        gates = torch.softmax(x @ wr, dim=-1)                                 # (G, S, E)
    else:
        xm = x.reshape(g, group_size // members, members, d)
        ew = num_experts // members
        blocks = torch.softmax(torch.einsum("gsmd,dme->gmse", xm, wr), dim=-1)  # (G, M, S/M, E/M)
        full = torch.zeros(g, members, group_size // members, num_experts)
        for m in range(members):  # block_diag: member m's tokens only reach its experts
            full[:, m, :, m * ew:(m + 1) * ew] = blocks[:, m]
        gates = full.transpose(1, 2).reshape(g, group_size, num_experts)
    capacity = compute_capacity(group_size * k, num_experts, capacity_factor)
    outs = []
    w1, b1 = p[f"{name}/Mlp/Dense_0/kernel"], p[f"{name}/Mlp/Dense_0/bias"]
    w2, b2 = p[f"{name}/Mlp/Dense_1/kernel"], p[f"{name}/Mlp/Dense_1/bias"]
    for gi in range(g):
        combine, dispatch, dropped = top_experts_per_item_einsum(gates[gi], k, capacity, batch_priority)
        stats.append(dropped)
        buf = torch.einsum("sec,sd->ecd", dispatch.float(), x[gi])            # (E, C, D)
        h = gelu(torch.einsum("ecd,edh->ech", buf, w1) + b1[:, None])
        y = torch.einsum("ech,ehd->ecd", h, w2) + b2[:, None]
        outs.append(torch.einsum("sec,ecd->sd", combine, y))
    out = torch.stack(outs)
    if members > 1:  # reshape_from_group_size_representation
        out = out.reshape(-1, t, members, d).transpose(1, 2)
    return out.reshape(b, t, d), capacity


def forward(p, image, moe_layers, num_experts, k, group_images, capacity_factor, batch_priority,
            members=1, rep=D):
    x = F.conv2d(image.permute(0, 3, 1, 2), p["embedding/kernel"].permute(3, 2, 0, 1), p["embedding/bias"],
                 stride=P)
    x = x.flatten(2).transpose(1, 2)                                          # (B, N, D)
    x = torch.cat([p["cls"].expand(x.shape[0], 1, D), x], dim=1)
    x = x + p["Encoder/posembed_input/pos_embedding"]
    stats, caps, tiled = [], [], False
    for i in range(L):
        name = f"Encoder/encoderblock_{i}"
        if i in moe_layers and members > 1 and not tiled:
            x = torch.repeat_interleave(x, members, dim=0)                    # jnp.repeat(x, M, axis=0)
            tiled = True
        x = x + self_attention(layer_norm(x, p, f"{name}/LayerNorm_0"), p, f"{name}/SelfAttention")
        y = layer_norm(x, p, f"{name}/LayerNorm_1")
        if i in moe_layers:
            y, c = moe(y, p, f"{name}/Moe", num_experts, k, group_images * TOKENS * members, capacity_factor,
                       batch_priority, members, stats)
            caps.append(c)
        else:
            y = mlp(y, p, f"{name}/Mlp")
        x = x + y
    x = layer_norm(x, p, "Encoder/encoder_norm")[:, 0]
    if rep:
        x = torch.tanh(dense(x, p, "pre_logits"))
    return dense(x, p, "head"), stats, caps


# ---- parameters ----------------------------------------------------------------------

def shapes(moe_layers, num_experts, members, rep):
    s = {"embedding/kernel": (P, P, 3, D), "embedding/bias": (D,), "cls": (1, 1, D),
         "Encoder/posembed_input/pos_embedding": (1, TOKENS, D)}
    for i in range(L):
        n = f"Encoder/encoderblock_{i}"
        for ln in ("LayerNorm_0", "LayerNorm_1"):
            s[f"{n}/{ln}/scale"] = (D,)
            s[f"{n}/{ln}/bias"] = (D,)
        for q in ("query", "key", "value"):
            s[f"{n}/SelfAttention/{q}/kernel"] = (D, HEADS, D // HEADS)
            s[f"{n}/SelfAttention/{q}/bias"] = (HEADS, D // HEADS)
        s[f"{n}/SelfAttention/out/kernel"] = (HEADS, D // HEADS, D)
        s[f"{n}/SelfAttention/out/bias"] = (D,)
        if i in moe_layers:
            m = f"{n}/Moe"
            s[f"{m}/Router/dense/kernel"] = (D, num_experts) if members == 1 else \
                (D, members, num_experts // members)
            s[f"{m}/Mlp/Dense_0/kernel"] = (num_experts, D, MLP)
            s[f"{m}/Mlp/Dense_0/bias"] = (num_experts, MLP)
            s[f"{m}/Mlp/Dense_1/kernel"] = (num_experts, MLP, D)
            s[f"{m}/Mlp/Dense_1/bias"] = (num_experts, D)
        else:
            s[f"{n}/Mlp/Dense_0/kernel"] = (D, MLP)
            s[f"{n}/Mlp/Dense_0/bias"] = (MLP,)
            s[f"{n}/Mlp/Dense_1/kernel"] = (MLP, D)
            s[f"{n}/Mlp/Dense_1/bias"] = (D,)
    s["Encoder/encoder_norm/scale"] = (D,)
    s["Encoder/encoder_norm/bias"] = (D,)
    if rep:
        s["pre_logits/kernel"] = (D, rep)
        s["pre_logits/bias"] = (rep,)
    s["head/kernel"] = (rep or D, CLASSES)
    s["head/bias"] = (CLASSES,)
    return s


def randomise(shp, gen):
    """Kernels ~N(0, (1.5/sqrt(fan_in))^2); routers ~N(0, (3/sqrt(D))^2), so that the gates
    are far from uniform and routing decisions are not near ties; biases and LayerNorm
    shifts ~N(0, 0.2^2); LayerNorm scales ~1 + N(0, 0.2^2); cls and posemb ~N(0, 0.5^2)."""
    p = {}
    for name, s in shp.items():
        r = torch.randn(s, generator=gen, dtype=torch.float32)
        leaf = name.rsplit("/", 1)[-1]
        if name in ("cls", "Encoder/posembed_input/pos_embedding"):
            p[name] = 0.5 * r
        elif "Router" in name:
            p[name] = (3.0 / math.sqrt(D)) * r
        elif leaf == "scale":
            p[name] = 1.0 + 0.2 * r
        elif leaf == "bias":
            p[name] = 0.2 * r
        else:
            fan_in = D if name.endswith("out/kernel") else (s[1] if len(s) == 3 and "Mlp" in name else s[0])
            if name == "embedding/kernel":
                fan_in = P * P * 3
            p[name] = (1.5 / math.sqrt(fan_in)) * r
    return p


def make(out, check):
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    image = torch.rand((NIMG, 32, 32, 3), generator=gen, dtype=torch.float32) * 2 - 1
    results = {}
    with torch.no_grad():
        # V-MoE, vanilla and BPR
        moe_layers = (1, 3)
        p = randomise(shapes(moe_layers, 4, 1, D), gen)
        logits, st, caps = forward(p, image, moe_layers, 4, 2, 2, 0.5, False)
        logits_bpr, st_bpr, _ = forward(p, image, moe_layers, 4, 2, 2, 0.5, True)
        meta = {"seed": str(SEED), "torch": torch.__version__, "capacity": json.dumps(caps),
                "dropped_vanilla": json.dumps(st), "dropped_bpr": json.dumps(st_bpr)}
        results["vmoe_test"] = (p, {"image": image, "logits": logits, "logits_bpr": logits_bpr}, meta)
        # E^3
        e3_layers = (3,)
        p3 = randomise(shapes(e3_layers, 4, 2, 0), gen)
        lg, st3, caps3 = forward(p3, image, e3_layers, 4, 1, 2, 1.0, False, members=2, rep=0)
        lg = lg.reshape(NIMG, 2, CLASSES)
        log_probs = torch.logsumexp(torch.log_softmax(lg, dim=-1), dim=1) - math.log(2)
        meta3 = {"seed": str(SEED), "torch": torch.__version__, "capacity": json.dumps(caps3),
                 "dropped": json.dumps(st3)}
        results["e3_test"] = (p3, {"image": image, "log_probs": log_probs}, meta3)
    bad = 0
    for name, (params, io, meta) in results.items():
        print(f"{name}: {json.dumps(meta)}")
        wpath, iopath = os.path.join(out, f"{name}.safetensors"), os.path.join(out, f"{name}_io.safetensors")
        params = {k: v.contiguous() for k, v in params.items()}
        io = {k: v.contiguous() for k, v in io.items()}
        if check:
            old_p, old_io = load_file(wpath), load_file(iopath)
            for k, v in params.items():
                if not torch.equal(old_p[k], v):
                    print(f"  {k}: weights differ"); bad += 1
            for k, v in io.items():
                dmax = (old_io[k] - v).abs().max().item()
                print(f"  {k}: max |diff| {dmax:.3g}")
                bad += dmax > 1e-5
        else:
            save_file(params, wpath, metadata=meta)
            save_file(io, iopath, metadata=meta)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    sys.exit(1 if make(a.out, a.check) else 0)


if __name__ == "__main__":
    main()

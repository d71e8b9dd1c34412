#!/usr/bin/env python3
"""make_reference.py — independent reference vectors for vitc's NaViT (MODELS.md §2,
docs/NAVIT.md): models/navit_test.vit and models/navit_test_gap.vit written again in PyTorch,
**one image at a time** — no packing, no masks: each image is an ordinary timm ViT forward
over its own patch grid (conv patch embedding, position embeddings looked up by the token's
own coordinates, pre-LN blocks, final norm, then attention pooling or the mean over its
tokens). What vitc computes on a packed sequence with segment-id masks must equal that for
every image of the sequence.

  navit_test      factorized position embeddings pe = φ_y[y] + φ_x[x] (lucidrains
                  pos_embed_height / pos_embed_width), MAP pooling (timm
                  AttentionPoolLatent: latent query, q / kv / proj, + mlp(norm(y))), head.
  navit_test_gap  the same trunk and parameters, fractional position embeddings with 8 bins
                  (φ_y[⌊8·y / h⌋] + φ_x[⌊8·x / w⌋]) and the mean over the image's tokens.

Both: T = 64 tokens of patch 8 (3 channels), S = 4 image slots, D 32, 2 blocks of 4 heads,
MLP 128, 10 classes; timm's names and layouts (patch_embed.proj.weight (D, C, P, P)).

The packing (the contract of docs/NAVIT.md) is done here too, from the images: image i's
patches in row-major grid order, each flattened (row in the patch, column, channel), images
one after the other, then padding (seg -1, row = col = 0, height = width = 1, zero pixels).

Files written (F32 parameters; I32 metadata):
  navit_test.safetensors      the parameters (attn_pool.* unused by navit_test_gap)
  navit_test_io.safetensors   for each sequence k (0, 1): patches_k (64, 192), seg_k, row_k,
                              col_k, height_k, width_k (64,), images_k (1,) the number of
                              images, logits_k and logits_gap_k (4, 10): rows of slots
                              without an image are NaN (unspecified, never compared)
Computed in float64 from the float32 parameters and pixels, stored as float32.

Needs torch 2.x and safetensors; CI never runs it (the outputs are committed).
Usage: python3 tests/reference/navit/make_reference.py [--out DIR] [--check]
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

SEED = 2024
T, P, C, S = 64, 8, 3, 4
D, L, HEADS, MLP, GRID, BINS, CLASSES = 32, 2, 4, 128, 8, 8, 10
EPS = 1e-6
# the images of each packed sequence: (h, w) patch grids, in order
SEQUENCES = [
    [(4, 5), (7, 3), (2, 2)],          # 20 + 21 + 4 = 45 tokens, 19 of padding, slot 3 empty
    [(3, 3), (8, 4), (1, 6), (4, 4)],  # 9 + 32 + 6 + 16 = 63 tokens, 1 of padding
]


# ---- parameters ----------------------------------------------------------------------

def shapes():
    s = {"patch_embed.proj.weight": (D, C, P, P), "patch_embed.proj.bias": (D,),
         "pos_embed.height": (GRID, D), "pos_embed.width": (GRID, D)}
    for i in range(L):
        b = f"blocks.{i}"
        for n in ("norm1", "norm2"):
            s[f"{b}.{n}.weight"] = (D,)
            s[f"{b}.{n}.bias"] = (D,)
        s[f"{b}.attn.qkv.weight"] = (3 * D, D)
        s[f"{b}.attn.qkv.bias"] = (3 * D,)
        s[f"{b}.attn.proj.weight"] = (D, D)
        s[f"{b}.attn.proj.bias"] = (D,)
        s[f"{b}.mlp.fc1.weight"] = (MLP, D)
        s[f"{b}.mlp.fc1.bias"] = (MLP,)
        s[f"{b}.mlp.fc2.weight"] = (D, MLP)
        s[f"{b}.mlp.fc2.bias"] = (D,)
    s["norm.weight"] = (D,)
    s["norm.bias"] = (D,)
    a = "attn_pool"
    s[f"{a}.latent"] = (1, 1, D)
    s[f"{a}.q.weight"] = (D, D)
    s[f"{a}.q.bias"] = (D,)
    s[f"{a}.kv.weight"] = (2 * D, D)
    s[f"{a}.kv.bias"] = (2 * D,)
    s[f"{a}.proj.weight"] = (D, D)
    s[f"{a}.proj.bias"] = (D,)
    s[f"{a}.norm.weight"] = (D,)
    s[f"{a}.norm.bias"] = (D,)
    s[f"{a}.mlp.fc1.weight"] = (MLP, D)
    s[f"{a}.mlp.fc1.bias"] = (MLP,)
    s[f"{a}.mlp.fc2.weight"] = (D, MLP)
    s[f"{a}.mlp.fc2.bias"] = (D,)
    s["head.weight"] = (CLASSES, D)
    s["head.bias"] = (CLASSES,)
    return s


def randomise(gen):
    """Linear and conv weights ~N(0, (1.5/sqrt(fan_in))^2), biases and LayerNorm shifts
    ~N(0, 0.2^2), LayerNorm scales ~1 + N(0, 0.2^2), position tables and the latent
    ~N(0, 0.5^2): outputs well away from 0 and from each other."""
    p = {}
    for name, s in shapes().items():
        r = torch.randn(s, generator=gen, dtype=torch.float32)
        leaf = name.rsplit(".", 1)[-1]
        if name.startswith("pos_embed") or leaf == "latent":
            p[name] = 0.5 * r
        elif leaf == "bias":
            p[name] = 0.2 * r
        elif "norm" in name:
            p[name] = 1.0 + 0.2 * r
        else:
            fan_in = C * P * P if name.startswith("patch_embed") else s[1]
            p[name] = (1.5 / math.sqrt(fan_in)) * r
    return p


# ---- one image, timm (no packing, no masks) ------------------------------------------

def layer_norm(x, p, name):
    return F.layer_norm(x, (D,), p[f"{name}.weight"], p[f"{name}.bias"], EPS)


def linear(x, p, name):
    return F.linear(x, p[f"{name}.weight"], p[f"{name}.bias"])


def mlp(x, p, name):
    return linear(F.gelu(linear(x, p, f"{name}.fc1")), p, f"{name}.fc2")


def attention(x, p, name):
    n = x.shape[0]
    qkv = linear(x, p, f"{name}.qkv").reshape(n, 3, HEADS, D // HEADS).permute(1, 2, 0, 3)
    q, k, v = qkv[0], qkv[1], qkv[2]
    a = torch.softmax((q * (D // HEADS) ** -0.5) @ k.transpose(-1, -2), dim=-1)
    return linear((a @ v).transpose(0, 1).reshape(n, D), p, f"{name}.proj")


def map_pool(x, p, name="attn_pool"):
    n = x.shape[0]
    q = linear(p[f"{name}.latent"].reshape(1, D), p, f"{name}.q").reshape(1, HEADS, D // HEADS).transpose(0, 1)
    kv = linear(x, p, f"{name}.kv").reshape(n, 2, HEADS, D // HEADS).permute(1, 2, 0, 3)
    a = torch.softmax((q * (D // HEADS) ** -0.5) @ kv[0].transpose(-1, -2), dim=-1)
    y = linear((a @ kv[1]).transpose(0, 1).reshape(1, D), p, f"{name}.proj")
    y = y + mlp(layer_norm(y, p, f"{name}.norm"), p, f"{name}.mlp")
    return y[0]


def forward_image(img, p, fractional):
    """img (h·P, w·P, C) -> logits (CLASSES,)"""
    hp, wp = img.shape[0] // P, img.shape[1] // P
    x = F.conv2d(img.permute(2, 0, 1)[None], p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=P)
    x = x[0].flatten(1).transpose(0, 1)                       # (h·w, D), row-major grid
    y = torch.arange(hp).repeat_interleave(wp)
    xx = torch.arange(wp).repeat(hp)
    if fractional:
        y, xx = (y * BINS) // hp, (xx * BINS) // wp
    x = x + p["pos_embed.height"][y] + p["pos_embed.width"][xx]
    for i in range(L):
        x = x + attention(layer_norm(x, p, f"blocks.{i}.norm1"), p, f"blocks.{i}.attn")
        x = x + mlp(layer_norm(x, p, f"blocks.{i}.norm2"), p, f"blocks.{i}.mlp")
    x = layer_norm(x, p, "norm")
    pooled = x.mean(0) if fractional else map_pool(x, p)
    return linear(pooled, p, "head")


# ---- packing (docs/NAVIT.md) ---------------------------------------------------------

def pack(images):
    patches = torch.zeros(T, P * P * C)
    meta = {k: torch.zeros(T, dtype=torch.int32) for k in ("seg", "row", "col", "height", "width")}
    meta["seg"][:] = -1
    meta["height"][:] = 1
    meta["width"][:] = 1
    t = 0
    for i, img in enumerate(images):
        hp, wp = img.shape[0] // P, img.shape[1] // P
        for yy in range(hp):
            for xx in range(wp):
                patches[t] = img[yy * P:(yy + 1) * P, xx * P:(xx + 1) * P, :].reshape(-1)
                for k, v in (("seg", i), ("row", yy), ("col", xx), ("height", hp), ("width", wp)):
                    meta[k][t] = v
                t += 1
    assert t <= T
    return patches, meta


def build(gen):
    p32 = randomise(gen)
    p64 = {k: v.double() for k, v in p32.items()}
    io = {}
    for k, grids in enumerate(SEQUENCES):
        images = [torch.rand(h * P, w * P, C, generator=gen, dtype=torch.float32) * 2 - 1 for h, w in grids]
        patches, meta = pack(images)
        io[f"patches_{k}"] = patches
        for name, v in meta.items():
            io[f"{name}_{k}"] = v
        io[f"images_{k}"] = torch.tensor([len(images)], dtype=torch.int32)
        for out, frac in (("logits", False), ("logits_gap", True)):
            lg = torch.full((S, CLASSES), float("nan"), dtype=torch.float64)
            for i, img in enumerate(images):
                lg[i] = forward_image(img.double(), p64, frac)
            io[f"{out}_{k}"] = lg.float()
    return p32, io


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--check", action="store_true", help="recompute and compare with the committed files")
    a = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    params, io = build(gen)
    meta = {"format": "pt", "generator": "tests/reference/navit/make_reference.py", "seed": str(SEED),
            "torch": torch.__version__}
    wpath = os.path.join(a.out, "navit_test.safetensors")
    iopath = os.path.join(a.out, "navit_test_io.safetensors")
    if a.check:
        ok = True
        for path, want in ((wpath, params), (iopath, io)):
            have = load_file(path)
            for k, v in want.items():
                same = k in have and torch.equal(torch.nan_to_num(have[k]), torch.nan_to_num(v))
                ok &= same
                if not same:
                    print(f"{path}: {k} differs")
        print("identical" if ok else "DIFFERENT")
        return 0 if ok else 1
    save_file(params, wpath, metadata=meta)
    save_file(io, iopath, metadata=meta)
    for k in range(len(SEQUENCES)):
        print(f"sequence {k}: {int(io[f'images_{k}'][0])} images, logits |max| "
              f"{io[f'logits_{k}'].nan_to_num().abs().max():.3f}, gap {io[f'logits_gap_{k}'].nan_to_num().abs().max():.3f}")
    print(f"wrote {wpath} ({os.path.getsize(wpath)} bytes) and {iopath} ({os.path.getsize(iopath)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""make_reference.py — independent reference vectors for vitc, computed with timm.

Builds timm's own VisionTransformer for three small configurations that differ only in
the pooling head, randomises every parameter (so that a wrong layout, a wrong transpose
or a forgotten bias changes the logits), runs 4 images through it and writes, per head:

  vit_test_<head>.safetensors     the timm state_dict, F32, keys exactly as timm names them
  vit_test_<head>_io.safetensors  image (4, 32, 32, 3) F32 HWC and logits (4, 10) F32

and the same 4 images as 8-bit PNGs in images/ (img0.png .. img3.png). The pixels are
8-bit values p and the model input is (p / 255 - 0.5) / 0.5, so a model that declares
`preprocess ... mean 0.5, std 0.5` run on a PNG sees exactly `image`.

Needs torch 2.x, timm 1.0 and safetensors; CI never runs it (the outputs are committed).
Usage: python3 tests/reference/make_reference.py [--out DIR] [--check]
  --check  recompute everything and compare with the files in DIR instead of writing.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import timm
import safetensors
from safetensors.torch import load_file, save_file
from timm.models.vision_transformer import VisionTransformer

SEED = 1234
NIMG = 4
BASE = dict(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, depth=2,
            num_heads=4, mlp_ratio=4, qkv_bias=True)
HEADS = {
    "cls": dict(class_token=True, global_pool="token"),
    "gap": dict(class_token=False, global_pool="avg"),
    "map": dict(class_token=False, global_pool="map"),
}


def randomise(model, gen):
    """Every parameter random: matrices ~N(0, (1.5/sqrt(fan_in))^2) (std 0.19 for the 64-wide
    ones), biases and LayerNorm shifts ~N(0, 0.2^2), LayerNorm scales ~1 + N(0, 0.2^2),
    cls token, position embedding and MAP latent ~N(0, 0.5^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name in ("cls_token", "pos_embed", "attn_pool.latent"):
                p.copy_(0.5 * r)
            elif leaf == "bias":
                p.copy_(0.2 * r)
            elif p.dim() == 1:  # LayerNorm scale
                p.copy_(1.0 + 0.2 * r)
            else:
                fan_in = p[0].numel()
                p.copy_((1.5 / fan_in ** 0.5) * r)


def png_bytes(rgb):
    """An 8-bit RGB PNG (rgb: (H, W, 3) uint8) with the standard library only."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def build(head, index):
    gen = torch.Generator().manual_seed(SEED + 1 + index)
    model = VisionTransformer(**BASE, **HEADS[head])
    randomise(model, gen)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)

    # Patch-sized blocks of random colour plus pixel noise: images that differ from each
    # other and within a patch, so that patch order and the (c, py, px) layout both matter.
    rng = np.random.default_rng(SEED)
    blocks = rng.integers(0, 256, size=(NIMG, 4, 4, 3)).repeat(8, axis=1).repeat(8, axis=2)
    noise = rng.integers(-48, 49, size=(NIMG, 32, 32, 3))
    pix = np.clip(blocks + noise, 0, 255).astype(np.uint8)
    image = torch.from_numpy((pix.astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.5))
    nchw = image.permute(0, 3, 1, 2).contiguous()

    meta_common = {"torch": torch.__version__, "timm": timm.__version__, "seed": str(SEED),
                   "generator": "tests/reference/make_reference.py"}
    ok = True
    for index, head in enumerate(HEADS):
        model = build(head, index)
        with torch.no_grad():
            logits = model(nchw)
            logits64 = model.double()(nchw.double())
            model.float()
        drift = (logits.double() - logits64).abs().max().item()
        sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        cfg = json.dumps({**BASE, **HEADS[head]}, sort_keys=True)
        meta = {**meta_common, "config": cfg, "head": head}
        wpath = os.path.join(args.out, f"vit_test_{head}.safetensors")
        iopath = os.path.join(args.out, f"vit_test_{head}_io.safetensors")
        io = {"image": image.contiguous(), "logits": logits.contiguous()}
        print(f"{head}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())} parameters, "
              f"|logits| max {logits.abs().max().item():.3f}, f32 vs f64 {drift:.2e}, "
              f"argmax {logits.argmax(1).tolist()}")
        if args.check:
            old_w, old_io = load_file(wpath), load_file(iopath)
            same_w = old_w.keys() == sd.keys() and all(torch.equal(old_w[k], sd[k]) for k in sd)
            d = (old_io["logits"] - logits).abs().max().item()
            same_img = torch.equal(old_io["image"], image)
            print(f"  weights identical: {same_w}, image identical: {same_img}, logits max |diff| {d:.2e}")
            ok &= same_w and same_img and d <= 1e-5
            continue
        save_file(sd, wpath, metadata=meta)
        save_file(io, iopath, metadata={**meta, "image": "HWC float32, (p/255 - 0.5)/0.5 of images/img{i}.png",
                                        "f32_vs_f64_max_abs": f"{drift:.3e}"})
    if not args.check:
        os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
        for i in range(NIMG):
            with open(os.path.join(args.out, "images", f"img{i}.png"), "wb") as f:
                f.write(png_bytes(pix[i]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Train the vitc real-data demo model: a tiny timm ViT on scikit-learn's
bundled handwritten digits (load_digits, 1797 8x8 images).

Regenerate every asset in this folder with:

    python3 models/digits/train.py

Outputs (all next to this script):
    vit_digits.safetensors   timm state_dict (float32), metadata with accuracy
    images/NNNN_L.png        every test image, 8x8 8-bit grayscale, L = label
    test_labels.txt          "filename label" per line, in order
    labels.txt               class names "0".."9", one per line
    reference.safetensors    images (N,8,8,3) f32 HWC preprocessed,
                             logits (N,10) f32, labels (N,) i64

Preprocessing (the compiled model's runtime does exactly this):
    uint8 gray -> replicate to 3 channels -> /255 -> (x - 0.5) / 0.5
No resizing; the model input is 8x8.

Deterministic: fixed seeds, one thread, torch deterministic algorithms.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from timm.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
EPOCHS = 250
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 0.05
WARMUP_EPOCHS = 5
LABEL_SMOOTHING = 0.1
MAX_SHIFT = 1  # random integer translation in pixels (train only)

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)
torch.use_deterministic_algorithms(True)


def make_model():
    return VisionTransformer(
        img_size=8, patch_size=2, in_chans=3, num_classes=10,
        embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0,
        qkv_bias=True, class_token=True, global_pool='token')


def to_uint8(images16):
    """sklearn digits are 0..16 floats; map to uint8 round(v*255/16)."""
    return np.round(images16.astype(np.float64) * 255.0 / 16.0).astype(np.uint8)


def preprocess(u8):
    """(N,8,8) uint8 -> (N,8,8,3) float32 HWC, normalized to [-1,1]."""
    x = u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(np.repeat(x[..., None], 3, axis=-1), dtype=np.float32)


def save_canonical(tensors, path, metadata):
    """safetensors.torch.save_file, then rewrite the JSON header with the
    metadata keys sorted: safetensors stores metadata in a hash map, so its
    key order (and hence the file's bytes) otherwise changes run to run."""
    save_file(tensors, path, metadata=metadata)
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        meta = header.pop("__metadata__", {})
        canon = {"__metadata__": dict(sorted(meta.items()))}
        canon.update(header)
        text = json.dumps(canon, separators=(",", ":")).encode("utf-8")
        assert len(text) <= n
        f.seek(8)
        f.write(text + b" " * (n - len(text)))
    os.chmod(path, 0o644)


def hwc_to_nchw(x):
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def random_shift(u8_batch, rng):
    """Shift each image by an integer (dy,dx) in [-MAX_SHIFT, MAX_SHIFT], zero fill."""
    n, h, w = u8_batch.shape
    out = np.zeros_like(u8_batch)
    p = MAX_SHIFT
    padded = np.zeros((n, h + 2 * p, w + 2 * p), dtype=u8_batch.dtype)
    padded[:, p:p + h, p:p + w] = u8_batch
    shifts = rng.integers(-p, p + 1, size=(n, 2))
    for i, (dy, dx) in enumerate(shifts):
        out[i] = padded[i, p + dy:p + dy + h, p + dx:p + dx + w]
    return out


@torch.no_grad()
def predict_logits(model, x_hwc):
    model.eval()
    return model(hwc_to_nchw(x_hwc)).float().numpy()


def main():
    t_start = time.time()
    digits = load_digits()
    imgs = to_uint8(digits.images)              # (1797, 8, 8) uint8
    labels = digits.target.astype(np.int64)      # (1797,)
    tr_x, te_x, tr_y, te_y = train_test_split(
        imgs, labels, test_size=0.2, random_state=0, stratify=labels)
    split_desc = ("sklearn.model_selection.train_test_split(test_size=0.2, "
                  "random_state=0, stratify=labels); train=%d test=%d"
                  % (len(tr_y), len(te_y)))
    print(split_desc)

    model = make_model()
    n_params = sum(p.numel() for p in model.parameters())
    print("parameters:", n_params)

    te_in = preprocess(te_x)
    rng = np.random.default_rng(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = (len(tr_y) + BATCH - 1) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = WARMUP_EPOCHS * steps_per_epoch

    def lr_at(step):
        if step < warm:
            return LR * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return LR * 0.5 * (1.0 + np.cos(np.pi * t))

    step = 0
    t_train = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = rng.permutation(len(tr_y))
        tot_loss = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            xb = hwc_to_nchw(preprocess(random_shift(tr_x[idx], rng)))
            yb = torch.from_numpy(tr_y[idx])
            for g in opt.param_groups:
                g['lr'] = lr_at(step)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(idx)
            step += 1
        if (epoch + 1) % 10 == 0 or epoch == 0:
            acc = (predict_logits(model, te_in).argmax(1) == te_y).mean()
            print("epoch %3d  loss %.4f  test acc %.4f  (%.0fs)"
                  % (epoch + 1, tot_loss / len(tr_y), acc, time.time() - t_train))
            sys.stdout.flush()
    train_secs = time.time() - t_train

    model.eval()
    logits = predict_logits(model, te_in)
    preds = logits.argmax(1)
    correct = int((preds == te_y).sum())
    acc = correct / len(te_y)
    acc_str = "%.6f" % acc

    # ---- weights -------------------------------------------------------
    sd = {k: v.detach().to(torch.float32).contiguous().clone()
          for k, v in model.state_dict().items()}
    save_canonical(sd, os.path.join(HERE, "vit_digits.safetensors"), metadata={
        "dataset": "sklearn load_digits",
        "split": split_desc,
        "test_accuracy": acc_str,
    })

    # ---- test images ---------------------------------------------------
    img_dir = os.path.join(HERE, "images")
    os.makedirs(img_dir, exist_ok=True)
    for f in os.listdir(img_dir):
        if f.endswith(".png"):
            os.remove(os.path.join(img_dir, f))
    names = []
    for i, (im, lab) in enumerate(zip(te_x, te_y)):
        name = "%04d_%d.png" % (i, lab)
        pil = Image.fromarray(np.ascontiguousarray(im))  # 2-D uint8 -> mode 'L'
        assert pil.mode == "L" and pil.size == (8, 8)
        pil.save(os.path.join(img_dir, name), optimize=True)
        names.append(name)
    with open(os.path.join(HERE, "test_labels.txt"), "w") as f:
        for name, lab in zip(names, te_y):
            f.write("%s %d\n" % (name, lab))
    with open(os.path.join(HERE, "labels.txt"), "w") as f:
        for c in range(10):
            f.write("%d\n" % c)

    # ---- reference outputs ---------------------------------------------
    save_canonical({
        "images": torch.from_numpy(te_in).contiguous(),
        "logits": torch.from_numpy(logits).contiguous(),
        "labels": torch.from_numpy(te_y.astype(np.int64)).contiguous(),
    }, os.path.join(HERE, "reference.safetensors"), metadata={
        "test_accuracy": acc_str,
        "correct": str(correct),
        "count": str(len(te_y)),
        "preprocess": "gray->3ch, x/255, (x-0.5)/0.5, HWC, no resize",
    })

    # what the demo (scripts/main.sh) compares vitc's accuracy with
    with open(os.path.join(HERE, "pytorch_accuracy.txt"), "w") as f:
        f.write("%d %d\n" % (correct, len(te_y)))

    # ---- verification: reload everything from disk ---------------------
    ref = load_file(os.path.join(HERE, "reference.safetensors"))
    fresh = make_model()
    fresh.load_state_dict(load_file(os.path.join(HERE, "vit_digits.safetensors")))
    fresh.eval()
    with open(os.path.join(HERE, "test_labels.txt")) as f:
        listed = [line.split() for line in f if line.strip()]
    disk_u8 = np.stack([np.array(Image.open(os.path.join(img_dir, n)))
                        for n, _ in listed])
    assert disk_u8.dtype == np.uint8 and disk_u8.shape == te_x.shape
    assert np.array_equal(disk_u8, te_x), "PNG pixels differ from training inputs"
    disk_labels = np.array([int(n.split("_")[1].split(".")[0]) for n, _ in listed])
    assert np.array_equal(disk_labels, te_y)
    assert np.array_equal(np.array([int(l) for _, l in listed]), te_y)
    disk_in = preprocess(disk_u8)
    img_diff = float(np.abs(disk_in - ref["images"].numpy()).max())
    disk_logits = predict_logits(fresh, disk_in)
    logit_diff = float(np.abs(disk_logits - ref["logits"].numpy()).max())
    disk_acc = float((disk_logits.argmax(1) == ref["labels"].numpy()).mean())
    print("verify: max|images diff| = %g, max|logits diff| = %g, acc from disk = %.6f"
          % (img_diff, logit_diff, disk_acc))
    assert img_diff == 0.0
    assert disk_acc == acc
    # Smallest top-1 vs top-2 logit gap: how close any prediction is to a
    # tie (a compiled model within this tolerance gets the same accuracy).
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    print("smallest top1-top2 logit margin: %.4f (image %s)"
          % (margin.min(), names[int(margin.argmin())]))

    print("\nstate_dict (%d tensors):" % len(sd))
    for k, v in sd.items():
        print("  %-32s %s" % (k, tuple(v.shape)))
    print("\nparameters: %d" % n_params)
    print("test accuracy: %d/%d = %s" % (correct, len(te_y), acc_str))
    print("training time: %.1fs, total %.1fs" % (train_secs, time.time() - t_start))


if __name__ == "__main__":
    main()

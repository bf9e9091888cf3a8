#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs into fuzz/seeds/<target>/ (numpy and
safetensors needed): small valid MNIST IDX files (raw and gzip), tiny weights
files of both architectures, their header JSON, and a few broken variants.
The fuzzer grows the corpus from these; `cargo fuzz cmin` keeps it small."""
import gzip
import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save

seeds = Path(__file__).resolve().parent / "seeds"


def put(target, name, data):
    path = seeds / target
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(data)


# --- idx: 2 images of 28x28 and 3 labels, raw and gzip, and broken copies.
images = struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(range(256)) * 6 + bytes(32)
labels = struct.pack(">II", 0x801, 3) + bytes([0, 7, 9])
for name, data in [("images", images), ("labels", labels)]:
    put("idx", f"{name}.idx", data)
    put("idx", f"{name}.idx.gz", gzip.compress(data, mtime=0))
    put("idx", f"{name}-truncated.idx", data[: len(data) // 2])
put("idx", "labels-bad-digit.idx", labels[:-1] + bytes([10]))
put("idx", "images-wrong-size.idx", struct.pack(">IIII", 0x803, 1, 27, 28) + bytes(27 * 28))
put("idx", "images-huge-count.idx", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 28, 28))
put("idx", "empty", b"")
put("idx", "gzip-magic-only", b"\x1f\x8b")

# --- weights and header: tiny networks of both architectures.
recipe = {"init": "dcgan", "loss": "bce-with-logits", "real_label": 0.9, "lr": 2e-4,
          "beta1": 0.5, "beta2": 0.999, "ema_decay": 0.0,
          "schedule": {"kind": "progressive", "fade_images": 10, "stable_images": 10}}
training = {"recipe": recipe, "seed": 0, "batch_size": 64, "epochs": 1, "steps": 10}
gan = {"arch": "gan", "latent_dim": 2, "generator_hidden": [3], "discriminator_hidden": [3], "image_size": 2}
pggan = {"arch": "pggan", "latent_dim": 2, "channels": [2]}
rng = np.random.default_rng(0)


def tensors(shapes, dtype):
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}


def bn(prefix, n):
    return {f"{prefix}.{f}": [n] for f in ["weight", "bias", "running_mean", "running_var"]}


networks = {
    ("gan", "generator"): {"model.0.weight": [3, 2], "model.0.bias": [3], "model.2.weight": [4, 3], "model.2.bias": [4]},
    ("gan", "discriminator"): {"model.1.weight": [3, 4], "model.1.bias": [3], "model.3.weight": [1, 3], "model.3.bias": [1]},
    ("pggan", "generator"): {"layers.0.0.weight": [2, 2, 4, 4], **bn("layers.0.1", 2), "layers.1.0.weight": [2, 1, 4, 4]},
    ("pggan", "discriminator"): {"layers.0.0.weight": [2, 1, 4, 4], **bn("layers.0.1", 2), "layers.1.0.weight": [1, 2, 4, 4]},
}
for (arch, role), shapes in networks.items():
    info = {"format_version": 1, "role": role, "model": gan if arch == "gan" else pggan}
    if role == "generator":
        info["training"] = training
    header = json.dumps(info)
    put("header", f"{arch}-{role}.json", header.encode())
    for dtype in ["float32", "float16"]:
        data = save(tensors(shapes, dtype), metadata={"mnist_gan": header})
        put("weights", f"{arch}-{role}-{dtype}.safetensors", data)
    put("weights", f"{arch}-{role}-no-header.safetensors", save(tensors(shapes, "float32")))
put("header", "huge-hidden.json", json.dumps(
    {"format_version": 1, "role": "generator", "model": dict(gan, generator_hidden=[4000000000])}).encode())
put("header", "huge-channels.json", json.dumps(
    {"format_version": 1, "role": "generator", "model": dict(pggan, channels=[2000000000])}).encode())
put("header", "newer-version.json", json.dumps({"format_version": 99, "role": "generator", "model": gan}).encode())
put("header", "not-json", b"{\"format_version\": 1, \"role\":")

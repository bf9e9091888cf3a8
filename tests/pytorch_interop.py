#!/usr/bin/env python3
"""Checks our weight files against the post's PyTorch classes, both ways.

  load KIND G.safetensors D.safetensors Z.bin OUT_G.bin OUT_D.bin
      load our files into the post's generator and discriminator with
      load_state_dict(safetensors.torch.load_file(f)) (strict), run them in
      eval mode on the latents in Z.bin, write G's images and D's verdicts on them.
  save KIND G.safetensors Z.bin OUT_G.bin
      build the post's generator with non-trivial BatchNorm statistics, save
      its state_dict with safetensors.torch.save_file, write its images for Z.bin.

Tensors travel as raw little-endian float32 files.
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.environ["PEER_SCRIPT"]))
import seed_gan  # noqa: E402

LATENT = seed_gan.LATENT_DIM


def latents(path, kind):
    z = torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(-1, LATENT))
    return z if kind == "gan" else z.reshape(-1, LATENT, 1, 1)


def generate(kind, g, z):
    return seed_gan.gen_forward(kind, g, z)


def write(path, t):
    t.detach().numpy().astype("<f4").tofile(path)


def load(kind, g_path, d_path, z_path, out_g, out_d):
    g, d = seed_gan.build(kind)
    g.load_state_dict(load_file(g_path))  # strict: every name and shape must match
    d.load_state_dict(load_file(d_path))
    g.eval()
    d.eval()
    with torch.no_grad():
        images = generate(kind, g, latents(z_path, kind))
        write(out_g, images)
        write(out_d, seed_gan.dis_forward(kind, d, images).reshape(-1))


def save(kind, g_path, z_path, out_g):
    torch.manual_seed(7)
    g, _ = seed_gan.build(kind)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(5)
    g.eval()
    save_file(g.state_dict(), g_path)
    with torch.no_grad():
        write(out_g, generate(kind, g, latents(z_path, kind)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    command, kind, *paths = sys.argv[1:]
    {"load": load, "save": save}[command](kind, *paths)

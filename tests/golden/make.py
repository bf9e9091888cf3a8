#!/usr/bin/env python3
"""Writes the PyTorch golden files that tests/pytorch_golden.rs checks without
PyTorch: what the post's own classes compute from the shipped weights.

    python3 tests/golden/make.py        (from the repository; needs torch,
                                         torchvision, safetensors, numpy)

For each shipped generator (and the GAN's discriminator) in web/weights/:
  z.bin                     6 latent vectors (numpy seed 0), raw little-endian f32
  KIND-images.bin           the post's generator, loaded with load_state_dict
                            (strict) from our file, in eval mode, on z
  gan-verdicts.bin          the post's GAN discriminator on those images
  KIND-pytorch-header.json  the header safetensors.torch.save_file writes for
                            that generator's state_dict (PyTorch's names,
                            dtypes, shapes and order) and its BatchNorm
                            num_batches_tracked values, which the test rebuilds
                            a PyTorch-written file from
  sources.txt               sha256 of the weight files these came from
Run it again whenever the shipped weights change (the test says so).
"""
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
peers = os.environ.get("PEERS_DIR", os.path.join(root, "..", "shared", "peers"))
sys.path.insert(0, peers)
import seed_gan  # noqa: E402

SAMPLES = 6


def write(name, t):
    t.detach().numpy().astype("<f4").tofile(os.path.join(here, name))


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((SAMPLES, seed_gan.LATENT_DIM)).astype("<f4")
    z.tofile(os.path.join(here, "z.bin"))
    sources = []
    for kind in ["gan", "pggan"]:
        path = os.path.join(root, "web", "weights", f"{kind}.safetensors")
        sources.append(f"{hashlib.sha256(open(path, 'rb').read()).hexdigest()}  web/weights/{kind}.safetensors")
        g, d = seed_gan.build(kind)
        g.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()})
        g.eval()
        latents = torch.from_numpy(z) if kind == "gan" else torch.from_numpy(z).reshape(-1, seed_gan.LATENT_DIM, 1, 1)
        with torch.no_grad():
            images = seed_gan.gen_forward(kind, g, latents)
        write(f"{kind}-images.bin", images)
        with tempfile.TemporaryDirectory() as tmp:
            saved = os.path.join(tmp, "g.safetensors")
            save_file(g.state_dict(), saved)
            # Our files have no num_batches_tracked (PyTorch accepts that):
            # keep the values PyTorch wrote for them.
            counts = {k: int(v) for k, v in g.state_dict().items() if k.endswith("num_batches_tracked")}
            with open(os.path.join(here, f"{kind}-pytorch-header.json"), "w") as f:
                json.dump({"header": header(saved), "num_batches_tracked": counts}, f, indent=1, sort_keys=True)
        if kind == "gan":
            d_path = os.path.join(root, "web", "weights", "gan-discriminator.safetensors")
            sources.append(f"{hashlib.sha256(open(d_path, 'rb').read()).hexdigest()}  web/weights/gan-discriminator.safetensors")
            d.load_state_dict({k: v.float() for k, v in load_file(d_path).items()})
            d.eval()
            with torch.no_grad():
                write("gan-verdicts.bin", seed_gan.dis_forward(kind, d, images).reshape(-1))
    with open(os.path.join(here, "sources.txt"), "w") as f:
        f.write("\n".join(sources) + "\n")
    print(f"wrote golden files to {here} (torch {torch.__version__})")


if __name__ == "__main__":
    main()

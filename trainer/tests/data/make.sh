#!/usr/bin/env bash
# Regenerates the real runs the collapse alarm is replayed on
# (trainer/src/run/logs.rs), 10 epochs of the MLP GAN, seed 0 each:
# - losses-post-seed0.csv.gz: the post's own PyTorch code and recipe
#   (peer_run.py over ../shared/peers/seed_gan.py; needs torch), which
#   collapses: D wins for good from epoch 9;
# - losses-stable-seed0.csv.gz: this trainer with the stable recipe, healthy.
# About 15 minutes on 2 cores. Usage: trainer/tests/data/make.sh [TRAINER]
# (default: the release build).
set -euo pipefail
cd "$(dirname "$0")"
trainer=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/mnist-gan/target}/release/trainer}
export MNIST_DIR=${MNIST_DIR:-$(cd ../../.. && pwd)/../shared/mnist}
OMP_WAIT_POLICY=PASSIVE python3 peer_run.py --seed 0 --epochs 10 --out losses-post-seed0.csv.gz
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
"$trainer" train --model gan --recipe stable --seed 0 --epochs 10 --eval-every 0 --no-export --run-dir "$run/stable"
# step,d_loss,g_loss,d_real,d_fake: the columns the alarm reads.
cut -d, -f1,3- "$run/stable/losses.csv" | gzip -9n > losses-stable-seed0.csv.gz

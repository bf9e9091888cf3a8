#!/usr/bin/env bash
# The project's one test command: installs what the tests need when it is
# missing, then runs every test. Usage: tests/run.sh  (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# MNIST for the tests: $MNIST_DIR, else the verified copy beside the repository.
if [ -z "${MNIST_DIR:-}" ]; then
  for dir in "$root/../shared/mnist" /work/shared/mnist; do
    if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then MNIST_DIR=$(cd "$dir" && pwd); break; fi
  done
fi
if [ -z "${MNIST_DIR:-}" ]; then
  echo "tests/run.sh: set MNIST_DIR to a folder with the four MNIST .gz files" >&2
  exit 1
fi
export MNIST_DIR
export HANDOVER_DIR=${HANDOVER_DIR:-$(dirname "$MNIST_DIR")}
echo "== MNIST from $MNIST_DIR"

echo "== native tests (cargo test --workspace)"
cargo test --workspace --locked

echo "== all tests passed"

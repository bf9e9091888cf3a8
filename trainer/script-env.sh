# Sourced by the scripts in trainer/ from the repository root: MNIST (the
# shared copy beside the repository unless MNIST_DIR says otherwise), the
# build folder, and `trainer`, the binary to run (TRAINER, else a fresh
# release build).
export MNIST_DIR=${MNIST_DIR:-$PWD/../shared/mnist}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-gan/target}
trainer=${TRAINER:-}
if [ -z "$trainer" ]; then
  cargo build --release -p trainer --quiet
  trainer=$CARGO_TARGET_DIR/release/trainer
fi

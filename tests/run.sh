#!/usr/bin/env bash
# The project's one test command: installs what the tests need when it is
# missing, then runs every test. Usage: tests/run.sh  (from anywhere)
#
#   native: cargo test --workspace (CPU backend, real MNIST)
#   web:    trunk build of the demo, then tests/e2e/demo.mjs drives it in
#           headless Chromium, with WebGPU and without (the CPU fallback)
#
# SKIP_WEB=1 runs the native tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
say() { echo "== $*"; }

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
say "MNIST from $MNIST_DIR"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  say "installing $* (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

install_web_tools() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  # trunk must run exactly the wasm-bindgen of Cargo.lock (Trunk.toml pins it too).
  local bindgen
  bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen" ]; then
    say "installing wasm-bindgen-cli $bindgen"
    # Not --locked: its lock file pins a crate version the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "$bindgen"
  fi
  if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.22\.'; then
    say "installing trunk 0.22.1"
    cargo install --locked --ignore-rust-version trunk --version 0.22.1
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
  if [ -z "${CHROMIUM:-}" ]; then
    CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
    if [ -z "$CHROMIUM" ]; then apt_install chromium; CHROMIUM=$(command -v chromium); fi
  fi
  export CHROMIUM
  # The browser driver and wasm-opt (Debian's binaryen is too old for this wasm).
  if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -x tests/e2e/node_modules/.bin/wasm-opt ]; then
    say "installing the browser test driver (npm ci)"
    npm ci --prefix tests/e2e --no-audit --no-fund
  fi
  export PATH="$root/tests/e2e/node_modules/.bin:$PATH"
}

if [ -z "${SKIP_WEB:-}" ]; then install_web_tools; fi

say "native tests (cargo test --workspace)"
cargo test --workspace --locked

if [ -z "${SKIP_WEB:-}" ]; then
  # The debug profile (optimised dependencies, no LTO, no wasm-opt) builds in
  # half the time of the shipped `trunk build --release`; the page is the same.
  say "web demo build (trunk build)"
  trunk build --dist target/e2e-dist
  say "web demo in headless Chromium ($CHROMIUM)"
  node tests/e2e/demo.mjs target/e2e-dist target/debug/trainer tests/artifacts
fi

say "all tests passed"

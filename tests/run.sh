#!/usr/bin/env bash
# The project's one test command: installs what the tests need when it is
# missing, then runs every check. Usage: tests/run.sh  (from anywhere)
#
#   fmt           cargo fmt --check
#   clippy        every build of this project's crates below goes through
#                 clippy with -D warnings: the host's (every target) and
#                 trunk's wasm32 builds (the page, and the worker with `shared`
#                 without training), so no separate check build is needed
#   native        cargo test --workspace: CPU backend and real MNIST, and the
#                 wgpu backend on Mesa's software GL driver (llvmpipe)
#   web           trunk build of the demo, then tests/e2e/demo.mjs drives it
#                 in headless Chromium, with WebGPU and without (the CPU fallback)
#
# Two lanes run at once, so that both cores stay busy while one build waits
# on a long crate: the native lane (fmt, native tests) and the web lane
# (install the web tools, trunk build). The wgpu tests and the browser test
# run last, alone. A table of every phase's seconds closes the output.
#
# Environment:
#   MNIST_DIR         the four MNIST .gz files (default: ../shared/mnist beside
#                     the repository)
#   PEERS_DIR         the post's runnable PyTorch code, seed_gan.py (default:
#                     ../shared/peers); used by the PyTorch tests
#   CARGO_TARGET_DIR  build folder (default: ~/.cache/mnist-gan/target, kept
#                     between runs, so a second run rebuilds only this project)
#   SKIP_WEB=1        the native lane only (fmt, native tests; the wasm code
#                     then gets a clippy check of its own)
#   CHROMIUM          the browser (default: chromium on the PATH, else installed)
#   KEEP_GOING=1      a failed phase does not stop the others (all failures in
#                     one run; the exit status is still 1)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
say() { echo "== $*"; }
started=$(date +%s)

cache=${XDG_CACHE_HOME:-$HOME/.cache}/mnist-gan
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
# The wasm build gets a folder of its own: two cargo processes on one target
# folder would wait for each other's lock instead of running side by side.
wasm_target=$CARGO_TARGET_DIR/wasm
export PATH="$HOME/.cargo/bin:$PATH"

export MNIST_DIR=${MNIST_DIR:-$root/../shared/mnist}
export PEERS_DIR=${PEERS_DIR:-$root/../shared/peers}
if [ ! -f "$MNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  echo "tests/run.sh: no MNIST in $MNIST_DIR: set MNIST_DIR to a folder with the four MNIST .gz files" >&2
  exit 1
fi
MNIST_DIR=$(cd "$MNIST_DIR" && pwd)
say "MNIST from $MNIST_DIR, builds in $CARGO_TARGET_DIR"

# ------------------------------------------------------------- phase table
times=$(mktemp)
trap 'rm -f "$times"' EXIT
# phase NAME COMMAND...: runs it and records its start, end and seconds.
phase() {
  local name=$1; shift
  local t0 status=0
  t0=$(date +%s)
  say "$name"
  "$@" || status=$?
  local t1; t1=$(date +%s)
  [ "$status" = 0 ] || name="$name: FAILED"
  printf '%s\t%s\t%s\t%s\n' "$name" "$((t0 - started))" "$((t1 - started))" "$((t1 - t0))" >>"$times"
  [ "$status" = 0 ] || [ -n "${KEEP_GOING:-}" ] || return "$status"
}
table() {
  echo
  echo "phase                                    start    end  seconds"
  sort -t$'\t' -k2,2n "$times" | awk -F'\t' '{ printf "%-40s %5d  %5d  %7d\n", $1, $2, $3, $4 }'
  echo "total: $(( $(date +%s) - started )) s"
  if grep -q 'FAILED' "$times"; then return 1; fi
}

# --------------------------------------------------------------- installs
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Packages, the wasm target and clippy, before the lanes start (apt takes one client at
# a time). Mesa's software GL driver is for the wgpu test; its Vulkan driver
# (lavapipe) crashes under wgpu, so it is not installed.
install_system() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
  local components
  components=$(rustup component list --installed)
  for c in rustfmt clippy; do grep -q "^$c" <<<"$components" || rustup component add "$c"; done
  local packages=(libgl1-mesa-dri libegl1 libegl-mesa0)
  if [ -z "${SKIP_WEB:-}" ]; then
    command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
    [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
      packages+=(chromium)
  fi
  apt_install "${packages[@]}"
}

# Tools are command-line programs, not hot loops: built without their own
# fat-LTO release profiles, at low opt-levels. Measured alone on 2 cores:
# trunk 284 s at opt-level 0 (558 s at 1, 15-28 min with its own profile), and
# a no-op `trunk build` 5 s slower; wasm-bindgen 140 s at opt-level 1 (67 s
# at 0, but then 21 s instead of 5 s on the page's debug wasm, every build).
# --force: called only when the right version does not run, which includes a
# binary deleted while cargo's install record still lists it (then a plain
# `cargo install` does nothing and says nothing).
fast_install() {
  env -u CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$1" cargo install --quiet --force "${@:2}"
}
install_web_tools() {
  # trunk must run exactly the wasm-bindgen of Cargo.lock (Trunk.toml pins it too).
  local bindgen
  bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen" ]; then
    say "installing wasm-bindgen-cli $bindgen"
    # Not --locked: its lock file pins a crate version the registry mirror lacks.
    fast_install 1 wasm-bindgen-cli --version "$bindgen"
  fi
  if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.22\.1'; then
    say "installing trunk 0.22.1"
    # trunk only runs cargo and wasm-bindgen and copies files.
    fast_install 0 --locked --ignore-rust-version trunk --version 0.22.1
  fi
  # The browser driver and wasm-opt (Debian's binaryen is too old for this wasm).
  if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -x tests/e2e/node_modules/.bin/wasm-opt ]; then
    say "installing the browser test driver (npm ci)"
    npm ci --prefix tests/e2e --no-audit --no-fund --silent
  fi
}

# ------------------------------------------------------------------ lanes
native_lane() {
  # `|| return`: errexit does not hold in a function called with `||`.
  phase "fmt (cargo fmt --check)" cargo fmt --all --check || return
  # (no benches or examples: this builds every target clippy --all-targets would)
  phase "native tests: build, with clippy" cargo test --workspace --locked --no-run --quiet || return
  # The wgpu tests run later, alone (below).
  phase "native tests: run" cargo test --workspace --locked -- --skip _on_wgpu_
}

web_lane() {
  if [ -n "${SKIP_WEB:-}" ]; then
    # No trunk build to lint the code compiled only for wasm: check it alone.
    phase "clippy (wasm32: the page, the worker)" env CARGO_TARGET_DIR="$wasm_target" \
      cargo clippy --target wasm32-unknown-unknown -p web -p drawer -p train-worker -p gpu-worker --locked --quiet -- -D warnings
    return
  fi
  phase "install web tools (trunk, wasm-bindgen, npm ci)" install_web_tools || return
  # The debug profile builds much faster than the shipped `trunk build --release`; the page is the same.
  # trunk builds the page and the worker (`shared` without training) through clippy too.
  phase "web demo build (trunk build), with clippy" env CARGO_TARGET_DIR="$wasm_target" \
    trunk build --dist "$CARGO_TARGET_DIR/e2e-dist"
}

phase "install packages (apt) and the wasm32 target" install_system

# Lint while building: cargo runs clippy-driver (rustc plus clippy's lints)
# instead of rustc for this workspace's crates only, so the test and wasm builds
# lint and compile in one pass, where `cargo clippy` would first need a check
# build of every dependency (about 30 minutes of a cold run's 2 cores).
# CLIPPY_ARGS is how cargo-clippy hands its `-- -D warnings` to the driver.
# Dependencies are untouched: their builds are the ones plain cargo reuses.
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver)
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

web_log=$(mktemp)
say "the web lane runs in the background; its output follows the native lane's (live: $web_log)"
web_lane >"$web_log" 2>&1 &
web_pid=$!
native_ok=0
native_lane || native_ok=$?
if [ "$native_ok" != 0 ]; then
  kill "$web_pid" 2>/dev/null || true
  wait "$web_pid" 2>/dev/null || true
  table || true
  echo "tests/run.sh: the native lane failed" >&2
  exit 1
fi
say "waiting for the web lane"
web_ok=0
wait "$web_pid" || web_ok=$?
cat "$web_log"
rm -f "$web_log"
if [ "$web_ok" != 0 ]; then
  table || true
  echo "tests/run.sh: the web lane failed" >&2
  exit 1
fi

# burn-wgpu on Mesa's software GL driver, one test at a time and with no build
# beside it: wgpu's GL backend gives up (and once hung a CI run) when a shader
# compiles for over 6 s while another thread waits, which CPU contention makes
# likely.
if ! phase "wgpu tests (Mesa llvmpipe)" cargo test -p trainer --test wgpu --locked -- --test-threads=1; then
  table || true
  echo "tests/run.sh: the wgpu tests failed" >&2
  exit 1
fi

if [ -z "${SKIP_WEB:-}" ]; then
  export PATH="$root/tests/e2e/node_modules/.bin:$PATH"
  CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
  export CHROMIUM
  phase "browser test (headless Chromium)" \
    node tests/e2e/demo.mjs "$CARGO_TARGET_DIR/e2e-dist" "$CARGO_TARGET_DIR/debug/trainer" tests/artifacts
fi

if ! table; then
  echo "tests/run.sh: some phases failed (see the table)" >&2
  exit 1
fi
say "all tests passed"

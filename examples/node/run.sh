#!/usr/bin/env bash
# Builds the protocol component, transpiles it with jco and runs the Node tests against it.
# Works from a fresh clone; needs Rust (with the wasm32-wasip2 target) and Node.js >= 20.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm missing: installing Debian's nodejs and npm" >&2
  sudo=$(command -v sudo || true)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null
fi

# The very bytes the dpost binary embeds: host/build.rs runs this same cargo command (see
# host/build_component.rs), so it is up to date at once after a `cargo build`/`cargo test`,
# and builds only the guest on a fresh clone. `dpost component export -o FILE` gives the same.
wasm="${DPOST_WASM:-}"
if [ -z "$wasm" ]; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
  (cd "$root" && cargo build --quiet --locked --package dpost-guest --lib --target wasm32-wasip2 \
    --profile component --target-dir "${CARGO_TARGET_DIR:-$root/target}/guest-wasm")
  wasm="${CARGO_TARGET_DIR:-$root/target}/guest-wasm/wasm32-wasip2/component/dpost_guest.wasm"
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
rm -rf gen
npx jco transpile "$wasm" --out-dir gen --name dpost --instantiation async --quiet
node --test "$@"

#!/usr/bin/env bash
# Prints the path of the protocol component, building it first if needed: the very bytes the
# dpost binary embeds. host/build.rs runs this same cargo command (host/build_component.rs), so
# after a `cargo build` or `cargo test` it is already up to date; on a fresh clone it builds
# only the guest. `DPOST_WASM=FILE` uses a given component instead (e.g. one written by
# `dpost component export -o FILE`, which is the same bytes).
set -euo pipefail
if [ -n "${DPOST_WASM:-}" ]; then
  echo "$DPOST_WASM"
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}/guest-wasm"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
(cd "$root" && cargo build --quiet --locked --package dpost-guest --lib --target wasm32-wasip2 \
  --profile component --target-dir "$target") >&2
echo "$target/wasm32-wasip2/component/dpost_guest.wasm"

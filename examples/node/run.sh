#!/usr/bin/env bash
# Builds the protocol component, transpiles it with jco and runs the Node tests against it.
# Works from a fresh clone; needs Rust (with the wasm32-wasip2 target) and Node.js >= 20.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm missing: installing Debian's nodejs and npm" >&2
  sudo=$(command -v sudo || true)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null
fi

wasm="$("$here/../build-component.sh")"

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
rm -rf gen
npx jco transpile "$wasm" --out-dir gen --name dpost --instantiation async --quiet
node --test "$@"

#!/usr/bin/env bash
# The console's browser tests: Debian's Chromium driven by playwright-core against a real
# `dpost serve` fed by `dpost sim ngdp` pushes, axe-core on every page, screenshots written to
# docs/console/. Installs what it needs (chromium from apt, the pinned npm packages) and
# builds dpost when target/debug/dpost is missing. Bounded: the run stops after 10 minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sudo=$(command -v sudo || true)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm missing: installing Debian's nodejs and npm" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "chromium missing: installing Debian's chromium" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi
export DPOST_BIN="${DPOST_BIN:-$root/target/debug/dpost}"
if [ ! -x "$DPOST_BIN" ]; then
  (cd "$root" && cargo build -p dpost)
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
timeout 600 node console.test.mjs "$@"

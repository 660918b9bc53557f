#!/usr/bin/env bash
# Builds the protocol component and runs the Python tests against it with wasmtime-py, in a
# virtual environment under examples/python/.venv. Needs Rust (wasm32-wasip2) and Python >= 3.9.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wasm="$("$here/../build-component.sh")"
cd "$here"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
DPOST_WASM="$wasm" .venv/bin/python -m unittest -v test_dpost "$@"

#!/usr/bin/env bash
# Fuzz the platform API from its own OpenAPI document (docs/api/openapi.json) with
# schemathesis: `dpost serve` on loopback with a scratch configuration and store, a client
# holding every scope, a few messages pushed first by `dpost sim ngdp` (so lists, metadata,
# files and acknowledgements have something to return), then every operation is called with
# generated requests, valid and invalid. Two checks: no answer is a 5xx
# (not_a_server_error), and every answer matches the document (response_schema_conformance).
# Any finding fails the script (exit 1).
#
# Bounded: at most MAX_EXAMPLES requests per operation and a wall-clock budget of
# MAX_SECONDS for the run (about 3 minutes in all with the set-up). Reproducible: a fixed
# seed (SEED). Python dependencies go into a venv under target/, pinned in
# requirements.txt beside this script.
#
# Usage: tests/schemathesis/run.sh   (env: DPOST=path/to/dpost, MAX_EXAMPLES, MAX_SECONDS, SEED)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

max_examples="${MAX_EXAMPLES:-30}"
max_seconds="${MAX_SECONDS:-150}"
seed="${SEED:-20261127}"
dpost="${DPOST:-$root/target/debug/dpost}"
if [ -z "${DPOST:-}" ]; then
  cargo build -p dpost --locked --quiet
fi

venv="$root/target/schemathesis-venv"
pinned="$(grep -E '^schemathesis==' "$here/requirements.txt" | cut -d= -f3)"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$pinned"; then
  echo "installing schemathesis $pinned into $venv" >&2
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "python3 with venv missing: installing Debian's python3-venv" >&2
    sudo=$(command -v sudo || true)
    $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

work="$root/target/schemathesis-run"
rm -rf "$work"
mkdir -p "$work/messages"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# A scratch configuration: the generated one, with both listeners on free loopback ports and
# NgDP's API (business receipts) on a closed loopback port, so nothing leaves the machine.
"$dpost" config init "$work/dpost.toml" >/dev/null
sed -i \
  -e 's|^listen = "127.0.0.1:8080"|listen = "127.0.0.1:0"|' \
  -e 's|^listen = "127.0.0.1:8081"|listen = "127.0.0.1:0"|' \
  "$work/dpost.toml"
# `config init` points the test system at a simulator; here NgDP's API is a closed port, so
# business receipts stay pending instead of reaching anything.
sed -i -e 's|^api_base = "http://127.0.0.1:8090/apis/v1"|api_base = "http://127.0.0.1:9/apis/v1"|' "$work/dpost.toml"
grep -q '^api_base = "http://127.0.0.1:9/apis/v1"' "$work/dpost.toml"
"$dpost" config check --config "$work/dpost.toml"
token="$("$dpost" api token create fuzz --config "$work/dpost.toml" \
  --scope messages:read --scope messages:ack --scope send --scope receipts --scope admin)"
system="$(sed -n 's/^id = "\(.*\)"$/\1/p' "$work/dpost.toml" | head -1)"
auth="$(sed -n 's/^authorization = "\(.*\)"$/\1/p' "$work/dpost.toml" | head -1)"

"$dpost" serve --config "$work/dpost.toml" >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q '^api listening on ' "$work/serve.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/serve.log" >&2; echo "dpost serve did not start" >&2; exit 2; }
  sleep 0.1
done
push_url="$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)"
api_url="$(sed -n 's/^api listening on //p' "$work/serve.out" | head -1)"
[ -n "$api_url" ] || { echo "dpost serve did not say where the API listens" >&2; exit 2; }

# A few messages, so that the read operations meet real records.
cp tests/fixtures/memo/MeMo_v1.2_Full_Example.xml "$work/messages/1.xml"
cp tests/fixtures/memo/MeMo_v1.2_Minimum_Example.xml "$work/messages/2.xml"
"$dpost" sim ngdp --messages "$work/messages" --exit-when-done --max-attempts 3 \
  --target "$push_url/api/MeMoV1/memos/?system-uuid=$system" --auth-header "$auth" \
  >"$work/sim.out" 2>"$work/sim.log"

echo "schemathesis $pinned against $api_url: at most $max_examples examples per operation, $max_seconds s, seed $seed"
status=0
timeout --kill-after=10 "$((max_seconds + 60))" \
  "$venv/bin/schemathesis" run docs/api/openapi.json \
  --url "$api_url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$max_examples" \
  --max-time "$max_seconds" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 10 \
  --suppress-health-check all \
  --report junit --report-dir "$work/report" \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis found problems (exit $status); dpost's log: $work/serve.log, report: $work/report" >&2
  exit 1
fi
echo "schemathesis: no server error, every answer matches the document"

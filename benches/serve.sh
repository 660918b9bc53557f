#!/usr/bin/env bash
# The `dpost serve` load benchmark of BENCHMARKS.md: 20 KB MeMo pushes, each made durable
# before its 200, at 1, 16 and 64 connections, with wrk (Debian package `wrk`).
#
#   benches/serve.sh [SECONDS]        (default 15 per run; needs target/release/dpost)
#
# A fresh configuration and store in a temporary folder, the server on loopback, log level
# error. Prints wrk's summary for each run, then checks the store: as many distinct messages
# as 200s answered.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
dpost=$PWD/target/release/dpost
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
test -x "$dpost" || { echo "build first: cargo build --release" >&2; exit 2; }

work=$(mktemp -d /tmp/dpost-serve-bench.XXXXXX)
trap 'kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$dpost" config init dpost.toml >/dev/null
system=$(sed -n 's/^id = "\(.*\)"/\1/p' dpost.toml | head -1)
auth=$(sed -n 's/^authorization = "\(.*\)"/\1/p' dpost.toml | head -1)
port=18090
"$dpost" serve --config dpost.toml --listen 127.0.0.1:$port --log error &
server=$!
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
url="http://127.0.0.1:$port/api/MeMoV1/memos/?system-uuid=$system"
memo=$OLDPWD/benches/memo-20k.xml
total=0
for c in 1 16 64; do
  threads=$(( c == 1 ? 1 : 2 ))
  echo "== $c connection(s), $threads wrk thread(s), ${seconds}s"
  out=$(DPOST_AUTH="$auth" DPOST_MEMO="$memo" \
    wrk -t$threads -c$c -d${seconds}s --latency -s "$OLDPWD/benches/push.lua" "$url")
  echo "$out" | grep -E "Requests/sec|requests [0-9]|latency p|Non-2xx"
  n=$(echo "$out" | sed -n 's/^requests \([0-9]*\),.*/\1/p')
  total=$(( total + n ))
done
kill $server; wait $server 2>/dev/null || true
stored=$("$dpost" message list --config dpost.toml --limit 100000000 --json 2>/dev/null | grep -o '"uuid"' | wc -l || true)
echo "== requests answered: $total; messages in the store: $stored"

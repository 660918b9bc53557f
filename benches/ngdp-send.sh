#!/usr/bin/env bash
# The batch-send benchmark of BENCHMARKS.md: 1,000 copies of benches/memo-20k.xml, each with
# its own messageUUID, sent by `dpost ngdp send` as one batch (tar + LZMA, spooled to a
# temporary file, then sent with Content-Length) to
# `dpost sim ngdp` on loopback, which validates every member before storing it.
#
#   benches/ngdp-send.sh [RUNS]        (default 3; needs target/release/dpost and GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dpost=$root/target/release/dpost
runs=${1:-3}
system=5b0e8f7a-3c1d-4e2f-9a8b-0c1d2e3f4a5b
token=bench-token
test -x "$dpost" || { echo "build first: cargo build --release" >&2; exit 2; }
test -x /usr/bin/time || { echo "GNU time is missing: apt-get install time" >&2; exit 2; }

work=$(mktemp -d /tmp/dpost-send-bench.XXXXXX)
trap 'kill $sim 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sim=
cd "$work"
mkdir empty
for run in $(seq "$runs"); do
  rm -rf msgs store && mkdir msgs store
  for n in $(seq 1000); do
    uuid=$(printf '%08x-0000-4000-8000-%012x' "$run" "$n")
    sed "s/8C2EA15D-61FB-4BA9-9366-42F8B194C114/$uuid/" "$root/benches/memo-20k.xml" > "msgs/$uuid.xml"
  done
  "$dpost" sim ngdp --messages empty --listen 127.0.0.1:0 --system-id $system \
    --api-token $token --log error > sim.out &
  sim=$!
  for _ in $(seq 100); do test -s sim.out && break; sleep 0.1; done
  base=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' sim.out | head -1)
  cat > dpost.toml <<EOF
[store]
path = "store/dpost.db"
[ngdp]
mailboxes = ["standard"]
standard_mailbox = "standard"
[ngdp.test]
api_base = "$base/apis/v1"
[[ngdp.test.systems]]
id = "$system"
protocol = "pull"
api_token = "$token"
EOF
  /usr/bin/time -f "run $run: %e s elapsed, %U s user, %S s sys, %M KB max RSS" \
    "$dpost" ngdp send --config dpost.toml --system $system msgs/*.xml > send.out
  tail -1 send.out
  kill $sim; wait $sim 2>/dev/null || true
done

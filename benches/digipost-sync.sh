#!/usr/bin/env bash
# The Digipost sync benchmark of BENCHMARKS.md: 1,000 documents (every third with an
# attachment; 64 B to 4 KB each, seeded) archived from `dpost sim digipost` on loopback,
# once without and once with deleting in Digipost after the archive.
#
#   benches/digipost-sync.sh [CONCURRENCY]     (default 8; needs target/release/dpost)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dpost=$root/target/release/dpost
keys=$root/tests/fixtures/keys
concurrency=${1:-8}
test -x "$dpost" || { echo "build first: cargo build --release" >&2; exit 2; }

work=$(mktemp -d /tmp/dpost-sync-bench.XXXXXX)
trap 'kill $sim 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sim=
cd "$work"
python3 - <<'EOF'
import json, os, random
random.seed(7)
folder = "data/1000"
os.makedirs(folder)
for n in range(1000):
    doc = 100000 + n
    with open(f"{folder}/{doc}.pdf", "wb") as f:
        f.write(random.randbytes(random.randint(64, 4096)))
    meta = {"subject": f"Dokument {n}", "sender": "Posten Norge AS",
            "delivery-time": "2026-11-20T10:00:00Z", "attachments": []}
    if n % 3 == 0:
        att = 900000 + n
        with open(f"{folder}/{att}.pdf", "wb") as f:
            f.write(random.randbytes(random.randint(64, 4096)))
        meta["attachments"].append({"id": att, "file": f"{att}.pdf"})
    with open(f"{folder}/{doc}.json", "w") as f:
        json.dump(meta, f)
EOF

run() {
  local label=$1; shift
  rm -rf store && mkdir store
  printf '[store]\npath = "%s/store/dpost.db"\n' "$work" > dpost.toml
  "$dpost" sim digipost --listen 127.0.0.1:0 --data data --broker-id 9999 \
    --broker-cert "$keys/broker.cert.pem" --server-key "$keys/server.key.pem" \
    --server-cert "$keys/server.cert.pem" --log error > sim.out &
  sim=$!
  for _ in $(seq 100); do test -s sim.out && break; sleep 0.1; done
  url=$(head -1 sim.out)
  local start=$(date +%s.%N)
  "$dpost" digipost sync --config dpost.toml --base-url "$url" --broker-id 9999 \
    --key "$keys/broker.pkcs1.pem" --sender 1000 --concurrency "$concurrency" --json "$@" > sync.json
  local end=$(date +%s.%N)
  kill $sim; wait $sim 2>/dev/null || true
  python3 - "$label" "$start" "$end" <<'EOF'
import json, sys
label, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
summary = json.load(open("sync.json"))
seconds = end - start
print(f"{label}: {seconds:.2f} s, 1000 documents, {1000 / seconds:.0f} documents/s; summary: {json.dumps(summary)}")
EOF
}

run "archive only"
run "archive, then delete" --delete-after-archive

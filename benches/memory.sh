#!/usr/bin/env bash
# Peak resident memory of BENCHMARKS.md: `dpost memo validate` on a 100 MB MeMo, and
# `dpost serve` while it receives the same message (multipart push, stored durably, 200).
#
#   benches/memory.sh        (needs target/release/dpost, curl and GNU time)
#
# The message is written by `dpost memo new` around 75 MiB of random bytes (base64 makes
# them ~100 MB of XML). Peak RSS is the kernel's high-water mark (VmHWM / GNU time's %M).
set -euo pipefail
cd "$(dirname "$0")/.."
dpost=$PWD/target/release/dpost
test -x "$dpost" || { echo "build first: cargo build --release" >&2; exit 2; }
test -x /usr/bin/time || { echo "GNU time is missing: apt-get install time" >&2; exit 2; }

work=$(mktemp -d /tmp/dpost-memory-bench.XXXXXX)
trap 'kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
server=
cd "$work"
cat > spec.toml <<'EOF'
label = "Stor besked"
[sender]
id = "12345678"
id_type = "CVR"
label = "Kommunen"
[recipient]
id = "87654321"
id_type = "CVR"
EOF
head -c $((75 * 1024 * 1024)) /dev/urandom > big.pdf
"$dpost" memo new --spec spec.toml --file big.pdf -o big.xml >/dev/null
echo "message: $(stat -c %s big.xml) bytes"

echo "== dpost memo validate"
/usr/bin/time -f "peak RSS %M KB, %e s" "$dpost" memo validate big.xml >/dev/null

echo "== dpost serve receiving it"
"$dpost" config init dpost.toml >/dev/null
sed -i 's/^max_message_bytes = .*/max_message_bytes = 209715200/' dpost.toml
grep -q '^max_message_bytes' dpost.toml || sed -i 's/^\[serve\]$/[serve]\nmax_message_bytes = 209715200/' dpost.toml
system=$(sed -n 's/^id = "\(.*\)"/\1/p' dpost.toml | head -1)
auth=$(sed -n 's/^authorization = "\(.*\)"/\1/p' dpost.toml | head -1)
"$dpost" serve --config dpost.toml --listen 127.0.0.1:18092 --log error &
server=$!
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:18092/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
echo "idle: $(grep VmRSS /proc/$server/status)"
/usr/bin/time -f "push took %e s" curl -fsS -H "Authorization: $auth" -F "file=@big.xml" \
  "http://127.0.0.1:18092/api/MeMoV1/memos/?system-uuid=$system"
echo
grep -E "VmHWM|VmRSS" /proc/$server/status

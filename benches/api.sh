#!/usr/bin/env bash
# The platform API benchmark of BENCHMARKS.md (issue 15): with a million stored messages,
# latency of the pending list (first page, a deep cursor page, a mailbox-restricted client)
# and of one message's metadata, with wrk; then a 100 MiB document through
# /api/v1/messages/{uuid}/files/{n} with curl against the same file from nginx on loopback,
# the CPU time each server spends per download, and the peak RSS of `dpost serve` while it
# streams.
#
#   benches/api.sh [MESSAGES [FOLDER]]
#
# MESSAGES defaults to 1000000. With FOLDER, the seeded store is kept there and reused by
# the next run with the same FOLDER (seeding a million takes minutes); without it, a
# temporary folder is used and removed. Needs target/release/dpost, wrk, nginx and curl
# (Debian: apt-get install wrk nginx curl); the seed program (tests/examples/seed.rs) is built
# by `cargo run --release`.
#
# The seed: five template messages received through dpost's own receive path (component,
# routing, business receipt, files), then copies of their rows with their own UUID, sender,
# recipient, label, mailbox (12, skewed) and time, inserted with the receive path's insert
# in transactions of 10,000; the oldest 80 % acknowledged (but the invalid ones and one in
# 200). See tests/seed.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
messages=${1:-1000000}
seconds=${SECONDS_PER_RUN:-10}
dpost=$root/target/release/dpost
for tool in wrk nginx curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install wrk nginx curl" >&2; exit 2; }
done
test -x "$dpost" || { echo "build first: cargo build --release -p dpost" >&2; exit 2; }

server=
nginx_pid=
if [ -n "${2:-}" ]; then
  work=$(mkdir -p "$2" && cd "$2" && pwd)
  keep=1
else
  work=$(mktemp -d /tmp/dpost-api-bench.XXXXXX)
  keep=
fi
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
  wait 2>/dev/null
  [ -z "$keep" ] && rm -rf "$work"
  return 0
}
trap cleanup EXIT
cd "$work"
push_port=18093
api_port=18094
nginx_port=18095
api=http://127.0.0.1:$api_port

start_serve() {
  "$dpost" serve --config dpost.toml --listen 127.0.0.1:$push_port \
    --api-listen 127.0.0.1:$api_port --log error >/dev/null &
  server=$!
  for _ in $(seq 300); do
    curl -fs $api/healthz >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "dpost serve did not start" >&2
  exit 1
}
stop_serve() {
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
}

if [ -f messages ] && [ "$(cat messages)" != "$messages" ]; then
  echo "$work holds a store seeded with $(cat messages) messages; give another folder" >&2
  exit 2
fi
if [ ! -f messages ]; then
  if [ -n "$(ls -A)" ]; then
    echo "$work is not empty and holds no seeded store; give an empty or a new folder" >&2
    exit 2
  fi
  "$dpost" config init dpost.toml >/dev/null
  # Twelve mailboxes; NgDP's API at a closed port (the benchmark is offline); room for a
  # 100 MiB document (its MeMo is ~140 MB of base64).
  sed -i 's/^mailboxes = .*/mailboxes = ["standard", "daycare", "housing", "schools", "taxes", "health", "elderly", "jobcentre", "planning", "culture", "roads", "post"]/' dpost.toml
  sed -i 's/^max_message_bytes = .*/max_message_bytes = 209715200/' dpost.toml
  # `config init` points the test system at a simulator ([ngdp.test] simulator = true).
  sed -i 's|^api_base = "http://127.0.0.1:8090/apis/v1"|api_base = "http://127.0.0.1:9/apis/v1"|' dpost.toml
  grep -q '^api_base = "http://127.0.0.1:9/apis/v1"' dpost.toml
  "$dpost" config check --config dpost.toml
  "$dpost" api token create reader --scope messages:read --config dpost.toml 2>/dev/null > reader.token
  "$dpost" api token create daycare-app --scope messages:read --mailbox daycare \
    --config dpost.toml 2>/dev/null > daycare.token

  echo "== seeding $messages messages"
  (cd "$root" && /usr/bin/time -f "seed: %e s, peak RSS %M KB" \
    cargo run -q --release -p dpost-tests --example seed -- --config "$work/dpost.toml" \
    --messages "$messages" --sample "$work/uuids.txt") > seeded.json
  cat seeded.json

  echo "== a 100 MiB document, received through the push endpoint"
  cat > spec.toml <<'EOF'
label = "Stort bilag"
[sender]
id = "12345678"
id_type = "CVR"
label = "Kommunen"
[recipient]
id = "87654321"
id_type = "CVR"
EOF
  mkdir -p www
  head -c $((100 * 1024 * 1024)) /dev/urandom > www/big.pdf
  "$dpost" memo new --spec spec.toml --file www/big.pdf -o big.xml >/dev/null
  sed -n 's:.*<memo\:messageUUID>\(.*\)</memo\:messageUUID>.*:\1:p' big.xml | head -1 \
    | tr 'A-Z' 'a-z' > big.uuid
  system=$(sed -n 's/^id = "\(.*\)"/\1/p' dpost.toml | head -1)
  auth=$(sed -n 's/^authorization = "\(.*\)"/\1/p' dpost.toml | head -1)
  start_serve
  curl -fsS -o /dev/null -H "Authorization: $auth" -F "file=@big.xml" \
    "http://127.0.0.1:$push_port/api/MeMoV1/memos/?system-uuid=$system"
  stop_serve
  rm big.xml
  echo "$messages" > messages
fi
reader=$(cat reader.token)
daycare=$(cat daycare.token)
big=$(cat big.uuid)
echo "== store: $(du -sh dpost.db | cut -f1) (dpost.db), $(wc -l < uuids.txt) sample UUIDs"

start_serve
echo "serve idle: $(grep VmRSS /proc/$server/status)"
# The cursor of sequence number N, as the API writes it (base64url of "v1:N").
cursor() { printf 'v1:%d' "$1" | base64 | tr '+/' '-_' | tr -d '='; }
deep=$(cursor $((messages * 9 / 10)))
middle=$(cursor $((messages / 2)))

# wrk's latency distribution for GET PATH with TOKEN, at 1 and 8 connections.
measure() {
  local name=$1 token=$2 path=$3 script=${4:-}
  for c in 1 8; do
    local t=$(( c == 1 ? 1 : 2 ))
    local args=(-t$t -c$c -d${seconds}s --latency -H "Authorization: Bearer $token")
    [ -n "$script" ] && args+=(-s "$root/benches/$script")
    local out
    out=$(wrk "${args[@]}" "$api$path")
    printf '%-34s c=%-2s %8s req/s  p50 %8s  p90 %8s  p99 %8s  %s\n' "$name" "$c" \
      "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
      "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
      "$(echo "$out" | awk '$1 == "90%" {print $2}')" \
      "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
      "$(echo "$out" | grep -E 'Non-2xx|errors' | tr -s ' ' | tr '\n' ' ')"
  done
}
echo "== latency, ${seconds}s per run (wrk --latency)"
measure "pending, first page (100)" "$reader" "/api/v1/messages?state=pending&limit=100"
measure "pending, deep cursor (90 %)" "$reader" "/api/v1/messages?state=pending&limit=100&cursor=$deep"
measure "all, deep cursor (50 %)" "$reader" "/api/v1/messages?state=all&limit=100&cursor=$middle"
measure "pending, client of daycare only" "$daycare" "/api/v1/messages?state=pending&limit=100"
measure "pending, ?mailbox=roads (small)" "$reader" "/api/v1/messages?state=pending&limit=100&mailbox=roads"
export DPOST_UUIDS=$work/uuids.txt
measure "metadata, random message" "$reader" "/" api-metadata.lua

echo "== a 100 MiB document: dpost's API against nginx on loopback (5 runs each, alternating)"
n=$(curl -fsS -H "Authorization: Bearer $reader" "$api/api/v1/messages/$big" \
  | grep -o '"files":\[{[^}]*"n":[0-9]*' | grep -o '[0-9]*$')
cat > nginx.conf <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  # Debian's nginx.conf turns sendfile on; so does this one.
  sendfile on;
  client_body_temp_path $work/nginx-tmp;
  proxy_temp_path $work/nginx-tmp;
  fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp;
  scgi_temp_path $work/nginx-tmp;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
EOF
[ "$(id -u)" = 0 ] && sed -i '1i user root;' nginx.conf
mkdir -p nginx-tmp
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 100); do
  curl -fs -o /dev/null http://127.0.0.1:$nginx_port/big.pdf && break
  sleep 0.1
done
size=$(stat -c %s www/big.pdf)
# The server's CPU time (user + system, proc(5) stat fields 14 and 15) spent on each download:
# on a shared machine, wall-clock speed follows the other load; the work per download much
# less so. nginx's is its worker's (the master's only child).
nginx_worker=$(pgrep -P "$nginx_pid" | head -1)
ticks=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$ticks" '{ printf "%d\n", ($14 + $15) * 1000 / t }' /proc/$1/stat; }
# Only the stream's peak counts: clear the high-water mark first (proc(5), clear_refs 5).
echo 5 > /proc/$server/clear_refs
: > dpost.speeds
: > nginx.speeds
for _ in 1 2 3 4 5; do
  before=$(cpu_ms $server)
  line=$(curl -fsS -o /dev/null -w '%{speed_download} %{size_download}' \
    -H "Authorization: Bearer $reader" "$api/api/v1/messages/$big/files/$n")
  echo "$line $(( $(cpu_ms $server) - before ))" >> dpost.speeds
  before=$(cpu_ms $nginx_worker)
  line=$(curl -fsS -o /dev/null -w '%{speed_download} %{size_download}' \
    http://127.0.0.1:$nginx_port/big.pdf)
  echo "$line $(( $(cpu_ms $nginx_worker) - before ))" >> nginx.speeds
done
for who in dpost nginx; do
  sort -g $who.speeds | awk -v size="$size" -v who="$who" '
    $2 != size { bad = 1 }
    { s[NR] = $1 / 1e6; cpu += $3 }
    END {
      n = NR
      printf "%-6s best %7.0f MB/s  median %7.0f MB/s  CPU %4.0f ms per download  (%s)%s\n",
        who, s[n], s[(n + 1) / 2], cpu / n, size " bytes each", bad ? "  SIZE MISMATCH" : ""
    }'
done
echo "serve while streaming: $(grep -E 'VmHWM' /proc/$server/status | tr -s ' ')"

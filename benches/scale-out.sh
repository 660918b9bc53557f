#!/usr/bin/env bash
# Issue 18's benchmark: 20 KB MeMo pushes, each made durable before its 200, at 16
# connections, on three set-ups in one run on one machine:
#   sqlite  one `dpost serve` on the embedded SQLite store (the default)
#   pg-1    one `dpost serve` on PostgreSQL
#   pg-2    two `dpost serve` replicas on the same PostgreSQL database
# Every set-up is reached through the same nginx load balancer on loopback (round robin
# over its replicas), so each pays the same proxy hop.
#
#   benches/scale-out.sh [SECONDS] [ROUNDS]   (default 15 s per run, 3 rounds; needs
#                                              target/release/dpost, wrk, nginx, PostgreSQL)
#
# PostgreSQL: a throwaway cluster in the work folder (initdb + pg_ctl, loopback, the
# default durability: synchronous_commit = on, fsync = on). After the runs the stores are
# counted: as many distinct messages as 200s answered.
#
# Where the limit is: with PROFILE=DIR, every run of the last round is also profiled into
# DIR/<set-up>.*: the CPU seconds each kind of process used (dpost, postgres, nginx, wrk,
# from `perf record -a`, 199 Hz, all CPUs), the hottest symbols, and, on PostgreSQL, what
# its active backends were waiting for, sampled every 0.1 s from pg_stat_activity.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
rounds=${2:-3}
dpost=$PWD/target/release/dpost
memo=$PWD/benches/memo-20k.xml
lua=$PWD/benches/push.lua
for tool in wrk nginx psql; do
  command -v $tool >/dev/null || { echo "$tool is missing (Debian: wrk, nginx, postgresql)" >&2; exit 2; }
done
test -x "$dpost" || { echo "build first: cargo build --release -p dpost" >&2; exit 2; }
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d /tmp/dpost-scale-out.XXXXXX)
chmod 755 "$work"
pids=()
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # nginx runs as a daemon: stopped by its pid file, else it outlives the run on port 18200.
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  "${as[@]}" "$bindir/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg" && chown postgres "$work/pg" 2>/dev/null || true
"${as[@]}" "$bindir/initdb" -D "$work/pg" -U dpost --auth=trust -E UTF8 >/dev/null
"${as[@]}" "$bindir/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p 55499 -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=50" start >/dev/null
pg=postgres://dpost@127.0.0.1:55499

cd "$work"
"$dpost" config init dpost.toml >/dev/null
system=$(sed -n 's/^id = "\(.*\)"/\1/p' dpost.toml | head -1)
auth=$(sed -n 's/^authorization = "\(.*\)"/\1/p' dpost.toml | head -1)

# The load balancer: one upstream per set-up, on port 18200.
proxy() {
  local servers=""
  for port in "$@"; do servers="$servers server 127.0.0.1:$port;"; done
  cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  client_max_body_size 10m;
  upstream dpost { $servers keepalive 64; }
  server {
    listen 127.0.0.1:18200;
    location / {
      proxy_pass http://dpost;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering on;
    }
  }
}
EOF
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null && sleep 0.5
  nginx -c "$work/nginx.conf"
}

# Start replica N (ports 182N1 push, 182N2 API) on the store URL (empty: SQLite).
start() {
  local n=$1 url=$2
  mkdir -p "$work/r$n"
  env ${url:+DPOST_STORE_URL=$url} "$dpost" serve --config dpost.toml \
    --listen 127.0.0.1:182${n}1 --api-listen 127.0.0.1:182${n}2 --log error \
    >"$work/r$n.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    curl -fs http://127.0.0.1:182${n}1/healthz >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "replica $n did not start:" >&2
  cat "$work/r$n.log" >&2
  exit 1
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}

url="http://127.0.0.1:18200/api/MeMoV1/memos/?system-uuid=$system"
profiling() { [ -n "${PROFILE:-}" ] && [ "$round" = "$rounds" ]; }
run() {
  local name=$1
  local out perf_pid="" waits_pid=""
  if profiling; then
    mkdir -p "$PROFILE"
    perf record -F 199 -a -g -o "$PROFILE/$name.perf" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_pid=$!
    if [ "$name" != sqlite ]; then
      # One session re-running the query (\watch), not a psql per sample: the sampler
      # must cost next to nothing on the machine it measures.
      printf '%s \\watch 0.1\n' "SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU')
        FROM pg_stat_activity WHERE datname = 'bench' AND state = 'active' AND pid <> pg_backend_pid()" \
        | timeout "$seconds" psql -Atq -d "$pg/postgres" > "$PROFILE/$name.waits.raw" 2>/dev/null &
      waits_pid=$!
    fi
  fi
  out=$(DPOST_AUTH="$auth" DPOST_MEMO="$memo" \
    wrk -t2 -c16 -d${seconds}s --latency -s "$lua" "$url")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    [ -n "$waits_pid" ] && { wait "$waits_pid" || true; }
    # By process: dpost's threads are tokio's, postgres's are postgres, and so on.
    perf report -i "$PROFILE/$name.perf" --no-children --sort comm --stdio 2>/dev/null \
      | grep -E '^ +[0-9]' > "$PROFILE/$name.by-process.txt" || true
    perf report -i "$PROFILE/$name.perf" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null \
      | grep -E '^ +[0-9]' | head -40 > "$PROFILE/$name.symbols.txt" || true
    if [ -f "$PROFILE/$name.waits.raw" ]; then
      sort "$PROFILE/$name.waits.raw" | uniq -c | sort -rn > "$PROFILE/$name.waits.txt"
    fi
    rm -f "$PROFILE/$name.perf" "$PROFILE/$name.waits.raw"
    echo "$name profile: $PROFILE/$name.by-process.txt, .symbols.txt${waits_pid:+, .waits.txt}"
  fi
  local rate p99 n non2xx
  rate=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p')
  p99=$(echo "$out" | sed -n 's/^ *99% *\([0-9.]*[a-z]*\)/\1/p')
  n=$(echo "$out" | sed -n 's/^requests \([0-9]*\),.*/\1/p')
  non2xx=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\)/\1/p')
  echo "$name round $round: ${rate} msg/s, p99 ${p99}, ${n} requests, non-2xx ${non2xx:-0}"
}

for round in $(seq "$rounds"); do
  # Each set-up on a fresh store: the same starting point in every round.
  rm -rf "$work"/dpost.db* "$work"/r*
  proxy 18211
  start 1 ""
  run sqlite
  stop_all

  psql -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  rm -rf "$work"/dpost.db* "$work"/r*
  start 1 "$pg/bench"
  run pg-1
  stop_all

  psql -q -d "$pg/postgres" -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  rm -rf "$work"/dpost.db* "$work"/r*
  proxy 18211 18221
  # The second replica needs a data folder of its own (serve.lock).
  sed 's|^\[serve\]|[serve]\ndata_dir = "r2-data"|' dpost.toml > dpost-r2.toml
  start 1 "$pg/bench"
  DPOST_STORE_URL="$pg/bench" "$dpost" serve --config dpost-r2.toml \
    --listen 127.0.0.1:18221 --api-listen 127.0.0.1:18222 --log error >"$work/r2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -fs http://127.0.0.1:18221/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  run pg-2
  stop_all
  stored=$(psql -Atq -d "$pg/bench" -c "SELECT COUNT(*), COUNT(DISTINCT uuid) FROM ngdp_messages")
  echo "pg-2 round $round: stored (rows, distinct) = $stored"
done

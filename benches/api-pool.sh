#!/usr/bin/env bash
# The platform API's pool of store connections (issue 18): latency of the pending list
# (first page, limit 100) on PostgreSQL with `[store] connections = 1` against `= 8`, at 1
# and 8 wrk connections, alternating, in one run on one machine.
#
#   benches/api-pool.sh [MESSAGES [SECONDS [ROUNDS]]]   (default 100000 messages, 10 s per
#                                                       run, 2 rounds)
#
# The store is seeded in SQLite as benches/api.sh seeds it (tests/seed.rs, built by `cargo
# run --release`), then moved into a throwaway PostgreSQL cluster in the work folder
# (initdb + pg_ctl, loopback, default durability) with `dpost store copy`. Needs
# target/release/dpost, wrk, curl and PostgreSQL (Debian: wrk curl postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
messages=${1:-100000}
seconds=${2:-10}
rounds=${3:-2}
dpost=$root/target/release/dpost
for tool in wrk curl psql; do
  command -v $tool >/dev/null || { echo "$tool is missing (Debian: wrk curl postgresql)" >&2; exit 2; }
done
test -x "$dpost" || { echo "build first: cargo build --release -p dpost" >&2; exit 2; }
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d /tmp/dpost-api-pool.XXXXXX)
chmod 755 "$work"
server=
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
cleanup() {
  set +e
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null || true
  "${as[@]}" "$bindir/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg" && chown postgres "$work/pg" 2>/dev/null || true
"${as[@]}" "$bindir/initdb" -D "$work/pg" -U dpost --auth=trust -E UTF8 >/dev/null
"${as[@]}" "$bindir/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p 55498 -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
pg=postgres://dpost@127.0.0.1:55498/postgres

cd "$work"
"$dpost" config init dpost.toml >/dev/null
sed -i 's/^mailboxes = .*/mailboxes = ["standard", "daycare", "housing", "schools", "taxes", "health", "elderly", "jobcentre", "planning", "culture", "roads", "post"]/' dpost.toml
# NgDP's API at a closed port: the benchmark is offline.
sed -i 's|^api_base = "http://127.0.0.1:8090/apis/v1"|api_base = "http://127.0.0.1:9/apis/v1"|' dpost.toml
grep -q '^api_base = "http://127.0.0.1:9/apis/v1"' dpost.toml
"$dpost" api token create reader --scope messages:read --config dpost.toml 2>/dev/null > reader.token
reader=$(cat reader.token)

echo "== seeding $messages messages (SQLite), then copying them into PostgreSQL"
(cd "$root" && cargo run -q --release -p dpost-tests --example seed -- \
  --config "$work/dpost.toml" --messages "$messages" --sample "$work/uuids.txt") > seeded.json
cat seeded.json
"$dpost" store copy --config dpost.toml --to "$pg" --json > copied.json
echo "copied: $(head -c 300 copied.json)"
# From here on the store is PostgreSQL.
# The first commented `url` is [store]'s (a webhook's comes later).
sed -i "0,/^# url = .*/s||url = \"$pg\"|" dpost.toml
test "$(grep -c "^url = \"$pg\"" dpost.toml)" = 1

api_port=18097
api=http://127.0.0.1:$api_port
start_serve() {
  sed -i "s/^#\? *connections = .*/connections = $1/" dpost.toml
  grep -q "^connections = $1\$" dpost.toml
  "$dpost" serve --config dpost.toml --listen 127.0.0.1:18096 \
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

path="/api/v1/messages?state=pending&limit=100"
echo "== pending, first page (100), ${seconds}s per run; machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  for pool in 1 8; do
    start_serve $pool
    curl -fsS -o /dev/null -H "Authorization: Bearer $reader" "$api$path"
    for c in 1 8; do
      t=$(( c == 1 ? 1 : 2 ))
      out=$(wrk -t$t -c$c -d${seconds}s --latency -H "Authorization: Bearer $reader" "$api$path")
      printf 'round %s  [store] connections = %s  wrk c=%-2s %8s req/s  p50 %8s  p90 %8s  p99 %8s  %s\n' \
        "$round" "$pool" "$c" \
        "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
        "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
        "$(echo "$out" | awk '$1 == "90%" {print $2}')" \
        "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
        "$(echo "$out" | grep -E 'Non-2xx|errors' | tr -s ' ' | tr '\n' ' ')"
    done
    echo "  pool after: $(curl -fsS $api/metrics | grep -E '^dpost_store_connection(s_open|_wait_timeouts_total) ' | tr '\n' ' ')"
    stop_serve
  done
done
echo "machine load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# The store's tests and the end-to-end tests again, on PostgreSQL (issue 18): installs
# PostgreSQL from Debian when it is missing, starts a throwaway cluster on loopback in
# target/ (initdb + pg_ctl, trust authentication, nothing listening beyond 127.0.0.1),
# runs the tests with DPOST_TEST_POSTGRES pointing at it, and stops it whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || ! command -v psql >/dev/null; then
    echo "installing PostgreSQL from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql postgresql-client >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

root="$PWD/target/pg-cluster"
port="${DPOST_PG_PORT:-55433}"
rm -rf "$root"
mkdir -p "$root"
# initdb refuses to run as root: the cluster belongs to the postgres user then.
as=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$root" postgres
    chown postgres "$root"
    as=(runuser -u postgres --)
fi
"${as[@]}" "$bindir/initdb" -D "$root/data" -U dpost --auth=trust -E UTF8 >"$root/initdb.log"
"${as[@]}" "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w \
    -o "-p $port -k $root -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
trap '"${as[@]}" "$bindir/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1 || true' EXIT

export DPOST_TEST_POSTGRES="postgres://dpost@127.0.0.1:$port/postgres"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"

echo "-- the store's unit tests"
cargo test --locked -p dpost --lib store::
echo "-- end-to-end tests"
cargo build --locked -p dpost
cargo test --locked --no-fail-fast -p dpost-tests \
    --test api --test api_outgoing --test api_digipost --test ngdp_serve --test console \
    --test sim_ngdp --test ngdp_send --test ops_failures --test store_copy \
    --test scale_out --test api_events --test operations --test hostile_input --test ops_audit \
    --test serve_faults --test digipost_inbox --test cli_digipost --test cli_digipost_inbox \
    --test cli_digipost_archive --test ngdp_wire --test conformance_digipost --test doctor

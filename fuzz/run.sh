#!/usr/bin/env bash
# Run the guest's fuzz targets, each for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 seconds, every target
#
# Needs only a stable toolchain: cargo-fuzz asks rustc for nightly-only flags
# (-Zsanitizer, -Cpasses=sancov-module, ...), which RUSTC_BOOTSTRAP=1 unlocks on stable.
# Installs cargo-fuzz when it is missing. Exits non-zero when any target crashes, panics,
# times out or runs out of memory, and prints where the failing input was saved.
#
# Environment:
#   FUZZ_SANITIZER   none (default) or address. The guest is safe Rust, so AddressSanitizer
#                    finds little and costs about half the speed.
#   FUZZ_JOBS        cargo build jobs (default: cargo's own choice).
#   FUZZ_NICE        niceness for build and run (default 0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
nice_cmd=(nice -n "${FUZZ_NICE:-0}")
if [ -n "${FUZZ_JOBS:-}" ]; then
    export CARGO_BUILD_JOBS="$FUZZ_JOBS"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    "${nice_cmd[@]}" cargo install cargo-fuzz --locked
fi

cd "$root"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
"${nice_cmd[@]}" cargo fuzz build --sanitizer "$sanitizer"

failed=()
for target in "${targets[@]}"; do
    # The corpus the fuzzer grows is scratch (gitignored); the committed seeds are read too.
    corpus="$here/corpus/$target"
    seeds="$here/seeds/$target"
    artifacts="$here/artifacts/$target"
    log="$here/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$here/logs"
    dirs=("$corpus")
    [ -d "$seeds" ] && dirs+=("$seeds")
    echo "== $target for ${seconds}s"
    start=$(date +%s)
    status=0
    "${nice_cmd[@]}" cargo fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" \
        | sed "s/^/   $target /" || true
    if [ "$status" -ne 0 ]; then
        # The panic message (without the backtrace) and libFuzzer's verdict.
        grep -E -A3 "panicked at" "$log" | grep -vE '^\s+[0-9]+: |^\s+at |^stack backtrace' | cut -c1-2000 || true
        grep -E "^(==[0-9]+== ERROR|SUMMARY): " "$log" || true
        echo "!! $target failed (exit $status) after $(($(date +%s) - start))s; full log: $log"
        grep -hoE '(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+' "$log" | sort -u | while read -r a; do
            echo "!! failing input: $artifacts/$a"
            echo "!! reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $target $artifacts/$a"
        done
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== FAILED: ${failed[*]}"
    exit 1
fi
echo "== all ${#targets[@]} targets ran ${seconds}s without failure"

#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails if any of them crashes, hangs or trips an
# assertion. Needs the nightly toolchain; installs cargo-fuzz if it is missing.
#
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_TARGETS    space-separated subset of targets (default: all)
#   FUZZ_SANITIZER  address, leak, memory, thread or none (default none: the code under test is
#                   safe Rust, and without ASan each second buys several times more runs)
#
# Corpora grow in fuzz/corpus/<target> across runs, crashes land in fuzz/artifacts/<target>, and
# each run's libFuzzer output in fuzz/logs/<target>.log; none of them is committed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../infra/scripts/lib.sh"
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
read -r -a targets <<<"${FUZZ_TARGETS:-form_parse data_uri jwt_verify jwt_mutate domain}"

# Longest input per target: enough for a multipart body with every field, a small image, a
# token with room to mutate, a long text field.
declare -A max_len=(
    [form_parse]=4096
    [data_uri]=16384
    [jwt_verify]=1024
    [jwt_mutate]=1024
    [domain]=1024
)

# Tools: the nightly toolchain (libFuzzer's instrumentation needs it) and cargo-fuzz, from crates.io.
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzzing needs a nightly Rust toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"

# The default build is optimised with debug assertions and overflow checks on.
flags=(--sanitizer "$sanitizer")
cargo +nightly fuzz build "${flags[@]}"
mkdir -p logs

failed=()
summary=()
for t in "${targets[@]}"; do
    log="logs/$t.log"
    echo "== $t: ${seconds}s, -max_len=${max_len[$t]:-4096}" >&2
    status=ok
    if ! cargo +nightly fuzz run "${flags[@]}" "$t" -- \
        -max_total_time="$seconds" \
        -max_len="${max_len[$t]:-4096}" \
        -dict="dicts/$t.dict" \
        -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=FAILED
        failed+=("$t")
        tail -n 40 "$log" >&2
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    summary+=("$(printf '%-11s %-6s runs %-10s cov %-6s ft %-6s corpus %s' \
        "$t" "$status" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/, output in fuzz/logs/)" >&2
    exit 1
fi

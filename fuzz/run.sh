#!/usr/bin/env bash
# Runs every fuzz target (or those named as arguments) for FUZZ_SECONDS each (default 60),
# prints one summary line per target and exits non-zero if any target crashed.
# Corpora grow in fuzz/corpus/TARGET (gitignored), seeded from fuzz/seeds/TARGET; crashes land
# in fuzz/artifacts/TARGET; full libFuzzer output in fuzz/target/fuzz-logs/TARGET.log.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz_dir")"
seconds="${FUZZ_SECONDS:-60}"
all_targets=(host_domain range normalize_path page_token dependencies form signature)
if (($# > 0)); then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root"
# Build every target first, so a compile error stops here and the timed runs only fuzz.
cargo +nightly fuzz build

logs="$fuzz_dir/target/fuzz-logs"
mkdir -p "$logs"
summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    mkdir -p "$corpus"
    dirs=("$corpus")
    if [[ -d "$fuzz_dir/seeds/$target" ]]; then
        dirs+=("$fuzz_dir/seeds/$target")
    fi
    log="$logs/$target.log"
    echo "fuzzing $target for ${seconds}s (log: $log)" >&2
    status=OK
    if ! cargo +nightly fuzz run "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
        # No libFuzzer output at all: the target did not start (unknown name, build error).
        if grep -q '^INFO: Seed' "$log"; then status=CRASH; else status=FAIL; fi
        failed=1
    fi
    # libFuzzer's final line: "Done 123456 runs in 61 second(s)".
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
    if [[ -z "$runs" ]]; then
        # No final line after a crash: the last status line has the executions so far.
        runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        secs="?"
    fi
    line=$(printf '%-15s %-5s runs=%s seconds=%s' "$target" "$status" "${runs:-?}" "${secs:-?}")
    if [[ "$status" != OK ]]; then
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        line+=" artifact=${artifact:-none} (see $log)"
    fi
    summary+=("$line")
    echo "$line" >&2
done

echo "summary (${seconds}s per target):"
printf '%s\n' "${summary[@]}"
exit "$failed"

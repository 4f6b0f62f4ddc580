#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for FUZZ_SECONDS (default
# 10) each, seeded from its committed corpus in fuzz/corpus/<target>/.
# Called by CI.
#
# - 10 seconds a target keeps CI's fuzz step about as long as it was with
#   five targets at 20: this run is a smoke test (a crash near the seeds);
#   the corpus replay in `cargo test` pins every seed, and a longer run is
#   `FUZZ_SECONDS=60 fuzz/run.sh <target>`, one target at a time.
# - If cargo-fuzz cannot be installed or the targets cannot be built, prints
#   "fuzzing skipped: <reason>" and exits 0: `cargo test` replays the
#   committed corpus anyway (core/tests/fuzz_corpus.rs).
# - Exits non-zero if any target finds a crash (its input is kept in
#   fuzz/artifacts/<target>/; add it to the corpus once fixed).
# - New inputs found while fuzzing go to a temporary directory, never into
#   the committed corpus, which is passed read-only as the second corpus dir.
#
# Usage: fuzz/run.sh                       (from anywhere; every target)
#        FUZZ_SECONDS=60 fuzz/run.sh stored_row cors_preflight
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

skip() {
    echo "fuzzing skipped: $*"
    exit 0
}

# cargo-fuzz needs nightly-only flags (-Zsanitizer=...); stable accepts them
# with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
# Build in fuzz/target (the fuzz workspace's default, gitignored), whatever
# the caller's environment says.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found, installing it (about a minute)"
    cargo install cargo-fuzz --locked || skip "cargo install cargo-fuzz failed"
fi
echo "using $(cargo fuzz --version)"

targets="$(cargo fuzz list)" || skip "cargo fuzz list failed"
if [[ -z "$targets" ]]; then
    echo "error: cargo fuzz list found no targets" >&2
    exit 1
fi
if (($#)); then
    for t in "$@"; do
        if ! grep -qx -- "$t" <<<"$targets"; then
            echo "error: no fuzz target named $t (cargo fuzz list)" >&2
            exit 2
        fi
    done
    targets="$*"
fi

start=$SECONDS
if (($#)); then
    for t in $targets; do
        cargo fuzz build "$t" || skip "cargo fuzz build $t failed"
    done
else
    cargo fuzz build || skip "cargo fuzz build failed"
fi
echo "built in $((SECONDS - start))s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=()
for t in $targets; do
    seeds="$root/fuzz/corpus/$t"
    if [[ ! -d "$seeds" ]]; then
        echo "error: no committed corpus for target $t at fuzz/corpus/$t" >&2
        failed+=("$t (no corpus)")
        continue
    fi
    mkdir -p "$scratch/$t"
    echo "=== fuzzing $t for ${FUZZ_SECONDS}s"
    log="$scratch/$t.log"
    # libFuzzer writes new inputs into the first corpus dir only.
    set +e
    cargo fuzz run "$t" "$scratch/$t" "$seeds" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc == 0)); then
        status=ok
    else
        status="FAILED (exit $rc)"
        failed+=("$t")
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
    echo "=== $t: $status, ${execs:-?} execs, ${rate:-?} execs/s"
done

echo "fuzzing took $((SECONDS - start))s in all"
if ((${#failed[@]})); then
    echo "fuzzing FAILED: ${failed[*]} (crashing inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing passed: no crash in $(wc -w <<<"$targets") target(s)"

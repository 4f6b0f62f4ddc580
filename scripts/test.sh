#!/usr/bin/env bash
# Runs every test of the workspace, after setting up what the tests drive
# besides Rust: a Python virtual environment with the independent
# implementations we check against (scripts/requirements-test.txt),
# PostgreSQL when a server answers, the Python binding's suite against its
# release wheel and the C ABI's C suite. Idempotent; a second run reuses the
# environment. Extra arguments go to `cargo test` (and leave out the Python
# and C suites).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="target/test-venv"
req="scripts/requirements-test.txt"
stamp="$venv/.requirements"
if ! cmp -s "$req" "$stamp" 2>/dev/null; then
    echo "== setting up $venv (Python packages for the interoperability tests)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi

# The interoperability tests fail, rather than skip, when their peer is missing.
export SECRETS_CORE_PYTHON="$PWD/$venv/bin/python"
export SECRETS_CORE_INTEROP=required

# The browser test of the axum example (examples/tests/axum_server.rs) runs
# headless Chromium when it is installed. Under
# SECRETS_CORE_REQUIRE_BROWSER=1 (CI) it is installed when missing
# (scripts/browser-setup.sh) and the test fails rather than skips.
if [ "${SECRETS_CORE_REQUIRE_BROWSER:-}" = 1 ]; then
    scripts/browser-setup.sh
    export SECRETS_CORE_BROWSER=required
fi

# PostgreSQL: when a server answers on this machine, a scratch database and
# the two roles (scripts/postgres-setup.sh), and the tests with the
# `postgres` feature, connecting as the app role (the owner only migrates).
# Without a server they are not built, and this says so.
features=()
if command -v psql >/dev/null 2>&1 &&
    psql -X -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGSUPERUSER:-postgres}" \
        -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
    echo "== setting up PostgreSQL (scripts/postgres-setup.sh)"
    SECRETS_CORE_POSTGRES_URL="$(scripts/postgres-setup.sh)"
    SECRETS_CORE_POSTGRES_OWNER_URL="$(scripts/postgres-setup.sh --owner-url)"
    export SECRETS_CORE_POSTGRES_URL SECRETS_CORE_POSTGRES_OWNER_URL
    features=(--features secrets-core/postgres,secrets-core-examples/postgres,secrets-core-cli/postgres)
    # Two throwaway clusters for the TLS tests (ssl on with a throwaway CA,
    # and ssl off), removed on exit.
    echo "== starting throwaway PostgreSQL clusters for the TLS tests (scripts/postgres-tls.sh)"
    tls_dir="$(mktemp -d /tmp/secrets-core-pg-tls.XXXXXX)"
    trap 'scripts/postgres-tls.sh stop "$tls_dir"' EXIT
    tls_port="${SECRETS_CORE_POSTGRES_TLS_PORT:-55432}"
    while IFS='=' read -r name value; do
        export "$name=$value"
    done < <(scripts/postgres-tls.sh start "$tls_dir" "$tls_port")
else
    if [ "${SECRETS_CORE_REQUIRE_POSTGRES:-}" = 1 ]; then
        echo "== no PostgreSQL server answers, and SECRETS_CORE_REQUIRE_POSTGRES=1: stopping" >&2
        exit 1
    fi
    echo "== no PostgreSQL server answers: the PostgreSQL tests are not run"
fi

# The front ends' own test suites, before cargo so that the run still
# closes on cargo's summary; only for a full run (no extra arguments: a
# run filtered to some Rust tests skips them, and says so).
if [ $# -eq 0 ]; then
    # The Python binding, against its release wheel.
    scripts/python-test.sh
    # The C ABI's C tests (plain, ASan + UBSan, valgrind) and its example host.
    scripts/c-test.sh
else
    echo "== arguments given: the Python and C suites are not run (scripts/python-test.sh, scripts/c-test.sh)"
fi

cargo test --workspace "${features[@]}" "$@"

# The Vault suite once more on PostgreSQL with unprepared statements (the
# conformance suite runs in both modes above): what works behind PgBouncer
# in transaction mode before 1.21. Only for a full run (no extra arguments).
if [ ${#features[@]} -gt 0 ] && [ $# -eq 0 ]; then
    echo "== the Vault suite on PostgreSQL, unprepared statements"
    SECRETS_CORE_POSTGRES_STATEMENTS=unprepared \
        cargo test -p secrets-core --features postgres --test vault postgres
fi

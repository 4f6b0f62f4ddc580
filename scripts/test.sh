#!/usr/bin/env bash
# Runs every test of the workspace, after setting up what the tests drive
# besides Rust: a Python virtual environment with the independent
# implementations we check against (scripts/requirements-test.txt).
# Idempotent; a second run reuses the environment. Extra arguments go to
# `cargo test`.
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

exec cargo test --workspace "$@"

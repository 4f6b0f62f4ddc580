#!/usr/bin/env bash
# The Python binding's tests, against the real wheel: a fresh virtual
# environment under target/, maturin (pinned) builds the release wheel, the
# wheel and the pinned test packages are installed, then stubtest checks the
# hand-written stubs against the built module, mypy --strict a typed usage
# file and the package, and pytest runs bindings/python/tests.
#
# With SECRETS_CORE_POSTGRES_URL set (scripts/test.sh sets it when a server
# answers) the wheel is built with the `postgres` feature and the suite runs
# on PostgreSQL too. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

venv="target/python-test-venv"
wheels="target/python-wheels"
maturin_version="1.16.0"

echo "== Python binding: a fresh $venv"
rm -rf "$venv" "$wheels"
python3 -m venv "$venv"
py="$root/$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "maturin==$maturin_version"

features=()
if [ -n "${SECRETS_CORE_POSTGRES_URL:-}" ]; then
    features=(--features postgres)
fi
echo "== Python binding: maturin build --release ${features[*]}"
"$root/$venv/bin/maturin" build --release --quiet -m bindings/python/Cargo.toml \
    --interpreter "$py" --out "$wheels" "${features[@]}"

"${pip[@]}" "$wheels"/secrets_core-*.whl -r bindings/python/tests/requirements.txt

# From a directory without the source package, so that every import below
# is the installed wheel.
cd "$root/bindings/python/tests"
echo "== Python binding: stubtest"
"$py" -m mypy.stubtest secrets_core._native
echo "== Python binding: mypy --strict"
"$py" -m mypy --strict --no-incremental typed/usage.py
"$py" -m mypy --strict --no-incremental -p secrets_core
echo "== Python binding: pytest"
SECRETS_CORE_WHEEL_TEST=1 "$py" -m pytest -p no:cacheprovider -q --timeout 300 "$@"

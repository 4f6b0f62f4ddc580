#!/usr/bin/env bash
# The Python benchmarks (benches/python/bench.py) against the release wheel:
# reuses target/python-test-venv and the wheel scripts/python-test.sh built
# (run that first), installs the pinned peers, and prints one line per case.
set -euo pipefail
cd "$(dirname "$0")/../.."
py="target/python-test-venv/bin/python"
if [ ! -x "$py" ] || ! "$py" -c "import secrets_core" 2>/dev/null; then
    echo "run scripts/python-test.sh first (it builds and installs the release wheel)" >&2
    exit 1
fi
"$py" -m pip install --quiet --disable-pip-version-check -r benches/python/requirements.txt
cd /tmp
exec "$OLDPWD/$py" "$OLDPWD/benches/python/bench.py" "$@"

#!/usr/bin/env bash
# Makes sure headless Chromium (Debian's `chromium` package) is installed,
# for the browser test of the axum example (examples/tests/axum_server.rs).
# Installs it with apt-get when missing (needs root, as CI runs); prints the
# version. Idempotent.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium (apt-get) for the browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
chromium --version

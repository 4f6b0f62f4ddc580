#!/usr/bin/env bash
# Builds libsecrets_core (bindings/c) and runs its C tests as a C host
# would use it: the header and the static library staged under a prefix
# with a rendered secrets_core.pc, and every C program compiled through
# pkg-config alone, C11 with -Wall -Wextra -Werror -pedantic:
#   1. tests/smoke.c, plain;
#   2. the same under AddressSanitizer + UBSan (leaks detected, abort on
#      the first error; the program checks that ASan is really linked);
#   3. the plain build under valgrind --leak-check=full (0 errors, no
#      definite or indirect leak), installing valgrind if it is missing;
#   4. examples/host.c, the small host of the README.
# The library is built with the test-only feature `testing`
# (sc_test_panic), and with `postgres` when SECRETS_CORE_POSTGRES_URL is
# set (scripts/test.sh sets it): the flow then runs on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")/.."

features=testing
if [ -n "${SECRETS_CORE_POSTGRES_URL:-}" ]; then
    features="testing,postgres"
    export SC_TEST_POSTGRES_URL="$SECRETS_CORE_POSTGRES_URL"
    export SC_TEST_POSTGRES_OWNER_URL="${SECRETS_CORE_POSTGRES_OWNER_URL:-}"
fi

# A C compiler and pkg-config, installed when missing (as CI runs: root).
if ! command -v pkg-config >/dev/null 2>&1 || ! command -v "${CC:-cc}" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq gcc pkg-config >/dev/null
fi

echo "== C ABI: building libsecrets_core (features: $features)"
cargo build -p secrets-core-c --features "$features"

out="$PWD/target/c-abi"
prefix="$out/prefix"
rm -rf "$out"
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig" "$out/bin"
cp bindings/c/include/secrets_core.h "$prefix/include/"
# Only the static library is staged, so `-lsecrets_core` links it.
cp target/debug/libsecrets_core.a "$prefix/lib/"
version="$(sed -n 's/^#define SC_VERSION "\(.*\)"$/\1/p' bindings/c/include/secrets_core.h)"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" \
    bindings/c/secrets_core.pc.in > "$prefix/lib/pkgconfig/secrets_core.pc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists --print-errors "secrets_core = $version"

# The test's deliberate panic prints one line, not a backtrace.
export RUST_BACKTRACE=0
cc="${CC:-cc}"
cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -g)
read -r -a pc_cflags <<< "$(pkg-config --cflags secrets_core)"
read -r -a pc_libs <<< "$(pkg-config --static --libs secrets_core)"

echo "== C ABI: tests/smoke.c"
"$cc" "${cflags[@]}" -DSC_TESTING "${pc_cflags[@]}" bindings/c/tests/smoke.c \
    "${pc_libs[@]}" -o "$out/bin/smoke"
"$out/bin/smoke"

echo "== C ABI: tests/smoke.c under AddressSanitizer and UBSan"
"$cc" "${cflags[@]}" -DSC_TESTING -DSC_EXPECT_ASAN -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all "${pc_cflags[@]}" \
    bindings/c/tests/smoke.c "${pc_libs[@]}" -o "$out/bin/smoke-asan"
# The program checks ASan at run time too; this checks the binary.
# (No `grep -q`: under pipefail its early exit fails `nm` with SIGPIPE.)
if ! nm "$out/bin/smoke-asan" | grep '__asan_init' >/dev/null; then
    echo "ASan is not linked in" >&2
    exit 1
fi
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$out/bin/smoke-asan"

echo "== C ABI: tests/smoke.c under valgrind"
if ! command -v valgrind >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi
valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=1 "$out/bin/smoke"

echo "== C ABI: examples/host.c (header, library and pkg-config only)"
"$cc" "${cflags[@]}" "${pc_cflags[@]}" bindings/c/examples/host.c "${pc_libs[@]}" -o "$out/bin/host"
"$out/bin/host" "$out/host-vault.db"

echo "== C ABI: every C test passed"

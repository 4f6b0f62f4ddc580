#!/usr/bin/env bash
# Sets up PostgreSQL for secrets-core's tests (and a newcomer's first try):
# a scratch database and the two roles of core/src/store/postgres/bootstrap.sql
# on the machine's server, then prints the app role's URL on stdout (the
# owner's URL, for migrations, is the same with the owner's name).
# Idempotent: a second run finds everything in place and prints the same URL.
# With `--owner-url`, it prints the owner's URL instead (for migrations).
#
# The server: PGHOST (127.0.0.1), PGPORT (5432), reached as PGSUPERUSER
# (postgres) with the server's own authentication (trust on CI machines).
# Names: SECRETS_CORE_PG_DB (secrets_core_test), SECRETS_CORE_PG_OWNER
# (secrets_core_owner), SECRETS_CORE_PG_APP (secrets_core_app).
set -euo pipefail
cd "$(dirname "$0")/.."

host="${PGHOST:-127.0.0.1}"
port="${PGPORT:-5432}"
superuser="${PGSUPERUSER:-postgres}"
db="${SECRETS_CORE_PG_DB:-secrets_core_test}"
owner="${SECRETS_CORE_PG_OWNER:-secrets_core_owner}"
app="${SECRETS_CORE_PG_APP:-secrets_core_app}"

psql_as_super() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$superuser" "$@"
}

psql_as_super -d postgres -tA -v db="$db" >/dev/null <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
    WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
psql_as_super -d "$db" -v owner="$owner" -v app="$app" \
    -f core/src/store/postgres/bootstrap.sql >/dev/null

# Plaintext, explicitly: the machine's server listens on loopback only.
if [ "${1:-}" = "--owner-url" ]; then
    echo "postgres://${owner}@${host}:${port}/${db}?sslmode=disable"
else
    echo "postgres://${app}@${host}:${port}/${db}?sslmode=disable"
fi

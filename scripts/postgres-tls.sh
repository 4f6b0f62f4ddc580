#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the TLS tests (core/tests/postgres):
#
#   scripts/postgres-tls.sh start DIR PORT   # prints the variables to export
#   scripts/postgres-tls.sh stop DIR
#
# `start` makes, under DIR: a throwaway CA and a second, unrelated one; a
# server certificate for `localhost` (no IP address in it) signed by the
# first; a cluster on 127.0.0.1:PORT with ssl on, `hostssl` allowed and
# `hostnossl` rejected, holding the database and roles of bootstrap.sql
# plus a second app role that must log in with a password (scram-sha-256;
# every other role is trusted), whose name and random password are printed
# too; and a cluster on PORT+1 with ssl off. The clusters run as the
# `postgres` OS user (initdb refuses root; CI runs as root, hence runuser).
# `stop` stops both and removes DIR. Needs initdb (Debian: postgresql), openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$bindir" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd="${1:?start or stop}"
dir="${2:?a directory}"

if [ "$cmd" = stop ]; then
    for c in tls plain; do
        [ -d "$dir/$c" ] && as_pg "$bindir/pg_ctl" -D "$dir/$c" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
    exit 0
fi

port="${3:?a port}"
plain_port=$((port + 1))
rm -rf "$dir"
mkdir -p "$dir/certs"
(
    cd "$dir/certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=secrets-core test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" \
        -keyout other.key -out other-ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile san.ext -out server.pem 2>/dev/null
    chmod 600 server.key
)
chown -R postgres "$dir" 2>/dev/null || true

for c in tls plain; do
    as_pg "$bindir/initdb" -D "$dir/$c" -U postgres --auth=trust >/dev/null
done
cat >> "$dir/tls/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/certs/server.pem'
ssl_key_file = '$dir/certs/server.key'
CONF
password_role=secrets_core_app_pw
password="$(openssl rand -hex 16)"
# First match wins: the password role's line comes before the trust lines.
cat > "$dir/tls/pg_hba.conf" <<HBA
local     all all              trust
hostssl   all $password_role 127.0.0.1/32 scram-sha-256
hostssl   all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
HBA
cat >> "$dir/plain/postgresql.conf" <<CONF
port = $plain_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
ssl = off
CONF
for c in tls plain; do
    as_pg "$bindir/pg_ctl" -D "$dir/$c" -l "$dir/$c.log" -w start >/dev/null
done

# The database and roles, through the Unix socket.
psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE secrets_core_test" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d secrets_core_test \
    -f core/src/store/postgres/bootstrap.sql >/dev/null
# The same app role again, under another name and with a password (stored
# as a SCRAM verifier: PostgreSQL 14+'s default password_encryption).
psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d secrets_core_test \
    -v app="$password_role" -v app_password="$password" \
    -f core/src/store/postgres/bootstrap.sql >/dev/null

echo "SECRETS_CORE_POSTGRES_TLS_PORT=$port"
echo "SECRETS_CORE_POSTGRES_PLAIN_PORT=$plain_port"
echo "SECRETS_CORE_POSTGRES_TLS_DIR=$dir"
echo "SECRETS_CORE_POSTGRES_TLS_PASSWORD_ROLE=$password_role"
echo "SECRETS_CORE_POSTGRES_TLS_PASSWORD=$password"

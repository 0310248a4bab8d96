#!/usr/bin/env bash
# Start a throwaway PostgreSQL server in DIR on a free loopback port and print its URL.
#   scripts/pg-start.sh DIR        -> prints postgres://ferry:ferry@127.0.0.1:PORT/postgres
#   scripts/pg-stop.sh DIR         -> stops it
#   FERRY_PG_DURABLE=1 scripts/pg-start.sh DIR
#                                  -> a server as users run one: fsync, synchronous_commit
#                                     and full_page_writes on, max_prepared_transactions = 0,
#                                     PostgreSQL's defaults otherwise (the bench's logged legs)
#   FERRY_PG_SSL=1 scripts/pg-start.sh DIR
#                                  -> also TLS (ssl = on) with a certificate for
#                                     127.0.0.1 / localhost signed by a throwaway CA whose
#                                     certificate is DIR/root.crt (the tests' server:
#                                     clients that prefer TLS get it)
# Installs the server with apt when no initdb is found. Runs as the `postgres` user
# when started as root (PostgreSQL refuses to run as root).
set -euo pipefail
dir=${1:?usage: pg-start.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local b
  for b in /usr/lib/postgresql/*/bin/"$name"; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  return 1
}

if ! find_bin initdb >/dev/null || ! find_bin postgres >/dev/null; then
  echo "pg-start: installing postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
INITDB=$(find_bin initdb)
PGCTL=$(find_bin pg_ctl)

as_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  chown -R postgres "$dir"
  as_pg=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ ! -f "$dir/data/PG_VERSION" ]; then
  printf 'ferry\n' > "$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pwfile"
  "${as_pg[@]}" "$INITDB" -D "$dir/data" -U ferry --pwfile="$dir/pwfile" -A scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  if [ "${FERRY_PG_DURABLE:-0}" = 1 ]; then
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 100
CONF
  else
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 100
max_prepared_transactions = 64
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_wal_size = 4GB
CONF
  fi
fi
if [ "${FERRY_PG_SSL:-0}" = 1 ] && [ ! -f "$dir/data/server.key" ]; then
  if ! command -v openssl >/dev/null 2>&1; then
    echo "pg-start: installing openssl with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2; }
  fi
  # A CA and a server certificate it signed (verify-ca / verify-full need a chain: a
  # self-signed CA certificate is not accepted as the server's own).
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ferry test CA" \
      -keyout "$dir/root.key" -out "$dir/root.crt" &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$dir/data/server.key" -out "$dir/server.csr" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$dir/server.ext" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/root.crt" -CAkey "$dir/root.key" \
      -CAcreateserial -days 30 -extfile "$dir/server.ext" -out "$dir/data/server.crt"
  } >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; exit 1; }
  chmod 600 "$dir/data/server.key"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
  echo "ssl = on" >> "$dir/data/postgresql.conf"
fi
sed -i "/^port = /d" "$dir/data/postgresql.conf"
echo "port = $port" >> "$dir/data/postgresql.conf"
"${as_pg[@]}" "$PGCTL" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://ferry:ferry@127.0.0.1:$port/postgres" > "$dir/url"
cat "$dir/url"

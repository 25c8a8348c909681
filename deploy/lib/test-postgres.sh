#!/usr/bin/env bash
# A throwaway PostgreSQL for the integration tests: its own cluster in DIR, owned by the
# 'postgres' system user (installed with the server package), listening on 127.0.0.1 only,
# password authentication for role 'safeflow_test'. Prints the libpq DSN on start.
#   deploy/lib/test-postgres.sh start DIR [PORT]   -> prints the DSN
#   deploy/lib/test-postgres.sh stop DIR
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  port=${3:-}
  if [ -z "$port" ]; then
    port=55432
    while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  password=$(openssl rand -hex 16)
  printf '%s\n' "$password" >"$dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
  chmod 0700 "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C \
    --auth-local=peer --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
CONF
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE safeflow_test LOGIN CREATEDB PASSWORD '$password'" >/dev/null
  echo "host=127.0.0.1 port=$port user=safeflow_test password=$password dbname=postgres"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR [PORT]" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Starts the project's PostGIS database.
#
# With DATABASE_URL set by the caller (the Makefile sets SDI_LOCAL_DB=1 when it supplied the
# default itself), that server is used as it is (it must have PostGIS available); only the
# extension is created. Otherwise a project-local PostgreSQL 15 cluster lives in var/pg,
# listening on 127.0.0.1:${SDI_PGPORT:-5433} (not 5432, so it never collides with a Debian
# cluster), with a superuser role `sdi` (password `sdi`) owning database `sdi`. As root the
# cluster runs as the `postgres` system user, because initdb refuses root.
#
#   scripts/db.sh start | stop | status
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PGBIN=/usr/lib/postgresql/15/bin
PORT=${SDI_PGPORT:-5433}
DATA=$ROOT/var/pg
SOCK=$ROOT/var/pgrun
LOG=$ROOT/var/pg.log

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_local() {
  mkdir -p "$ROOT/var" "$SOCK"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DATA" "$SOCK"
    as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  [ "$(id -u)" -eq 0 ] && { touch "$LOG"; chown postgres:postgres "$LOG" "$SOCK"; }
  if ! as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
      -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_connections=200" >/dev/null
  fi
  psql_local() { as_owner "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
  if [ "$(psql_local -c "SELECT 1 FROM pg_roles WHERE rolname='sdi'")" != "1" ]; then
    psql_local -c "CREATE ROLE sdi LOGIN SUPERUSER PASSWORD 'sdi'"
  fi
  if [ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname='sdi'")" != "1" ]; then
    psql_local -c "CREATE DATABASE sdi OWNER sdi"
  fi
  psql_local -d sdi -c "CREATE EXTENSION IF NOT EXISTS postgis"
  echo "db: PostGIS on 127.0.0.1:$PORT (data in var/pg, log in var/pg.log)"
}

case "${1:-start}" in
  start)
    if [ -n "${DATABASE_URL:-}" ] && [ "${SDI_LOCAL_DB:-}" != "1" ]; then
      echo "db: using DATABASE_URL (not starting a local cluster)"
      .venv/bin/python scripts/ensure_postgis.py
    else
      start_local
    fi ;;
  stop) as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast stop ;;
  status) as_owner "$PGBIN/pg_ctl" -D "$DATA" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

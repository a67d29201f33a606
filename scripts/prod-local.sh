#!/usr/bin/env bash
# The production topology of docker-compose.yml, started locally without Docker:
#
#   nginx :PROD_HTTP_PORT ──► gunicorn :PROD_WEB_PORT (DEBUG off, JSON logs, /metrics)
#     └─ /tiles/ ─► granian :PROD_TILES_PORT (deploy/tiles-server.sh: the same application)
#                  both ──► PostgreSQL 15 primary :PROD_PG_PORT   (WAL archived)
#                                 │     └─ streaming replication ─► replica :PROD_REPLICA_PORT
#                                 └─► Redis :PROD_REDIS_PORT (cache, tiles)
#
#   scripts/prod-local.sh start | stop | status | env
#
# State lives in $PROD_DIR (default var/prod): both clusters, the WAL archive, media, logs,
# the generated secret key. Ports default to 8180/8181/8182/5541/5542/6391 (never 5433/8000). A
# second `start` reuses what exists (data included) and starts only what is down. `env` prints
# the environment the web processes run with (source it to run manage.py against the stack).
# As root, PostgreSQL runs as `postgres` and nginx's workers as `www-data`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROD_DIR=$(realpath -m "${PROD_DIR:-$ROOT/var/prod}")
HTTP_PORT=${PROD_HTTP_PORT:-8180}
WEB_PORT=${PROD_WEB_PORT:-8181}
TILES_PORT=${PROD_TILES_PORT:-8182}
PG_PORT=${PROD_PG_PORT:-5541}
REPLICA_PORT=${PROD_REPLICA_PORT:-5542}
REDIS_PORT=${PROD_REDIS_PORT:-6391}
WORKERS=${WEB_WORKERS:-4}
PGBIN=/usr/lib/postgresql/15/bin
PRIMARY=$PROD_DIR/pg-primary
REPLICA=$PROD_DIR/pg-replica
ARCHIVE=$PROD_DIR/wal-archive
SOCK=$PROD_DIR/pgrun
LOGS=$PROD_DIR/log
RUN=$PROD_DIR/run
NGINX_RUN=$PROD_DIR/nginx
MEDIA=$PROD_DIR/media
APP_PASSWORD=sdi-prod-local
REPL_PASSWORD=replicator-local

is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
T0=$SECONDS
say() { echo "prod-local [$((SECONDS - T0)) s]: $*"; }

web_env() {
  cat <<EOF
DATABASE_URL=postgres://sdi:$APP_PASSWORD@127.0.0.1:$PG_PORT/sdi
DATABASE_REPLICA_URL=postgres://sdi:$APP_PASSWORD@127.0.0.1:$REPLICA_PORT/sdi
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
DJANGO_SECRET_KEY=$(cat "$PROD_DIR/secret_key")
DJANGO_DEBUG=false
DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
DJANGO_NUM_PROXIES=1
LOG_FORMAT=json
MEDIA_ROOT=$MEDIA
BASEMAP_URL=${BASEMAP_URL-}
WEB_WORKERS=$WORKERS
GUNICORN_BIND=127.0.0.1:$WEB_PORT
TILES_BIND=127.0.0.1:$TILES_PORT
TILES_WORKERS=$WORKERS
EOF
}

run_env() { env $(web_env | xargs) "$@"; }

pg_conf() {  # settings shared by both clusters (the replica inherits postgresql.auto.conf)
  cat <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
max_connections = 200
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
hot_standby_feedback = on
# Point-in-time recovery: every finished WAL segment is copied to the archive (docs/scaling.md).
archive_mode = on
archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'
archive_timeout = 300
EOF
}

start_primary() {
  if [ ! -s "$PRIMARY/PG_VERSION" ]; then
    say "initdb primary"
    mkdir -p "$PRIMARY"; is_root && chown postgres:postgres "$PRIMARY" "$ARCHIVE" "$SOCK"
    as_pg "$PGBIN/initdb" -D "$PRIMARY" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    pg_conf | as_pg tee -a "$PRIMARY/postgresql.conf" >/dev/null
    echo "host replication replicator 127.0.0.1/32 scram-sha-256" | as_pg tee -a "$PRIMARY/pg_hba.conf" >/dev/null
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$PRIMARY" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PRIMARY" -l "$LOGS/pg-primary.log" -w -t 60 -o "-p $PG_PORT" start >/dev/null
  fi
  psql_p() { as_pg "$PGBIN/psql" -h "$SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
  if [ "$(psql_p -c "SELECT 1 FROM pg_roles WHERE rolname='sdi'")" != "1" ]; then
    # The application's role owns its database but is no superuser; PostGIS is created here.
    psql_p -c "CREATE ROLE sdi LOGIN PASSWORD '$APP_PASSWORD'"
    psql_p -c "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$REPL_PASSWORD'"
    psql_p -c "CREATE DATABASE sdi OWNER sdi"
    psql_p -d sdi -c "CREATE EXTENSION IF NOT EXISTS postgis"
    psql_p -c "SELECT pg_create_physical_replication_slot('replica')" >/dev/null
  fi
  # Lets the application see replication state (the router checks the replica is streaming).
  psql_p -c "GRANT pg_read_all_stats TO sdi" 2>/dev/null
}

start_replica() {
  if [ ! -s "$REPLICA/PG_VERSION" ]; then
    say "pg_basebackup replica"
    mkdir -p "$REPLICA"; is_root && chown postgres:postgres "$REPLICA"; chmod 700 "$REPLICA"
    as_pg env PGPASSWORD=$REPL_PASSWORD "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" \
      -U replicator -D "$REPLICA" -X stream -S replica -R -c fast >/dev/null
    # A standby does not archive (the primary does); it must not share the primary's slot.
    printf "archive_mode = off\n" | as_pg tee -a "$REPLICA/postgresql.conf" >/dev/null
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$REPLICA" status >/dev/null 2>&1; then
    # The primary may listen on another port than when the replica was cloned.
    as_pg sed -i -E "s/(primary_conninfo = '.*port=)[0-9]+/\1$PG_PORT/" "$REPLICA/postgresql.auto.conf"
    as_pg "$PGBIN/pg_ctl" -D "$REPLICA" -l "$LOGS/pg-replica.log" -w -t 60 -o "-p $REPLICA_PORT" start >/dev/null
  fi
}

start_redis() {
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    mkdir -p "$PROD_DIR/redis"
    # A cache: no persistence, LRU eviction (the same as the compose service).
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$PROD_DIR/redis" \
      --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" --save "" --appendonly no \
      --maxmemory 256mb --maxmemory-policy allkeys-lru
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

prepare_app() {
  # The one-shot `migrate` service of the compose file: schema, static files, city data.
  say "migrate, collectstatic, load_city, compute_indicators"
  local args=()
  # Messages are compiled by make; collected static files are reused when present.
  [ -f "$ROOT/staticfiles/admin/css/base.css" ] && [ "${PROD_COLLECTSTATIC:-}" != 1 ] && args+=(--skip-static)
  [ -n "$(ls locale/pl/LC_MESSAGES/*.mo 2>/dev/null)" ] || run_env .venv/bin/python manage.py compilemessages --ignore=.venv -v 0
  run_env .venv/bin/python manage.py prepare_release "${CITY:-kielce}" "${args[@]}"
}

start_web() {
  if [ -f "$RUN/gunicorn.pid" ] && kill -0 "$(cat "$RUN/gunicorn.pid")" 2>/dev/null; then return; fi
  # The workers share one Prometheus directory (deploy/gunicorn.conf.py empties it on start).
  run_env PROMETHEUS_MULTIPROC_DIR="$RUN/prometheus" .venv/bin/gunicorn -c deploy/gunicorn.conf.py sdi.wsgi:application \
    --pid "$RUN/gunicorn.pid" --daemon --error-logfile "$LOGS/gunicorn.log" \
    --capture-output
}

start_tiles() {  # the tile service (deploy/tiles-server.sh); nginx sends /tiles/ there
  if [ -f "$RUN/tiles.pid" ] && kill -0 "$(cat "$RUN/tiles.pid")" 2>/dev/null; then return; fi
  # Not through run_env: a function in the background is a subshell, and $! must be granian's
  # own pid (env and setsid exec it) for `stop` to reach it.
  env $(web_env | xargs) PROMETHEUS_MULTIPROC_DIR="$RUN/prometheus-tiles" PYTHON=.venv/bin/python \
    setsid deploy/tiles-server.sh </dev/null >>"$LOGS/tiles.log" 2>&1 &
  echo $! > "$RUN/tiles.pid"
  for _ in $(seq 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$TILES_PORT/healthz" 2>/dev/null && return
    kill -0 "$(cat "$RUN/tiles.pid")" 2>/dev/null || break
    sleep 0.25
  done
  say "the tile service did not start; see $LOGS/tiles.log"; exit 1
}

start_nginx() {
  mkdir -p "$NGINX_RUN" "$PROD_DIR/nginx-cache"
  local user_line=""
  if is_root; then user_line="user www-data;"; chown -R www-data "$PROD_DIR/nginx-cache" "$NGINX_RUN"; fi
  export NGINX_USER_LINE="$user_line" NGINX_RUN_DIR="$NGINX_RUN" NGINX_LOG_DIR="$LOGS" \
    NGINX_LISTEN="127.0.0.1:$HTTP_PORT default_server" SDI_UPSTREAM="127.0.0.1:$WEB_PORT" \
    SDI_TILES_UPSTREAM="127.0.0.1:$TILES_PORT" \
    STATIC_ROOT="$ROOT/staticfiles" NGINX_CACHE_DIR="$PROD_DIR/nginx-cache"
  local vars='${NGINX_USER_LINE} ${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_LISTEN} ${SDI_UPSTREAM} ${SDI_TILES_UPSTREAM} ${STATIC_ROOT} ${NGINX_CACHE_DIR}'
  envsubst "$vars" < deploy/nginx/sdi.conf.template > "$NGINX_RUN/sdi.conf"
  envsubst "$vars" < deploy/nginx/nginx-local.conf.template > "$NGINX_RUN/nginx.conf"
  if [ -f "$NGINX_RUN/nginx.pid" ] && kill -0 "$(cat "$NGINX_RUN/nginx.pid")" 2>/dev/null; then
    nginx -p "$NGINX_RUN" -c "$NGINX_RUN/nginx.conf" -s reload; return
  fi
  nginx -p "$NGINX_RUN" -c "$NGINX_RUN/nginx.conf" -t -q
  nginx -p "$NGINX_RUN" -c "$NGINX_RUN/nginx.conf"
}

wait_ready() {
  local url="http://127.0.0.1:$HTTP_PORT/readyz"
  for _ in $(seq 120); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then say "ready: http://127.0.0.1:$HTTP_PORT/"; return; fi
    sleep 0.5
  done
  say "not ready after 60 s; see $LOGS"; exit 1
}

stop_pid() {  # stop_pid FILE: TERM, wait up to 30 s
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

case "${1:-}" in
  start)
    scripts/bootstrap.sh
    mkdir -p "$PROD_DIR" "$ARCHIVE" "$SOCK" "$LOGS" "$RUN" "$MEDIA"
    [ -s "$PROD_DIR/secret_key" ] || .venv/bin/python -c \
      "import secrets; print(secrets.token_urlsafe(50))" > "$PROD_DIR/secret_key"
    chmod 600 "$PROD_DIR/secret_key"
    if is_root; then chown postgres:postgres "$ARCHIVE" "$SOCK"; touch "$LOGS/pg-primary.log" "$LOGS/pg-replica.log"; chown postgres "$LOGS"/pg-*.log; fi
    say "starting in $PROD_DIR"
    start_primary
    say "primary up"
    start_replica
    say "replica up"
    start_redis
    # Migrate and (re)load when the code's migrations or the city config changed since the
    # last start: a second start after a pull is a deploy.
    release=$(cat */migrations/*.py fixtures/*/*.yaml requirements.txt 2>/dev/null | sha1sum | cut -c1-40)
    if [ "$(cat "$PROD_DIR/.prepared" 2>/dev/null)" != "$release" ]; then
      prepare_app; echo "$release" > "$PROD_DIR/.prepared"
    fi
    say "web, tiles and nginx"
    start_web
    start_tiles
    start_nginx
    wait_ready ;;
  stop)
    [ -f "$NGINX_RUN/nginx.pid" ] && nginx -p "$NGINX_RUN" -c "$NGINX_RUN/nginx.conf" -s quit 2>/dev/null || true
    stop_pid "$RUN/gunicorn.pid"
    stop_pid "$RUN/tiles.pid"
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for d in "$REPLICA" "$PRIMARY"; do
      if [ -s "$d/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$d" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null
      fi
    done
    for _ in $(seq 50); do [ -f "$NGINX_RUN/nginx.pid" ] || break; sleep 0.1; done
    say "stopped" ;;
  status)
    for d in "$PRIMARY" "$REPLICA"; do printf '%s: ' "$(basename "$d")"; as_pg "$PGBIN/pg_ctl" -D "$d" status >/dev/null 2>&1 && echo up || echo down; done
    printf 'redis: '; redis-cli -p "$REDIS_PORT" ping 2>/dev/null || echo down
    printf 'web: '; curl -fsS "http://127.0.0.1:$WEB_PORT/healthz" 2>/dev/null || echo down; echo
    printf 'tiles: '; curl -fsS "http://127.0.0.1:$TILES_PORT/healthz" 2>/dev/null || echo down; echo
    printf 'nginx: '; curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null || echo down; echo ;;
  env) web_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac

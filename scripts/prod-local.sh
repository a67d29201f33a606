#!/usr/bin/env bash
# The production topology of docker-compose.yml, run on this machine without Docker: the compose
# file itself is read and its services started as host processes (ops/compose_local.py says
# how, and what is mapped: ports, paths, users, the images' entrypoints).
#
#   scripts/prod-local.sh start            docker compose up -d (starts what is down; migrate runs)
#   scripts/prod-local.sh stop             docker compose stop (volumes stay)
#   scripts/prod-local.sh status           docker compose ps, with the healthchecks
#   scripts/prod-local.sh env [SERVICE]    a service's environment here (default web)
#   scripts/prod-local.sh run SERVICE ...  docker compose run --rm SERVICE ... (e.g. run backup)
#
# State lives in $PROD_DIR (default var/prod): volumes/ (pgdata, replica-data, wal-archive,
# media, static, backups, nginx-cache), log/<service>.log, run/, and .env with this copy's
# secrets, generated on first start (variables in the environment win over it, as in compose).
# Ports: PROD_HTTP_PORT 8180 (nginx), PROD_WEB_PORT 8181, PROD_TILES_PORT 8182, PROD_PG_PORT
# 5541, PROD_REPLICA_PORT 5542, PROD_REDIS_PORT 6391. Production settings hold here too: send
# requests as the city's balancer would (Host: localhost, X-Forwarded-Proto: https).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  start) scripts/bootstrap.sh; exec .venv/bin/python -m ops.compose_local up ;;
  stop) exec .venv/bin/python -m ops.compose_local down ;;
  status) exec .venv/bin/python -m ops.compose_local ps ;;
  env) exec .venv/bin/python -m ops.compose_local env "${@:2}" ;;
  run) exec .venv/bin/python -m ops.compose_local run "${@:2}" ;;
  *) echo "usage: $0 start|stop|status|env [SERVICE]|run SERVICE [COMMAND...]" >&2; exit 2 ;;
esac

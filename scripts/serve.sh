#!/usr/bin/env bash
# `make run`'s servers: gunicorn in the foreground and one job worker (jobs app, procrastinate)
# beside it. Ctrl-C stops both: gunicorn at once, the worker after its running jobs finish
# (JOBS_SHUTDOWN_SECONDS at most; a job still running then is rolled back and reported
# interrupted).
set -euo pipefail
cd "$(dirname "$0")/.."

# Its own session: the terminal's Ctrl-C reaches gunicorn, and the worker gets exactly one
# SIGTERM from here (a second signal would make procrastinate stop its jobs mid-way).
setsid .venv/bin/python manage.py procrastinate worker &
worker=$!
stop_worker() {
  if kill -0 "$worker" 2>/dev/null; then
    echo "stopping the job worker (running jobs get ${JOBS_SHUTDOWN_SECONDS:-20} s to finish)"
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
  fi
}
trap stop_worker EXIT
trap 'exit 130' INT TERM HUP

.venv/bin/gunicorn sdi.wsgi:application --bind "127.0.0.1:${PORT:-8000}" \
  --workers "${WEB_WORKERS:-3}" --access-logfile - --timeout 60 --no-control-socket
